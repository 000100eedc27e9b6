"""Training stage: initialisation, loss, the resumable loop, pretraining and fine-tuning, pruning, checkpoints."""
