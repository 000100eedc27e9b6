"""Magnitude pruning search (METHOD.md §5, tinyRSNN): resumable per round."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import read_json, sha256_file, write_json
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.runtime import resolve_device
from rsnn_decoding.training import checkpoint
from rsnn_decoding.training.config import TrainConfig
from rsnn_decoding.training.loop import fit
from rsnn_decoding.training.stages import _load_sessions, split_windows

LOGGER = logging.getLogger("rsnn_decoding.prune")
ROUNDS_FORMAT = "prune-rounds-2"  # 2: each round seeded with round_seed(seed, k)


@dataclass(frozen=True)
class RoundResult:
    """Outcome of one pruning round."""

    p: float
    r: float
    accepted: bool


def is_rejected(r: float, ref: float, tolerance: float) -> bool:
    """METHOD.md §5 rejection rule: r - ref < -|tolerance * ref|."""
    return r - ref < -abs(tolerance * ref)


def search_schedule(
    ref: float,
    evaluate: Callable[[int, float], float],
    p_start: float = 0.4,
    steps: Sequence[float] = (0.1, 0.05),
    tolerance: float = 0.02,
    p_max: float = 0.8,
    max_rounds: int | None = None,
) -> list[RoundResult]:
    """Run the pruning search; evaluate(round_index, p) returns the retrained training R2."""
    p, level, rounds = p_start, 0, []
    while p <= p_max and (max_rounds is None or len(rounds) < max_rounds):
        r = evaluate(len(rounds), p)
        if is_rejected(r, ref, tolerance):
            rounds.append(RoundResult(p, r, False))
            if level + 1 >= len(steps):
                break
            p = p - steps[level]
            level += 1
            p = p + steps[level]
        else:
            rounds.append(RoundResult(p, r, True))
            p = p + steps[level]
    return rounds


def weight_names(model: RSNN) -> list[str]:
    """Parameter names of model.weight_matrices(), in order."""
    ids = {id(w): i for i, w in enumerate(model.weight_matrices())}
    names = [""] * len(ids)
    for name, p in model.named_parameters():
        if id(p) in ids:
            names[ids[id(p)]] = name
    return names


def magnitude_prune(model: RSNN, p: float) -> dict[str, Tensor]:
    """Zero the int(p * size) smallest |w| of each weight matrix in place; return the 0/1 masks by name."""
    masks = {}
    with torch.no_grad():
        for name, w in zip(weight_names(model), model.weight_matrices(), strict=True):
            k = int(p * w.numel())
            mask = torch.ones(w.numel(), dtype=w.dtype, device=w.device)
            if k > 0:
                idx = torch.topk(w.detach().abs().flatten(), k, largest=False).indices
                mask[idx] = 0
            mask = mask.view_as(w)
            w.mul_(mask)
            masks[name] = mask
    return masks


def connection_sparsity(model: RSNN) -> float:
    """Zero weights / all weights over the three connection matrices."""
    zeros = sum(int((w == 0).sum()) for w in model.weight_matrices())
    total = sum(w.numel() for w in model.weight_matrices())
    return zeros / total


def round_seed(seed: int, k: int) -> int:
    """Seed of pruning round k (METHOD.md §5.1): the first 63 bits of SHA-256 of "prune|{seed}|{k}"."""
    digest = hashlib.sha256(f"prune|{int(seed)}|{int(k)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _run_key(finetuned: Path, data_sha: str, cfg: TrainConfig, seed: int, engine: str, device: str) -> str:
    """Identifies a pruning run: cached rounds are reused only by the same run."""
    parts = [ROUNDS_FORMAT, sha256_file(finetuned), data_sha, repr(sorted(cfg.to_dict().items())), str(seed),
             engine, device]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def prune(
    finetuned_checkpoint: str | os.PathLike,
    session_h5: str | os.PathLike,
    train_cfg: TrainConfig,
    seed: int,
    out_checkpoint: str | os.PathLike,
    out_history: str | os.PathLike,
    state_dir: str | os.PathLike,
    device: str = "auto",
    engine: str = "fast",
    p_start: float = 0.4,
    steps: Sequence[float] = (0.1, 0.05),
    tolerance: float = 0.02,
    p_max: float = 0.8,
    max_rounds: int | None = None,
) -> None:
    """METHOD.md §5 pruning search from a fine-tuned checkpoint; per-round results cached in state_dir.

    Round k draws its randomness (dropout masks from torch's global RNG, the shuffle generator of
    `fit`) from its own seed round_seed(seed, k), so every round, a retried fraction included, sees
    fresh shuffles and masks, and the same seed gives the same rounds. A killed round resumes
    exactly: `fit`'s state file round{k:02d}.state.pt holds both generators' states after each epoch.
    """
    dev = resolve_device(device)
    (pre,) = _load_sessions([session_h5])
    base, meta = checkpoint.load(finetuned_checkpoint, expect_inputs=int(pre.spikes.shape[1]), engine=engine)
    if meta.get("monkey") != pre.monkey:
        raise UserError(f"{finetuned_checkpoint}: model of monkey {meta.get('monkey')!r} but {session_h5} is "
                        f"monkey {pre.monkey!r}; prune the checkpoint fine-tuned on this session")
    if "train_r2" not in meta.get("metrics", {}):
        raise UserError(f"{finetuned_checkpoint}: no last-epoch train_r2 in its metrics; rerun fine-tuning")
    ref = float(meta["metrics"]["train_r2"])
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    train = split_windows([pre], "train", train_cfg)
    val = split_windows([pre], "val", train_cfg)
    sdir = Path(state_dir)
    sdir.mkdir(parents=True, exist_ok=True)
    key = _run_key(Path(finetuned_checkpoint), pre.sha256, train_cfg, seed, engine, dev.type)
    results: dict[int, dict[str, Any]] = {}

    def evaluate(k: int, p: float) -> float:
        """Train round k at pruning fraction p (or reuse its cached result)."""
        done, model_path = sdir / f"round{k:02d}.json", sdir / f"round{k:02d}.pt"
        if done.exists() and model_path.exists():
            cached = read_json(done)
            if cached.get("key") == key and cached.get("p") == p:
                LOGGER.info("round %d (p=%r): reusing %s", k, p, done)
                results[k] = cached
                return float(cached["train_r2"])
        model = RSNN(base.n_inputs, base.cfg, engine=engine)
        model.load_state_dict(base_state)
        masks = magnitude_prune(model, p)
        rseed = round_seed(seed, k)
        torch.manual_seed(rseed)
        LOGGER.info("round %d: p=%r, retraining %d epochs (reference train R2 %.3f)", k, p, train_cfg.epochs, ref)
        fit_state = sdir / f"round{k:02d}.state.pt"
        history = fit(model, train, val, train_cfg, seed=rseed, device=dev, state_path=fit_state,
                      grad_masks=masks, log=LOGGER,
                      context=f"prune {model.cfg.name} seed {seed} on {pre.session}, round {k} (p={p})")
        model.cpu()
        last = history[-1]
        rec = {"key": key, "round": k, "round_seed": rseed, "p": p, "sparsity": connection_sparsity(model),
               "train_r2": float(last["train_r2"]), "val_r2": float(last["val_r2"]),
               "accepted": not is_rejected(float(last["train_r2"]), ref, tolerance), "epochs": history}
        checkpoint.save(model_path, model, model_name=model.cfg.name, monkey=pre.monkey, seed=seed,
                        stage="prune", sessions=[pre.session], data_sha256={pre.session: pre.sha256},
                        metrics={"train_r2": rec["train_r2"], "val_r2": rec["val_r2"]})
        write_json(done, rec)
        fit_state.unlink(missing_ok=True)
        LOGGER.info("round %d: p=%r train R2 %.3f (ref %.3f) -> %s", k, p, rec["train_r2"], ref,
                    "accepted" if rec["accepted"] else "rejected")
        results[k] = rec
        return rec["train_r2"]

    rounds = search_schedule(ref, evaluate, p_start, steps, tolerance, p_max, max_rounds)
    accepted = [k for k, r in enumerate(rounds) if r.accepted]
    if accepted:
        best = accepted[-1]
        model, _ = checkpoint.load(sdir / f"round{best:02d}.pt", engine=engine)
        chosen_p = rounds[best].p
        metrics = {"train_r2": results[best]["train_r2"], "val_r2": results[best]["val_r2"]}
    else:
        model, chosen_p = base, None
        metrics = {k: meta["metrics"][k] for k in ("train_r2", "val_r2") if k in meta["metrics"]}
    sparsity = connection_sparsity(model)
    metrics.update({"reference_r2": ref, "p": chosen_p, "connection_sparsity": sparsity})
    round_docs = [{"p": results[k]["p"], "sparsity": results[k]["sparsity"], "train_r2": results[k]["train_r2"],
                   "val_r2": results[k]["val_r2"], "accepted": r.accepted, "round_seed": results[k]["round_seed"]}
                  for k, r in enumerate(rounds)]
    extra = {"finetuned": str(finetuned_checkpoint), "rounds": len(rounds), "tolerance": tolerance}
    checkpoint.save(out_checkpoint, model, model_name=model.cfg.name, monkey=pre.monkey, seed=seed,
                    stage="prune", sessions=[pre.session], data_sha256={pre.session: pre.sha256},
                    metrics=metrics, extra=extra)
    doc = {
        "reference_r2": ref, "p": chosen_p, "connection_sparsity": sparsity, "rounds": round_docs,
        "p_start": p_start, "steps": list(steps), "tolerance": tolerance, "p_max": p_max,
        "max_rounds": max_rounds, "train_config": train_cfg.to_dict(), "seed": int(seed),
        "session": pre.session, "finetuned": str(finetuned_checkpoint),
    }
    if accepted:
        doc["epochs"] = results[accepted[-1]]["epochs"]  # per-epoch history of the chosen round
    write_json(out_history, doc)
    shutil.rmtree(sdir, ignore_errors=True)  # the rule is complete: its resume state is no longer needed
    LOGGER.info("pruning done: p=%r, connection sparsity %.3f, %d rounds", chosen_p, sparsity, len(rounds))
