"""Evaluation jobs: NeuroBench metrics of one model file on a session, written as the eval JSON; the CLI."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rsnn_decoding import jobinfo
from rsnn_decoding.data.preprocess import load_preprocessed
from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation.loading import load_any, load_model_file
from rsnn_decoding.evaluation.neurobench import (
    BATCH_STEPS,
    DEFAULT_MODE,
    EVAL_MODES,
    STATIC_KEYS,
    MetricError,
    benchmark_network,
    eval_sequence,
    evaluate_network,
    neurobench_r2,
)
from rsnn_decoding.evaluation.predictions import save_predictions
from rsnn_decoding.evaluation.ridge import load_ridge, ridge_footprint, ridge_macs
from rsnn_decoding.fsutil import atomic_output, sha256_file, write_json
from rsnn_decoding.metrics import r2_per_output
from rsnn_decoding.models import architecture

log = logging.getLogger("rsnn_decoding.evaluate")

EVAL_KEYS = (
    "r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity",
    "dense", "macs", "acs", "checkpoint_sha256", "session", "model", "seed", "evaluation_seconds",
    "evaluation_mode", "device", "dtype",
)


def evaluate_checkpoint(checkpoint_path: str | os.PathLike, session_h5: str | os.PathLike | None = None,
                        static_only: bool = False, batch_steps: int = BATCH_STEPS,
                        expect_model: str | None = None, predictions_out: str | os.PathLike | None = None,
                        mode: str = DEFAULT_MODE, device: str | torch.device | None = None) -> dict[str, Any]:
    """Evaluate any network checkpoint (ours or published) on a session's test sequence."""
    p = Path(checkpoint_path)
    if session_h5 is None and not static_only:
        raise UserError(f"{p}: no session given; pass --session results/preprocessed/<session>.h5 "
                        "or --static-only")
    pre = load_preprocessed(session_h5) if session_h5 is not None else None
    model, meta = load_any(p, expect_model, None if pre is None else pre.n_channels)
    try:
        if static_only:
            metrics = evaluate_network(model, pre, batch_steps=batch_steps, static_only=True, device=device)
        else:
            metrics, preds = benchmark_network(model, pre, batch_steps, mode, device)
    except MetricError as exc:
        raise UserError(f"{p}: {exc}; check the model and the neurobench installation") from None
    sessions = meta.get("sessions") or []
    identity = {
        "checkpoint_sha256": sha256_file(p),
        "session": pre.session if pre is not None else (sessions[0] if len(sessions) == 1 else None),
        "model": meta.get("model", model.cfg.name),
        "seed": meta.get("seed"),
    }
    if static_only:
        return {**{k: metrics[k] for k in STATIC_KEYS}, **identity,
                "evaluation_seconds": metrics["evaluation_seconds"]}
    if predictions_out is not None:
        save_predictions(predictions_out, preds.numpy(), eval_sequence(pre)[1].numpy(), pre.dt)
    out = {**metrics, **identity}
    return {k: out[k] for k in EVAL_KEYS}


def evaluate_ridge(ridge_json: str | os.PathLike, session_h5: str | os.PathLike,
                   batch_steps: int = BATCH_STEPS, predictions_out: str | os.PathLike | None = None
                   ) -> dict[str, Any]:
    """Ridge metrics on the test sequence: R2 by NeuroBench's metric, compute from its coefficients."""
    t0 = time.perf_counter()
    decoder, payload = load_ridge(ridge_json)
    pre = load_preprocessed(session_h5)
    if decoder.n_inputs != pre.n_channels:
        raise UserError(f"{ridge_json}: ridge model has {decoder.n_inputs} channels but {session_h5} has "
                        f"{pre.n_channels}; fit it on this session")
    if payload.get("session") not in (None, pre.session):
        raise UserError(f"{ridge_json}: fitted on {payload['session']}, not on {pre.session}; "
                        "fit it on this session")
    _, y = eval_sequence(pre)
    preds = decoder.predict(pre.spikes[pre.test_index])
    r2x, r2y = r2_per_output(y.numpy(), preds).tolist()
    coef = np.asarray(decoder.coef)
    macs = float(ridge_macs(decoder))
    out = {
        "r2": neurobench_r2(y.numpy(), preds, batch_steps),
        "r2_x": r2x,
        "r2_y": r2y,
        "footprint": ridge_footprint(decoder),
        "connection_sparsity": float(np.count_nonzero(coef == 0) / coef.size),
        "activation_sparsity": None,
        "dense": macs,
        "macs": macs,
        "acs": 0.0,
        "checkpoint_sha256": sha256_file(ridge_json),
        "session": pre.session,
        "model": "ridge",
        "seed": 0,
        "evaluation_seconds": time.perf_counter() - t0,
        "evaluation_mode": "closed_form",
        "device": "cpu",
        "dtype": str(coef.dtype),
    }
    if predictions_out is not None:
        save_predictions(predictions_out, preds, y.numpy(), pre.dt)
    return {k: out[k] for k in EVAL_KEYS}


