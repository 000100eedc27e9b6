"""A quick learning check: train one model on one session and report R2 on its continuous test sequence."""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import torch
from torch import Tensor

from rsnn_decoding.fsutil import write_json
from rsnn_decoding.metrics import r2_per_output
from rsnn_decoding.network.config import config_for
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.runtime import resolve_device
from rsnn_decoding.training.config import TrainConfig
from rsnn_decoding.training.init import fluctuation_init
from rsnn_decoding.training.loop import fit
from rsnn_decoding.training.stages import _load_sessions, split_windows


@torch.no_grad()
def predict_sequence(model: RSNN, spikes: Tensor, device: torch.device) -> Tensor:
    """Prediction (T, 2) of one continuous sequence spikes (T, C) in eval mode."""
    model.eval()
    return model(spikes[None].to(device=device, dtype=model.dtype))[0].cpu()


def sequence_r2(y: Tensor, target: Tensor) -> float:
    """R2 over a whole sequence: mean over x and y of 1 - SSR/SST."""
    return float(r2_per_output(target, y).mean())


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
    dev = resolve_device(device)
    (pre,) = _load_sessions([session_h5])
    model_cfg = config_for(model_name, **({"hidden": hidden} if hidden else {}))
    cfg = TrainConfig.for_model(model_name, epochs=epochs, t_max=epochs)
    train = split_windows([pre], "train", cfg)
    val = split_windows([pre], "val", cfg)
    torch.manual_seed(seed)
    model = RSNN(int(pre.spikes.shape[1]), model_cfg, engine=engine)
    fluctuation_init(model, train, cfg.sigma_u, cfg.ff_scale, cfg.rec_scale)
    t0 = time.perf_counter()
    history = fit(model, train, val, cfg, seed=seed, device=dev)
    test_idx = torch.as_tensor(pre.test_index, dtype=torch.long)
    spikes = torch.as_tensor(pre.spikes)[test_idx]
    target = torch.as_tensor(pre.velocity)[test_idx].float()
    y = predict_sequence(model, spikes, dev)
    train_mean = train.targets().reshape(-1, 2).mean(dim=0)
    const = sequence_r2(train_mean.expand_as(target), target)
    return {"model": model_name, "hidden": model_cfg.hidden, "epochs": epochs, "seed": seed,
            "train_windows": len(train), "test_steps": int(test_idx.numel()),
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
