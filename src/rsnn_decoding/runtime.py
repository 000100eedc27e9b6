"""Where and how the computation runs: the torch device of a `device` config value, thread counts."""

from __future__ import annotations

from typing import Any

from rsnn_decoding.errors import UserError


def resolve_device(name: Any = "auto") -> Any:
    """Map a `device` config value (auto | cpu | cuda) to a torch.device; a torch.device passes through."""
    import torch

    if isinstance(name, torch.device):
        return name
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("config key 'device': cuda requested but no CUDA device is available; use auto or cpu")
    if name not in ("cpu", "cuda"):
        raise UserError(f"config key 'device': {name!r} is not one of auto, cpu, cuda")
    return torch.device(name)


def set_threads(threads: int) -> None:
    """Set torch's and numba's intra-op thread counts (from the rule's `threads`)."""
    import torch

    torch.set_num_threads(max(1, int(threads)))
    try:
        import numba

        numba.set_num_threads(min(max(1, int(threads)), numba.config.NUMBA_NUM_THREADS))
    except ImportError:  # numba is optional for the torch-only paths
        pass
