"""Import the authors' published tinyRSNN checkpoints (stork state dicts, float16) as RSNN modules."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
from torch import Tensor

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output
from rsnn_decoding.models import ARCHITECTURE
from rsnn_decoding.network.config import BIG_HEADS, TINY_HEADS, big_config, tiny_config
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


# ----------------------------------------------------------------------------- both released models

# The authors' (stork) key layout. The hidden population (group2) and every readout group
# (group3 .. group7) are stored under their own name and again as the src / dst of each
# connection (the same tensors). tinyRSNN: one head (con3, group3, also stored as output_group);
# bigRSNN: five heads con3 .. con7 in the order of network.config.BIG_HEADS.
_HIDDEN_KEYS = (
    ("group2.mem_param", "p_mem"), ("group2.syn_param", "p_syn"),
    ("con1.dst.mem_param", "p_mem"), ("con1.dst.syn_param", "p_syn"),
    ("con1.op.weight", "fc_in"),
    ("con2.src.mem_param", "p_mem"), ("con2.src.syn_param", "p_syn"),
    ("con2.dst.mem_param", "p_mem"), ("con2.dst.syn_param", "p_syn"),
    ("con2.op.weight", "fc_rec"),
)
BIG_FIRST_HEAD, BIG_N_HEADS = 3, 5


def _head_keys(k: int) -> tuple[tuple[str, str], ...]:
    """(key, role) of readout head group k / connection con k."""
    return (
        (f"group{k}.mem_param_readout", "p_mem_out"), (f"group{k}.syn_param_readout", "p_syn_out"),
        (f"con{k}.src.mem_param", "p_mem"), (f"con{k}.src.syn_param", "p_syn"),
        (f"con{k}.dst.mem_param_readout", "p_mem_out"), (f"con{k}.dst.syn_param_readout", "p_syn_out"),
        (f"con{k}.op.weight", "fc_out"),
    )


def key_layout(model: str) -> list[tuple[str, str, int]]:
    """(key, role, head index) of every key of a released model, in the authors' order."""
    keys = [(key, role, -1) for key, role in _HIDDEN_KEYS]
    n_heads = 1 if model == "tinyRSNN" else BIG_N_HEADS
    for head in range(n_heads):
        keys += [(key, role, head) for key, role in _head_keys(BIG_FIRST_HEAD + head)]
    if model == "tinyRSNN":
        keys += [("output_group.mem_param_readout", "p_mem_out", 0),
                 ("output_group.syn_param_readout", "p_syn_out", 0)]
    return keys


def _role_shape(role: str, hidden: int, n_inputs: int) -> tuple[int, ...]:
    """Shape of one stored tensor of a role (readout roles are per head: 2 units)."""
    return {"fc_in": (hidden, n_inputs), "fc_rec": (hidden, hidden), "fc_out": (2, hidden),
            "p_mem": (hidden,), "p_syn": (hidden,), "p_mem_out": (2,), "p_syn_out": (2,)}[role]


def released_model_of(p: Path, sd: dict[str, Tensor]) -> str:
    """Which released model a state dict holds, told from its keys: tinyRSNN or bigRSNN."""
    heads = [k for k in range(BIG_FIRST_HEAD, BIG_FIRST_HEAD + BIG_N_HEADS) if f"con{k}.op.weight" in sd]
    if heads == [BIG_FIRST_HEAD] and "output_group.mem_param_readout" in sd:
        return "tinyRSNN"
    if len(heads) == BIG_N_HEADS:
        return "bigRSNN"
    if "con1.op.weight" not in sd:
        raise UserError(f"{p}: key 'con1.op.weight' missing; not a released tinyRSNN or bigRSNN checkpoint")
    missing = "output_group.mem_param_readout" if heads == [BIG_FIRST_HEAD] else next(
        f"con{k}.op.weight" for k in range(BIG_FIRST_HEAD, BIG_FIRST_HEAD + BIG_N_HEADS) if k not in heads)
    raise UserError(f"{p}: key {missing!r} missing; readout heads {[f'con{k}' for k in heads]} are neither "
                    "tinyRSNN (con3 and output_group) nor bigRSNN (con3 .. con7)")


