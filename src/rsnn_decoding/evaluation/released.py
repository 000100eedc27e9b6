"""Import the authors' published tinyRSNN checkpoints (stork state dicts, float16) as RSNN modules."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from rsnn_decoding.errors import UserError
from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.network.rsnn import RSNN

# stork key -> RSNN parameter name; shapes (H = 64, C inferred from con1.op.weight)
KEY_MAP = {
    "con1.op.weight": "fc_in.weight",
    "con2.op.weight": "fc_rec.weight",
    "con3.op.weight": "fc_out.weight",
    "group2.mem_param": "p_mem",
    "group2.syn_param": "p_syn",
    "group3.mem_param_readout": "p_mem_out",
    "group3.syn_param_readout": "p_syn_out",
}


def _read_state_dict(p: Path) -> dict[str, Tensor]:
    """torch.load a state dict (weights only); UserError if the file is not one."""
    if not p.is_file():
        raise UserError(f"{p}: published checkpoint not found; check the path")
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError) as exc:
        raise UserError(
            f"{p}: not a readable PyTorch state dict ({type(exc).__name__}); use a tinyRSNN-<seed>.pth file"
        ) from exc
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise UserError(f"{p}: not a state dict of tensors; use a published tinyRSNN-<seed>.pth file")
    return sd


def _check_shapes(p: Path, sd: dict[str, Tensor]) -> tuple[int, int]:
    """Validate keys and shapes; return (n_inputs C, hidden H)."""
    for key in KEY_MAP:
        if key not in sd:
            raise UserError(f"{p}: key {key!r} missing; not a published tinyRSNN checkpoint")
    w_in = sd["con1.op.weight"]
    if w_in.dim() != 2:
        raise UserError(f"{p}: con1.op.weight has shape {tuple(w_in.shape)}, expected (H, C)")
    hidden, n_inputs = (int(s) for s in w_in.shape)
    expected = {
        "con2.op.weight": (hidden, hidden),
        "con3.op.weight": (2, hidden),
        "group2.mem_param": (hidden,),
        "group2.syn_param": (hidden,),
        "group3.mem_param_readout": (2,),
        "group3.syn_param_readout": (2,),
    }
    for key, shape in expected.items():
        if tuple(sd[key].shape) != shape:
            raise UserError(
                f"{p}: {key} has shape {tuple(sd[key].shape)}, expected {shape}; "
                "not a published tinyRSNN checkpoint"
            )
    if hidden != tiny_config().hidden:
        raise UserError(f"{p}: hidden size {hidden}, expected {tiny_config().hidden} (tinyRSNN)")
    return n_inputs, hidden


def load(path: str | os.PathLike, engine: str = "fast") -> RSNN:
    """Published tinyRSNN checkpoint -> RSNN in the stored dtype (float16); .float() for float32."""
    p = Path(path)
    sd = _read_state_dict(p)
    n_inputs, _ = _check_shapes(p, sd)
    dtypes = {sd[k].dtype for k in KEY_MAP}
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        raise UserError(f"{p}: tensors have dtypes {sorted(map(str, dtypes))}; expected one float dtype")
    model = RSNN(n_inputs, tiny_config(), engine=engine).to(next(iter(dtypes)))
    model.load_state_dict({name: sd[key] for key, name in KEY_MAP.items()})
    model.eval()
    return model


def load_released(
    path: str | os.PathLike, expect_model: str | None = None, expect_inputs: int | None = None
) -> RSNN:
    """A released network of the authors as the project's RSNN, checked against the expected model and inputs."""
    p = Path(path)
    model = load(p)
    if expect_model is not None and model.cfg.name != expect_model:
        raise UserError(f"{p}: holds a {model.cfg.name} model, expected {expect_model}; "
                        "check the model name in the rule or command")
    if expect_inputs is not None and model.n_inputs != expect_inputs:
        raise UserError(f"{p}: model has {model.n_inputs} input channels but the data has "
                        f"{expect_inputs}; use a checkpoint of the same monkey")
    return model
