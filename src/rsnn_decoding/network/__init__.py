"""Network stage: model config, pure step functions, the nn.Module, dropout masks, the fast engine."""
