"""The workflow's training stages (METHOD.md section 4): pretraining on a monkey's sessions, fine-tuning on one."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from rsnn_decoding.data.preprocess import load_preprocessed
from rsnn_decoding.data.windows import WindowSet, window_set
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import write_json
from rsnn_decoding.network.config import ModelConfig
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.runtime import resolve_device
from rsnn_decoding.training import checkpoint
from rsnn_decoding.training.config import TrainConfig
from rsnn_decoding.training.init import fluctuation_init
from rsnn_decoding.training.loop import fit

LOGGER = logging.getLogger("rsnn_decoding.train")

def _load_sessions(paths: list[str | os.PathLike]) -> list[Any]:
    """Load preprocessed sessions (UserError via data.load_preprocessed for bad files)."""
    return [load_preprocessed(p) for p in paths]


def split_windows(pres: list[Any], split: str, cfg: TrainConfig) -> WindowSet:
    """Windows of a split over sessions in order, gathered at batch time from the sessions' spike arrays."""
    return window_set(pres, split, window=cfg.window, offsets=cfg.offsets)


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
                                         "val_r2_y", "loss_total", "hidden_rate_hz")}


def _history_doc(stage: str, model: RSNN, seed: int, sessions: list[str], cfg: TrainConfig,
                 history: list[dict[str, float]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON document of a training stage's history."""
    doc = {"stage": stage, "model": model.cfg.name, "seed": int(seed), "sessions": sessions,
           "train_config": cfg.to_dict(), "model_config": model.cfg.to_dict(), "epochs": history}
    doc.update(extra or {})
    return doc


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
    if len(train) == 0:
        raise UserError(f"{session_h5s[0]}: no {train_cfg.window}-step training windows; use longer sessions")
    torch.manual_seed(int(seed))
    model = RSNN(n_inputs, model_cfg, engine=engine)
    init = fluctuation_init(model, train, train_cfg.sigma_u, train_cfg.ff_scale, train_cfg.rec_scale)
    LOGGER.info("pretrain %s %s seed %d: %d sessions, %d train / %d val windows, nu %.2f Hz, device %s",
                model_cfg.name, monkey, seed, len(pres), len(train), len(val),
                init["nu_hz"], dev)
    sessions = [p.session for p in pres]
    history = fit(model, train, val, train_cfg, seed=seed, device=dev, state_path=state_path,
                  context=f"pretrain {model_cfg.name} seed {seed} on {', '.join(sessions)}")
    model.cpu()
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
                model.cfg.name, pre.session, seed, len(train), len(val), dev)
    history = fit(model, train, val, train_cfg, seed=seed, device=dev, state_path=state_path,
                  context=f"finetune {model.cfg.name} seed {seed} on {pre.session}")
    model.cpu()
    extra = {"pretrained": str(pretrained_checkpoint), "pretrained_sessions": meta.get("sessions", []),
             "train_config": train_cfg.to_dict()}
    checkpoint.save(out_checkpoint, model, model_name=model.cfg.name, monkey=pre.monkey, seed=seed,
                    stage="finetune", sessions=[pre.session], data_sha256={pre.session: pre.sha256},
                    metrics=_last_metrics(history), extra=extra)
    write_json(out_history, _history_doc("finetune", model, seed, [pre.session], train_cfg, history, extra))
    Path(state_path).unlink(missing_ok=True)  # outputs are complete: the epoch checkpoint is no longer needed
