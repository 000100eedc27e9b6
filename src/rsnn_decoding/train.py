"""Training (SPEC sections 3-4): fluctuation-driven init, loss, R2 metric, resumable epoch loop,
and the `pretrain` / `finetune` entry points used by the workflow."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from . import checkpoint
from .errors import UserError
from .fsutil import atomic_output, write_json
from .model import RSNN, ModelConfig
from .optim import SMORMS3

LOGGER = logging.getLogger("rsnn_decoding.train")
STATE_FORMAT = "rsnn_decoding/train-state-1"
BASE_CHANNELS = 96  # channels 0..95 define the input rate nu (SPEC 3)


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training stage (SPEC section 4)."""

    epochs: int
    t_max: int
    lr: float = 2e-3
    batch_size: int = 250
    window: int = 500
    offsets: tuple[int, ...] = (0, 100, 200, 300, 400)
    sigma_u: float = 0.5
    ff_scale: float = 0.9
    rec_scale: float = 0.1
    lower_reg_strength: float = 100.0
    lower_reg_threshold: float = 1e-3
    upper_reg_strength: float = 0.01
    upper_reg_threshold: float = 10.0
    eps: float = 1e-16

    def __post_init__(self) -> None:
        """Normalise offsets to a tuple of ints and check the values."""
        object.__setattr__(self, "offsets", tuple(int(o) for o in self.offsets))
        if self.epochs < 1 or self.t_max < 1:
            raise ValueError(f"TrainConfig: epochs and t_max must be >= 1, got {self.epochs}, {self.t_max}")
        if self.batch_size < 1 or self.window < 1 or not self.offsets:
            raise ValueError("TrainConfig: batch_size, window must be >= 1 and offsets non-empty")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (offsets as a list)."""
        d = dataclasses.asdict(self)
        d["offsets"] = list(self.offsets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict (unknown keys are an error)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def for_model(cls, model_name: str, epochs: int, t_max: int, **overrides: Any) -> TrainConfig:
        """Paper settings for a model id: upper regularizer 0.01 for tinyRSNN, 0 for bigRSNN."""
        strength = {"tinyRSNN": 0.01, "bigRSNN": 0.0}
        if model_name not in strength:
            raise ValueError(f"unknown model {model_name!r}")
        kw: dict[str, Any] = {"upper_reg_strength": strength[model_name]}
        kw.update(overrides)
        return cls(epochs=epochs, t_max=t_max, **kw)


def resolve_device(name: str | torch.device) -> torch.device:
    """'auto' -> cuda if available else cpu (config.resolve_device); torch.device passes through."""
    if isinstance(name, torch.device):
        return name
    from .config import resolve_device as _resolve

    return _resolve(str(name))


# ----------------------------------------------------------------------------- initialisation


def input_rate_hz(x: Tensor, dt: float = 0.004, channels: slice = slice(0, BASE_CHANNELS)) -> float:
    """Mean firing rate (Hz) per channel of the given channels over training windows x (n, T, C)."""
    if x.dim() != 3 or x.shape[0] == 0:
        raise ValueError(f"expected non-empty windows (n, T, C), got {tuple(x.shape)}")
    sel = x[..., channels]
    n_ch = sel.shape[-1]
    if n_ch == 0:
        raise ValueError(f"no channels selected by {channels} in windows with {x.shape[-1]} channels")
    total = float(sel.sum(dtype=torch.float64))
    duration = x.shape[1] * dt
    return total / x.shape[0] / duration / n_ch


def loco_column_ratio(x: Tensor, dt: float = 0.004) -> float:
    """Rate of channels 96..191 divided by the rate of channels 0..95 (Loco input scaling)."""
    base = input_rate_hz(x, dt, slice(0, BASE_CHANNELS))
    extra = input_rate_hz(x, dt, slice(BASE_CHANNELS, None))
    return extra / base


def psp_kernel(dt: float, tau_mem: float, tau_syn: float, length: int | None = None) -> list[float]:
    """PSP kernel k_0 = 0, k_{i+1} = a_m k_i + (1 - a_m) c_i, c_{i+1} = a_s c_i, c_0 = 1 (SPEC 3)."""
    if length is None:
        length = int(round(10.0 * tau_mem / dt))
    a_m, a_s = math.exp(-dt / tau_mem), math.exp(-dt / tau_syn)
    k, c, out = 0.0, 1.0, []
    for _ in range(length):
        out.append(k)
        k, c = a_m * k + (1.0 - a_m) * c, a_s * c
    return out


def psp_epsilon_hat(dt: float, tau_mem: float, tau_syn: float, length: int | None = None) -> float:
    """epsilon_hat = dt * sum k^2 over the PSP kernel (times in seconds; default length 10 tau_mem / dt)."""
    return dt * sum(v * v for v in psp_kernel(dt, tau_mem, tau_syn, length))


def init_sigmas(
    model: RSNN, nu: float, sigma_u: float, ff_scale: float, rec_scale: float
) -> tuple[float, float]:
    """Fluctuation-driven standard deviations (input, recurrent) for input rate nu (Hz)."""
    dt = model.cfg.dt_ms / 1000.0
    eps_hat = psp_epsilon_hat(dt, model.cfg.tau_mem_ms / 1000.0, model.cfg.tau_syn_ms / 1000.0)
    n_in, n_hid = model.fc_in.in_features, model.fc_rec.in_features
    var_ff = ff_scale * sigma_u**2 / (n_in * nu * eps_hat)
    var_rec = rec_scale * sigma_u**2 / (n_hid * nu * eps_hat)
    return math.sqrt(var_ff), math.sqrt(var_rec)


def fluctuation_init(
    model: RSNN,
    x: Tensor,
    sigma_u: float = 0.5,
    ff_scale: float = 0.9,
    rec_scale: float = 0.1,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Centred fluctuation-driven init of fc_in, fc_rec (N(0, sigma^2)) and fc_out (N(0,1)/sqrt(H))."""
    dt = model.cfg.dt_ms / 1000.0
    nu = input_rate_hz(x, dt)
    if not nu > 0:
        raise UserError("training data: channels 0..95 contain no spikes; check the preprocessed session")
    sigma_ff, sigma_rec = init_sigmas(model, nu, sigma_u, ff_scale, rec_scale)
    info = {"nu_hz": nu, "sigma_ff": sigma_ff, "sigma_rec": sigma_rec}
    with torch.no_grad():
        model.fc_in.weight.normal_(0.0, sigma_ff, generator=generator)
        if model.fc_in.in_features > BASE_CHANNELS:
            ratio = loco_column_ratio(x, dt)
            if not ratio > 0:
                raise UserError("training data: channels 96.. contain no spikes; check the preprocessed session")
            model.fc_in.weight[:, BASE_CHANNELS:] /= ratio
            info["loco_ratio"] = ratio
        model.fc_rec.weight.normal_(0.0, sigma_rec, generator=generator)
        model.fc_out.weight.normal_(0.0, 1.0, generator=generator)
        model.fc_out.weight /= math.sqrt(model.fc_out.in_features)
    return info


