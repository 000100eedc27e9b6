"""The resumable training loop (METHOD.md section 4): SMORMS3, cosine schedule, epoch states for exact resume."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rsnn_decoding.data.windows import TensorWindows, WindowSet, as_windows
from rsnn_decoding.errors import UserError
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.runtime import resolve_device
from rsnn_decoding.training import checkpoint
from rsnn_decoding.training.config import TrainConfig
from rsnn_decoding.training.loss import batch_r2, loss_fn
from rsnn_decoding.training.optim import SMORMS3

LOGGER = logging.getLogger("rsnn_decoding.train")
Windows = WindowSet | TensorWindows
STATE_FORMAT = "rsnn_decoding/train-state-2"  # 2: keyed by the spike arrays and window index


# ----------------------------------------------------------------------------- epoch state


def _model_digest(model: RSNN) -> str:
    """SHA-256 over the model's parameter bytes (identifies the starting weights)."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy())
    return h.hexdigest()


def _tensor_digest(t: Tensor) -> str:
    """SHA-256 of a tensor's bytes (shape included)."""
    h = hashlib.sha256(repr(tuple(t.shape)).encode())
    h.update(t.detach().cpu().contiguous().numpy())
    return h.hexdigest()


def _state_key(
    model: RSNN, cfg: TrainConfig, seed: int, train: Windows, val: Windows,
    masks: dict[str, Tensor] | None, device: torch.device,
) -> str:
    """Fingerprint of everything that determines a run: resumption only from a matching state."""
    parts = [
        STATE_FORMAT, repr(sorted(cfg.to_dict().items())), str(int(seed)), device.type,
        repr(sorted(model.cfg.to_dict().items())), model.engine, _model_digest(model),
        train.digest(), val.digest(),
    ]
    for name in sorted(masks or {}):
        parts.append(name + _tensor_digest(masks[name]))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _save_state(path: Path, payload: dict[str, Any]) -> None:
    """Write an epoch state atomically."""
    checkpoint.save_torch(payload, path)


