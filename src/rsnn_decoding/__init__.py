"""Recurrent spiking neural network decoders of finger velocity (Liu et al., BioCAS 2024).

The public names below resolve lazily (PEP 562), so that `import rsnn_decoding.config` (as the
Snakefile does at every parse) imports neither torch nor neurobench.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_PUBLIC = {
    "RSNN": "rsnn_decoding.network.rsnn",
    "tiny_config": "rsnn_decoding.network.config",
    "big_config": "rsnn_decoding.network.config",
    "load_released": "rsnn_decoding.evaluation.released",
    "loss_fn": "rsnn_decoding.training.loss",
    "TrainConfig": "rsnn_decoding.training.config",
    "SMORMS3": "rsnn_decoding.training.optim",
    "static_metrics": "rsnn_decoding.evaluation.neurobench",
    "evaluate_network": "rsnn_decoding.evaluation.neurobench",
    "preprocess_file": "rsnn_decoding.data.preprocess",
    "load_preprocessed": "rsnn_decoding.data.preprocess",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    """Import the module of a public name on first access."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'rsnn_decoding' has no attribute {name!r}")
    return getattr(importlib.import_module(_PUBLIC[name]), name)


def __dir__() -> list[str]:
    """Public names and the module's own attributes."""
    return sorted(set(globals()) | set(_PUBLIC))