# ----------------------------------------------------------------------------- loss and metric


def loss_fn(y: Tensor, target: Tensor, spike_counts: Tensor, cfg: TrainConfig) -> tuple[Tensor, dict[str, float]]:
    """RMSE over batch x time x 2 plus lower / upper activity regularizers (SPEC 4)."""
    rmse = torch.sqrt(torch.mean((y - target) ** 2))
    lower = cfg.lower_reg_strength * torch.mean(torch.relu(cfg.lower_reg_threshold - spike_counts) ** 2)
    upper = cfg.upper_reg_strength * torch.mean(
        torch.relu(spike_counts.mean(dim=1) - cfg.upper_reg_threshold) ** 2
    )
    loss = rmse + lower + upper
    parts = {"rmse": float(rmse.detach()), "lower": float(lower.detach()), "upper": float(upper.detach())}
    return loss, parts


def r2_per_output(y: Tensor, target: Tensor) -> Tensor:
    """1 - SSR/SST per output, SST around the mean over all leading (batch and time) axes."""
    y2 = y.detach().reshape(-1, y.shape[-1]).double()
    t2 = target.detach().reshape(-1, target.shape[-1]).double()
    ssr = ((t2 - y2) ** 2).sum(dim=0)
    sst = ((t2 - t2.mean(dim=0)) ** 2).sum(dim=0)
    return 1.0 - ssr / sst