def evaluate_to_json(model_name: str, model_path: str | os.PathLike, session_h5: str | os.PathLike,
                     out_json: str | os.PathLike, seed: int | None = None,
                     batch_steps: int = BATCH_STEPS, predictions_out: str | os.PathLike | None = None,
                     mode: str = DEFAULT_MODE, device: str | torch.device | None = None,
                     source_record: str | os.PathLike | None = None, repo: str | os.PathLike | None = None
                     ) -> None:
    """Workflow entry: evaluate a model file (network or ridge) and write the eval JSON (and predictions).

    The JSON's `provenance` (jobinfo.collect) records the model file, the session and its source
    record with their sha256, the config values used, versions, device, dtype and the commit of `repo`.
    """
    network = None if model_name == "ridge" else architecture(model_name)
    loaded = load_model_file(model_path, network)
    if (loaded.kind == "ridge") != (model_name == "ridge"):
        raise UserError(f"{model_path}: a {loaded.kind} model file, but the model is {model_name}; "
                        "check the model name in the rule or command")
    if loaded.kind == "ridge":
        result = evaluate_ridge(model_path, session_h5, batch_steps=batch_steps, predictions_out=predictions_out)
    else:
        held = loaded.meta.get("seed")
        if seed is not None and held is not None and int(held) != int(seed):
            raise UserError(f"{model_path}: holds seed {held}, expected seed {seed}; "
                            "rerun the stage that writes it")
        result = evaluate_checkpoint(model_path, session_h5, batch_steps=batch_steps, expect_model=network,
                                     predictions_out=predictions_out, mode=mode, device=device)
        result["model"] = model_name  # the configured id (e.g. tinyRSNN_published)
        if result["seed"] is None:
            result["seed"] = seed
    # wall-clock time goes to the log only: the workflow's evaluation files repeat byte for byte
    log.info("%s: evaluated in %.1f s", out_json, result.pop("evaluation_seconds"))
    inputs = {"model": model_path, "data": session_h5, **({"source": source_record} if source_record else {})}
    used = {"evaluation.batch_steps": batch_steps}
    if loaded.kind != "ridge":  # ridge is closed-form on the CPU: mode and device do not apply
        used.update({"evaluation.mode": mode, "device": None if device is None else str(device)})
    result["provenance"] = jobinfo.collect(inputs, used, result["device"], result["dtype"], repo=repo)
    write_json(out_json, result)


def _cli_evaluate(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding evaluate`."""
    result = evaluate_checkpoint(args.checkpoint, args.session, static_only=args.static_only, mode=args.mode,
                                 device=args.device)
    inputs = {"model": args.checkpoint, **({"data": args.session} if args.session else {})}
    used = {"static_only": True} if args.static_only else {
        "evaluation.batch_steps": BATCH_STEPS, "evaluation.mode": args.mode, "device": args.device}
    result["provenance"] = jobinfo.collect(inputs, used, result.get("device"), result.get("dtype"))
    text = json.dumps(result, indent=2)
    if args.out:
        with atomic_output(args.out) as tmp:
            tmp.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    p = subparsers.add_parser(
        "evaluate", help="NeuroBench evaluation of a checkpoint (ours or the authors' published ones)",
        description="Evaluate a network checkpoint on a session's test sequence with NeuroBench 2.3.0.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint (.pt of this pipeline or published .pth)")
    p.add_argument("--session", default=None, help="preprocessed session .h5 (results/preprocessed/X.h5)")
    p.add_argument("--static-only", action="store_true",
                   help="only footprint, connection sparsity and parameter count (no data needed)")
    p.add_argument("--out", default=None, help="output JSON (default: stdout)")
    p.add_argument("--mode", choices=EVAL_MODES, default=DEFAULT_MODE,
                   help=f"hook calls once per batch or once per step (default: {DEFAULT_MODE})")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                   help="where to evaluate, in the network's dtype (default: cpu)")
    p.set_defaults(func=_cli_evaluate)