def _check_layout(p: Path, sd: dict[str, Tensor], model: str) -> tuple[int, int, torch.dtype]:
    """Every key of the layout present with its shape and one float dtype; (n_inputs, hidden, dtype)."""
    w_in = sd["con1.op.weight"]
    if w_in.dim() != 2:
        raise UserError(f"{p}: key 'con1.op.weight' has shape {tuple(w_in.shape)}, expected (hidden, channels)")
    hidden, n_inputs = (int(s) for s in w_in.shape)
    if model == "tinyRSNN" and hidden != tiny_config().hidden:
        raise UserError(f"{p}: key 'con1.op.weight' has {hidden} hidden units, tinyRSNN has "
                        f"{tiny_config().hidden}; not a released tinyRSNN checkpoint")
    for key, role, _ in key_layout(model):
        if key not in sd:
            raise UserError(f"{p}: key {key!r} missing; not a released {model} checkpoint")
        shape = _role_shape(role, hidden, n_inputs)
        if tuple(sd[key].shape) != shape:
            raise UserError(f"{p}: key {key!r} has shape {tuple(sd[key].shape)}, expected {shape} "
                            f"({model}, {hidden} hidden units, {n_inputs} channels)")
    dtypes = {sd[key].dtype for key, _, _ in key_layout(model)}
    if len(dtypes) != 1 or not next(iter(dtypes)).is_floating_point:
        raise UserError(f"{p}: key 'con1.op.weight' and the others have dtypes {sorted(map(str, dtypes))}; "
                        "expected one float dtype")
    return n_inputs, hidden, next(iter(dtypes))


def _state_dict_of(sd: dict[str, Tensor], model: str) -> dict[str, Tensor]:
    """The RSNN state dict of a released state dict (readout heads concatenated head-major)."""
    heads = range(1 if model == "tinyRSNN" else BIG_N_HEADS)
    first = [f"con{BIG_FIRST_HEAD + h}" for h in heads]
    groups = [f"group{BIG_FIRST_HEAD + h}" for h in heads]
    return {
        "fc_in.weight": sd["con1.op.weight"],
        "fc_rec.weight": sd["con2.op.weight"],
        "fc_out.weight": torch.cat([sd[f"{c}.op.weight"] for c in first]),
        "p_mem": sd["group2.mem_param"],
        "p_syn": sd["group2.syn_param"],
        "p_mem_out": torch.cat([sd[f"{g}.mem_param_readout"] for g in groups]),
        "p_syn_out": torch.cat([sd[f"{g}.syn_param_readout"] for g in groups]),
    }


def load_released(path: str | os.PathLike, expect_model: str | None = None, expect_inputs: int | None = None,
                  engine: str = "fast") -> RSNN:
    """A released tinyRSNN or bigRSNN checkpoint (told from its keys) -> RSNN in the stored dtype."""
    p = Path(path)
    sd = _read_state_dict(p)
    model_name = released_model_of(p, sd)
    if expect_model is not None and ARCHITECTURE.get(expect_model, expect_model) != model_name:
        key = "con4.op.weight" if model_name == "bigRSNN" else "output_group.mem_param_readout"
        raise UserError(f"{p}: holds a released {model_name} (key {key!r}), expected "
                        f"{ARCHITECTURE.get(expect_model, expect_model)}; use the {expect_model} checkpoint")
    n_inputs, hidden, dtype = _check_layout(p, sd, model_name)
    if expect_inputs is not None and n_inputs != int(expect_inputs):
        raise UserError(f"{p}: key 'con1.op.weight' has {n_inputs} input channels, the data has "
                        f"{expect_inputs}; use a checkpoint of the same monkey")
    cfg = tiny_config() if model_name == "tinyRSNN" else big_config(hidden=hidden)
    model = RSNN(n_inputs, cfg, engine=engine).to(dtype)
    model.load_state_dict(_state_dict_of(sd, model_name))
    model.eval()
    return model


def released_state_dict(model: RSNN) -> dict[str, Tensor]:
    """A project RSNN (tinyRSNN or bigRSNN heads) as a state dict in the authors' key layout."""
    if model.cfg.heads == TINY_HEADS and model.hidden_size == tiny_config().hidden:
        name = "tinyRSNN"
    elif model.cfg.heads == BIG_HEADS:
        name = "bigRSNN"
    else:
        raise ValueError(f"released_state_dict: heads {model.cfg.heads} / hidden {model.hidden_size} "
                         "are neither tinyRSNN's nor bigRSNN's")
    own = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    per_role = {
        "fc_in": lambda h: own["fc_in.weight"], "fc_rec": lambda h: own["fc_rec.weight"],
        "p_mem": lambda h: own["p_mem"], "p_syn": lambda h: own["p_syn"],
        "fc_out": lambda h: own["fc_out.weight"][2 * h: 2 * h + 2].clone(),
        "p_mem_out": lambda h: own["p_mem_out"][2 * h: 2 * h + 2].clone(),
        "p_syn_out": lambda h: own["p_syn_out"][2 * h: 2 * h + 2].clone(),
    }
    cache: dict[tuple[str, int], Tensor] = {}  # duplicated keys hold the same tensor, as in the authors' files
    out: dict[str, Tensor] = {}
    for key, role, head in key_layout(name):
        slot = (role, head if role in ("fc_out", "p_mem_out", "p_syn_out") else -1)
        if slot not in cache:
            cache[slot] = per_role[role](max(head, 0))
        out[key] = cache[slot]
    return out


def save_released(path: str | os.PathLike, model: RSNN) -> None:
    """Write a project RSNN in the authors' released layout (state dict only), atomically."""
    with atomic_output(path) as tmp:
        torch.save(released_state_dict(model), tmp)