def batch_r2(y: Tensor, target: Tensor) -> tuple[float, float, float]:
    """Minibatch R2 (mean, x, y), each rounded to 3 decimals (mean of the unrounded x and y)."""
    r = r2_per_output(y, target).tolist()
    return round((r[0] + r[1]) / 2.0, 3), round(r[0], 3), round(r[1], 3)


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
    model: RSNN, cfg: TrainConfig, seed: int, train: tuple[Tensor, Tensor], val: tuple[Tensor, Tensor],
    masks: dict[str, Tensor] | None, device: torch.device,
) -> str:
    """Fingerprint of everything that determines a run: resumption only from a matching state."""
    parts = [
        STATE_FORMAT, repr(sorted(cfg.to_dict().items())), str(int(seed)), device.type,
        repr(sorted(model.cfg.to_dict().items())), model.engine, _model_digest(model),
        _tensor_digest(train[0]), _tensor_digest(train[1]), _tensor_digest(val[0]), _tensor_digest(val[1]),
    ]
    for name in sorted(masks or {}):
        parts.append(name + _tensor_digest(masks[name]))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _save_state(path: Path, payload: dict[str, Any]) -> None:
    """Write an epoch state atomically."""
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)


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


def _train_epoch(
    model: RSNN, opt: SMORMS3, train: tuple[Tensor, Tensor], cfg: TrainConfig, gen: torch.Generator,
    masks: dict[str, Tensor], device: torch.device, epoch: int,
) -> dict[str, float]:
    """One shuffled pass with updates; returns means over minibatches."""
    x_all, y_all = train
    model.train()
    params = dict(model.named_parameters())
    order = torch.randperm(x_all.shape[0], generator=gen)
    sums: dict[str, float] = {}
    batches = _batches(x_all.shape[0], cfg.batch_size, order)
    dt = model.cfg.dt_ms / 1000.0
    for idx in batches:
        xb = x_all[idx].to(device=device, dtype=model.dtype)
        yb = y_all[idx].to(device=device, dtype=model.dtype)
        out = model.run(xb)
        loss, parts = loss_fn(out.y, yb, out.spike_counts, cfg)
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
        for k, v in (("loss", loss_value), ("train_r2", r2), ("train_r2_x", r2x), ("train_r2_y", r2y),
                     ("hidden_rate_hz", rate), *parts.items()):
            sums[k] = sums.get(k, 0.0) + v
    return {k: v / len(batches) for k, v in sums.items()}


@torch.no_grad()
def evaluate_windows(
    model: RSNN, data: tuple[Tensor, Tensor], cfg: TrainConfig, device: torch.device
) -> dict[str, float]:
    """Unshuffled pass in eval mode: mean minibatch loss and R2 (x, y, mean)."""
    x_all, y_all = data
    model.eval()
    sums: dict[str, float] = {}
    batches = _batches(x_all.shape[0], cfg.batch_size)
    for idx in batches:
        xb = x_all[idx].to(device=device, dtype=model.dtype)
        yb = y_all[idx].to(device=device, dtype=model.dtype)
        out = model.run(xb)
        loss, _ = loss_fn(out.y, yb, out.spike_counts, cfg)
        r2, r2x, r2y = batch_r2(out.y, yb)
        for k, v in (("val_loss", float(loss)), ("val_r2", r2), ("val_r2_x", r2x), ("val_r2_y", r2y)):
            sums[k] = sums.get(k, 0.0) + v
    return {k: v / len(batches) for k, v in sums.items()}