def _load_state(path: Path) -> dict[str, Any] | None:
    """Read an epoch state; None (with a warning) if unreadable."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable state just means: start over
        LOGGER.warning("%s: unreadable training state (%s); starting from epoch 1", path, exc)
        return None
    if not isinstance(payload, dict) or payload.get("format") != STATE_FORMAT:
        LOGGER.warning("%s: not a training state; starting from epoch 1", path)
        return None
    return payload


def _nonfinite_names(model: RSNN, grads: bool = False) -> list[str]:
    """Names of parameters (or their gradients) holding a non-finite value; one device sync."""
    items = [(n, p.grad if grads else p) for n, p in model.named_parameters()]
    items = [(n, t) for n, t in items if t is not None]
    if not items:
        return []
    flags = torch.stack([torch.isfinite(t).all() for _, t in items]).tolist()
    return [n for (n, _), ok in zip(items, flags, strict=True) if not ok]


def _describe_nonfinite(model: RSNN) -> str:
    """Which parameters or gradients are non-finite, for an error message."""
    names = _nonfinite_names(model)
    if names:
        return f"parameter {', '.join(names)} non-finite"
    names = _nonfinite_names(model, grads=True)
    if names:
        return f"gradient of {', '.join(names)} non-finite"
    return "parameters finite: check the targets and inputs"


def _fmt_seconds(s: float) -> str:
    """Seconds as H:MM:SS."""
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# ----------------------------------------------------------------------------- epoch loop


def _batches(n: int, size: int, order: Tensor | None = None) -> list[Tensor]:
    """Index batches of `size` (last partial batch kept), in `order` or 0..n-1."""
    idx = torch.arange(n) if order is None else order
    return [idx[i : i + size] for i in range(0, n, size)]


def _batch_loss(model: RSNN, data: Windows, idx: Tensor, cfg: TrainConfig, device: torch.device
                ) -> tuple[Tensor, Tensor, Any, Tensor, dict[str, float]]:
    """Forward pass of one minibatch: inputs, targets, network output, loss and its parts."""
    xb, yb = data.gather(idx)
    xb = xb.to(device=device, dtype=model.dtype)
    yb = yb.to(device=device, dtype=model.dtype)
    out = model.run(xb)
    loss, parts = loss_fn(out.y, yb, out.spike_counts, cfg)
    return xb, yb, out, loss, parts


def _train_epoch(
    model: RSNN, opt: SMORMS3, train: Windows, cfg: TrainConfig, gen: torch.Generator,
    masks: dict[str, Tensor], device: torch.device, epoch: int,
) -> dict[str, float]:
    """One shuffled pass with updates; returns means over minibatches (loss_total = rmse + lower + upper)."""
    model.train()
    params = dict(model.named_parameters())
    order = torch.randperm(len(train), generator=gen)
    sums: dict[str, float] = {}
    batches = _batches(len(train), cfg.batch_size, order)
    dt = model.cfg.dt_ms / 1000.0
    for idx in batches:
        xb, yb, out, loss, parts = _batch_loss(model, train, idx, cfg, device)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise UserError(
                f"training epoch {epoch}: loss became non-finite ({_describe_nonfinite(model)}); "
                "lower the learning rate or check the input data"
            )
        r2, r2x, r2y = batch_r2(out.y, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for name, mask in masks.items():
            params[name].grad.mul_(mask)
        opt.step()
        bad = _nonfinite_names(model)
        if bad:
            raise UserError(f"training epoch {epoch}: parameter {', '.join(bad)} became non-finite; "
                            "lower the learning rate or check the input data")
        rate = float(out.spike_counts.detach().mean()) / (xb.shape[1] * dt)
        for k, v in (("loss_total", loss_value), ("train_r2", r2), ("train_r2_x", r2x), ("train_r2_y", r2y),
                     ("hidden_rate_hz", rate), *parts.items()):
            sums[k] = sums.get(k, 0.0) + v
    return {k: v / len(batches) for k, v in sums.items()}


@torch.no_grad()
def evaluate_windows(
    model: RSNN, data: Windows | tuple[Tensor, Tensor], cfg: TrainConfig, device: torch.device
) -> dict[str, float]:
    """Unshuffled pass in eval mode: mean minibatch loss (total and its rmse, lower, upper terms) and R2."""
    data = as_windows(data)
    model.eval()
    sums: dict[str, float] = {}
    batches = _batches(len(data), cfg.batch_size)
    for idx in batches:
        _, yb, out, loss, parts = _batch_loss(model, data, idx, cfg, device)
        r2, r2x, r2y = batch_r2(out.y, yb)
        for k, v in (("val_loss_total", float(loss)), ("val_r2", r2), ("val_r2_x", r2x), ("val_r2_y", r2y),
                     *(("val_" + name, value) for name, value in parts.items())):
            sums[k] = sums.get(k, 0.0) + v
    return {k: v / len(batches) for k, v in sums.items()}


def fit(
    model: RSNN,
    train: Windows | tuple[Tensor, Tensor],
    val: Windows | tuple[Tensor, Tensor],
    cfg: TrainConfig,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    state_path: str | os.PathLike | None = None,
    grad_masks: dict[str, Tensor] | None = None,
    log: logging.Logger | None = None,
    context: str = "",
) -> list[dict[str, float]]:
    """Train `model` in place for cfg.epochs (SMORMS3, cosine schedule); resumable via state_path.

    Dropout draws from torch's global RNG (seed it before calling); the shuffle uses its own
    generator seeded with `seed`. `grad_masks` maps parameter names to 0/1 masks multiplied
    into the gradients before every step. `context` (stage and sessions) prefixes training
    errors. Returns the per-epoch history; wall-clock times go to the log only, so that the
    history (and the files written from it) repeats byte for byte.
    """
    log = log or LOGGER
    device = resolve_device(device)
    train, val = as_windows(train), as_windows(val)
    if len(train) == 0 or len(val) == 0:
        raise UserError(
            f"training data: {len(train)} training and {len(val)} validation windows; "
            f"each split needs at least one {cfg.window}-step window (use a longer session)"
        )
    model.to(device)
    params = dict(model.named_parameters())
    masks = {}
    for name, mask in (grad_masks or {}).items():
        if name not in params or tuple(mask.shape) != tuple(params[name].shape):
            raise ValueError(f"gradient mask {name!r} does not match a parameter of the model")
        masks[name] = mask.to(device=device, dtype=params[name].dtype)
    key = _state_key(model, cfg, seed, train, val, masks, device)
    opt = SMORMS3(model.parameters(), lr=cfg.lr, eps=cfg.eps)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.t_max, eta_min=0.0)
    gen = torch.Generator().manual_seed(int(seed))
    history: list[dict[str, float]] = []
    state_file = Path(state_path) if state_path is not None else None
    if state_file is not None and state_file.exists():
        state = _load_state(state_file)
        if state is not None and state["key"] == key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            gen.set_state(state["shuffle_rng"])
            torch.set_rng_state(state["cpu_rng"])
            if device.type == "cuda" and state.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(state["cuda_rng"], device)
            history = list(state["history"])
            log.info("resuming from %s after epoch %d/%d", state_file, len(history), cfg.epochs)
        elif state is not None:
            log.warning("%s: state of a different run (config, seed, data or start weights); "
                        "starting from epoch 1", state_file)
    bad = _nonfinite_names(model)
    if bad:
        where = f"{context}: " if context else ""
        raise UserError(f"{where}training epoch {len(history) + 1}: parameter {', '.join(bad)} is non-finite before "
                        "training; check the starting checkpoint")
    elapsed: list[float] = []
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        rec = {"epoch": epoch}
        try:
            rec.update(_train_epoch(model, opt, train, cfg, gen, masks, device, epoch))
        except UserError as exc:
            raise UserError(f"{context}: {exc}" if context else str(exc)) from None
        rec.update(evaluate_windows(model, val, cfg, device))
        sched.step()
        rec["lr"] = lr
        history.append(rec)
        elapsed.append(time.perf_counter() - t0)
        if state_file is not None:
            _save_state(state_file, {
                "format": STATE_FORMAT, "key": key, "history": history,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "shuffle_rng": gen.get_state(), "cpu_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            })
        eta = sum(elapsed) / len(elapsed) * (cfg.epochs - epoch)
        log.info("epoch %d/%d loss_total %.4f train R2 %.3f val R2 %.3f lr %.3g rate %.1f Hz %.1f s ETA %s",
                 epoch, cfg.epochs, rec["loss_total"], rec["train_r2"], rec["val_r2"], lr,
                 rec["hidden_rate_hz"], elapsed[-1], _fmt_seconds(eta))
    return history