def fit(
    model: RSNN,
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor],
    cfg: TrainConfig,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    state_path: str | os.PathLike | None = None,
    grad_masks: dict[str, Tensor] | None = None,
    log: logging.Logger | None = None,
) -> list[dict[str, float]]:
    """Train `model` in place for cfg.epochs (SMORMS3, cosine schedule); resumable via state_path.

    Dropout draws from torch's global RNG (seed it before calling); the shuffle uses its own
    generator seeded with `seed`. `grad_masks` maps parameter names to 0/1 masks multiplied
    into the gradients before every step. Returns the per-epoch history.
    """
    log = log or LOGGER
    device = resolve_device(device)
    if train[0].shape[0] == 0 or val[0].shape[0] == 0:
        raise UserError(
            f"training data: {train[0].shape[0]} training and {val[0].shape[0]} validation windows; "
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
        raise UserError(f"training epoch {len(history) + 1}: parameter {', '.join(bad)} is non-finite before "
                        "training; check the starting checkpoint")
    elapsed: list[float] = []
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        lr = opt.param_groups[0]["lr"]
        rec = {"epoch": epoch}
        rec.update(_train_epoch(model, opt, train, cfg, gen, masks, device, epoch))
        rec.update(evaluate_windows(model, val, cfg, device))
        sched.step()
        rec["lr"] = lr
        rec["seconds"] = time.perf_counter() - t0
        history.append(rec)
        elapsed.append(rec["seconds"])
        if state_file is not None:
            _save_state(state_file, {
                "format": STATE_FORMAT, "key": key, "history": history,
                "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "shuffle_rng": gen.get_state(), "cpu_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            })
        eta = sum(elapsed) / len(elapsed) * (cfg.epochs - epoch)
        log.info("epoch %d/%d loss %.4f train R2 %.3f val R2 %.3f lr %.3g rate %.1f Hz ETA %s",
                 epoch, cfg.epochs, rec["loss"], rec["train_r2"], rec["val_r2"], lr,
                 rec["hidden_rate_hz"], _fmt_seconds(eta))
    return history


# ----------------------------------------------------------------------------- data


def _load_sessions(paths: list[str | os.PathLike]) -> list[Any]:
    """Load preprocessed sessions (UserError via data.load_preprocessed for bad files)."""
    from . import data

    return [data.load_preprocessed(p) for p in paths]


def split_windows(pres: list[Any], split: str, cfg: TrainConfig) -> tuple[Tensor, Tensor]:
    """Windows of a split over sessions concatenated in order; X kept as uint8 (spikes are binary)."""
    from . import data

    xs, ys = [], []
    for pre in pres:
        x, y = data.windows(pre, split, window=cfg.window, offsets=cfg.offsets)
        xs.append(x.to(torch.uint8))
        ys.append(y)
    c = {x.shape[-1] for x in xs}
    if len(c) != 1:
        raise UserError(f"sessions {[p.session for p in pres]}: different channel counts {sorted(c)}; "
                        "pretrain each monkey separately")
    return torch.cat(xs), torch.cat(ys)


def _check_same_monkey(pres: list[Any]) -> tuple[str, int]:
    """Common monkey and channel count of sessions (UserError otherwise)."""
    monkeys = sorted({p.monkey for p in pres})
    chans = sorted({int(p.spikes.shape[1]) for p in pres})
    if len(monkeys) != 1 or len(chans) != 1:
        raise UserError(f"sessions {[p.session for p in pres]}: mixed monkeys {monkeys} or channel counts "
                        f"{chans}; pretrain each monkey on its own sessions")
    return monkeys[0], chans[0]


def _last_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """Last-epoch train/val R2 (train_r2 is the pruning reference)."""
    last = history[-1]
    return {k: float(last[k]) for k in ("train_r2", "train_r2_x", "train_r2_y", "val_r2", "val_r2_x",
                                         "val_r2_y", "loss", "hidden_rate_hz")}


def _history_doc(stage: str, model: RSNN, seed: int, sessions: list[str], cfg: TrainConfig,
                 history: list[dict[str, float]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON document of a training stage's history."""
    doc = {"stage": stage, "model": model.cfg.name, "seed": int(seed), "sessions": sessions,
           "train_config": cfg.to_dict(), "model_config": model.cfg.to_dict(), "epochs": history}
    doc.update(extra or {})
    return doc


# ----------------------------------------------------------------------------- entry points


def pretrain(
    session_h5s: list[str | os.PathLike],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    seed: int,
    out_checkpoint: str | os.PathLike,
    out_history: str | os.PathLike,
    state_path: str | os.PathLike,
    device: str = "auto",
    engine: str = "fast",
) -> None:
    """Pretrain on several sessions of one monkey (windows concatenated in order)."""
    if not session_h5s:
        raise UserError("pretrain: no sessions given; list at least one preprocessed session")
    dev = resolve_device(device)
    pres = _load_sessions(list(session_h5s))
    monkey, n_inputs = _check_same_monkey(pres)
    train = split_windows(pres, "train", train_cfg)
    val = split_windows(pres, "val", train_cfg)
    if train[0].shape[0] == 0:
        raise UserError(f"{session_h5s[0]}: no {train_cfg.window}-step training windows; use longer sessions")
    torch.manual_seed(int(seed))
    model = RSNN(n_inputs, model_cfg, engine=engine)
    init = fluctuation_init(model, train[0], train_cfg.sigma_u, train_cfg.ff_scale, train_cfg.rec_scale)
    LOGGER.info("pretrain %s %s seed %d: %d sessions, %d train / %d val windows, nu %.2f Hz, device %s",
                model_cfg.name, monkey, seed, len(pres), train[0].shape[0], val[0].shape[0],
                init["nu_hz"], dev)
    history = fit(model, train, val, train_cfg, seed=seed, device=dev, state_path=state_path)
    model.cpu()
    sessions = [p.session for p in pres]
    checkpoint.save(out_checkpoint, model, model_name=model_cfg.name, monkey=monkey, seed=seed,
                    stage="pretrain", sessions=sessions, data_sha256={p.session: p.sha256 for p in pres},
                    metrics=_last_metrics(history), extra={"init": init, "train_config": train_cfg.to_dict()})
    write_json(out_history, _history_doc("pretrain", model, seed, sessions, train_cfg, history, {"init": init}))
    Path(state_path).unlink(missing_ok=True)  # outputs are complete: the epoch checkpoint is no longer needed


def finetune(
    pretrained_checkpoint: str | os.PathLike,
    session_h5: str | os.PathLike,
    train_cfg: TrainConfig,
    seed: int,
    out_checkpoint: str | os.PathLike,
    out_history: str | os.PathLike,
    state_path: str | os.PathLike,
    device: str = "auto",
    engine: str = "fast",
) -> None:
    """Fine-tune pretrained weights on one session (fresh optimizer and schedule)."""
    dev = resolve_device(device)
    (pre,) = _load_sessions([session_h5])
    model, meta = checkpoint.load(pretrained_checkpoint, expect_inputs=int(pre.spikes.shape[1]), engine=engine)
    if meta.get("monkey") != pre.monkey:
        raise UserError(f"{pretrained_checkpoint}: pretrained on monkey {meta.get('monkey')!r} but "
                        f"{session_h5} is monkey {pre.monkey!r}; use that monkey's pretrained model")
    train = split_windows([pre], "train", train_cfg)
    val = split_windows([pre], "val", train_cfg)
    torch.manual_seed(int(seed))
    LOGGER.info("finetune %s on %s seed %d: %d train / %d val windows, device %s",
                model.cfg.name, pre.session, seed, train[0].shape[0], val[0].shape[0], dev)
    history = fit(model, train, val, train_cfg, seed=seed, device=dev, state_path=state_path)
    model.cpu()
    extra = {"pretrained": str(pretrained_checkpoint), "pretrained_sessions": meta.get("sessions", []),
             "train_config": train_cfg.to_dict()}
    checkpoint.save(out_checkpoint, model, model_name=model.cfg.name, monkey=pre.monkey, seed=seed,
                    stage="finetune", sessions=[pre.session], data_sha256={pre.session: pre.sha256},
                    metrics=_last_metrics(history), extra=extra)
    write_json(out_history, _history_doc("finetune", model, seed, [pre.session], train_cfg, history, extra))
    Path(state_path).unlink(missing_ok=True)  # outputs are complete: the epoch checkpoint is no longer needed


# ----------------------------------------------------------------------------- learning check


@torch.no_grad()
def predict_sequence(model: RSNN, spikes: Tensor, device: torch.device) -> Tensor:
    """Prediction (T, 2) of one continuous sequence spikes (T, C) in eval mode."""
    model.eval()
    return model(spikes[None].to(device=device, dtype=model.dtype))[0].cpu()


def sequence_r2(y: Tensor, target: Tensor) -> float:
    """R2 over a whole sequence: mean over x and y of 1 - SSR/SST."""
    return float(r2_per_output(y, target).mean())


def learning_check(
    session_h5: str | os.PathLike,
    model_name: str = "tinyRSNN",
    epochs: int = 20,
    seed: int = 1,
    hidden: int | None = None,
    device: str = "auto",
    engine: str = "fast",
) -> dict[str, float]:
    """Train from scratch on one session's train split and report R2 on its continuous test sequence."""
    from .model import config_for

    dev = resolve_device(device)
    (pre,) = _load_sessions([session_h5])
    model_cfg = config_for(model_name, **({"hidden": hidden} if hidden else {}))
    cfg = TrainConfig.for_model(model_name, epochs=epochs, t_max=epochs)
    train = split_windows([pre], "train", cfg)
    val = split_windows([pre], "val", cfg)
    torch.manual_seed(seed)
    model = RSNN(int(pre.spikes.shape[1]), model_cfg, engine=engine)
    fluctuation_init(model, train[0], cfg.sigma_u, cfg.ff_scale, cfg.rec_scale)
    t0 = time.perf_counter()
    history = fit(model, train, val, cfg, seed=seed, device=dev)
    test_idx = torch.as_tensor(pre.test_index, dtype=torch.long)
    spikes = torch.as_tensor(pre.spikes)[test_idx]
    target = torch.as_tensor(pre.velocity)[test_idx].float()
    y = predict_sequence(model, spikes, dev)
    train_mean = train[1].reshape(-1, 2).mean(dim=0)
    const = sequence_r2(train_mean.expand_as(target), target)
    return {"model": model_name, "hidden": model_cfg.hidden, "epochs": epochs, "seed": seed,
            "train_windows": int(train[0].shape[0]), "test_steps": int(test_idx.numel()),
            "final_train_r2": history[-1]["train_r2"], "final_val_r2": history[-1]["val_r2"],
            "test_r2": sequence_r2(y, target), "constant_predictor_test_r2": const,
            "seconds": time.perf_counter() - t0}


def _train_check_cli(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding train-check`."""
    if args.threads:
        torch.set_num_threads(args.threads)
    res = learning_check(args.session, args.model, args.epochs, args.seed, args.hidden, args.device)
    for k, v in res.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    if args.out:
        write_json(args.out, res)
    return 0


def register_cli(subparsers: Any) -> None:
    """Add `train-check`: train one model on a session and report test R2 (a quick learning check)."""
    p = subparsers.add_parser("train-check", help="train a model on one preprocessed session, report test R2")
    p.add_argument("session", help="preprocessed session .h5")
    p.add_argument("--model", default="tinyRSNN", choices=["tinyRSNN", "bigRSNN"])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hidden", type=int, default=None, help="override the hidden size (e.g. a smaller bigRSNN)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--out", default=None, help="also write the numbers to this JSON file")
    p.set_defaults(func=_train_check_cli)
