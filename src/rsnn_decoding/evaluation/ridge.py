"""The ridge baseline: a ridge-regression (Wiener filter) decoder on the last `lags` 4 ms bins of every channel.

Features of step t are the spikes of bins t-lags+1 .. t (oldest first, channel-minor), zeros before the
start of the sequence. Each split is treated as its own continuous sequence (as the networks see it),
so a prediction never looks at data outside the split. The decoder is fitted on the training split
only, with an intercept; alpha is the value of the grid with the best validation R2 (no refit).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsnn_decoding.data.preprocess import Preprocessed, load_preprocessed
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import read_json, write_json
from rsnn_decoding.metrics import r2_score

LOG = logging.getLogger("rsnn_decoding.baseline")

LAGS = 10
ALPHAS = tuple(float(a) for a in np.logspace(-1, 6, 15))
CHUNK = 8192


@dataclass
class RidgeDecoder:
    """Linear decoder y_t = features_t @ coef + intercept."""

    coef: np.ndarray  # (lags * C, 2)
    intercept: np.ndarray  # (2,)
    lags: int
    alpha: float
    n_inputs: int
    metrics: dict = field(default_factory=dict)

    def predict(self, spikes: np.ndarray) -> np.ndarray:
        """(N, 2) float32 predictions for a continuous (N, C) spike sequence."""
        spikes = np.asarray(spikes)
        if spikes.ndim != 2 or spikes.shape[1] != self.n_inputs:
            raise UserError(f"ridge: spikes of shape {spikes.shape}, expected (N, {self.n_inputs})")
        return (_apply(spikes, self.coef, self.lags) + self.intercept).astype(np.float32)

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "model": "ridge",
            "lags": int(self.lags),
            "alpha": float(self.alpha),
            "n_inputs": int(self.n_inputs),
            "coef": np.asarray(self.coef, dtype=np.float64).tolist(),
            "intercept": np.asarray(self.intercept, dtype=np.float64).tolist(),
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, d: dict) -> RidgeDecoder:
        """Inverse of to_dict (UserError on a malformed dict)."""
        try:
            coef = np.asarray(d["coef"], dtype=np.float64)
            dec = cls(
                coef=coef,
                intercept=np.asarray(d["intercept"], dtype=np.float64),
                lags=int(d["lags"]),
                alpha=float(d["alpha"]),
                n_inputs=int(d["n_inputs"]),
                metrics=dict(d.get("metrics", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"ridge model: malformed ({exc}); refit it with `rsnn-decoding ridge`") from exc
        if dec.coef.shape != (dec.lags * dec.n_inputs, 2) or dec.intercept.shape != (2,):
            raise UserError(f"ridge model: coef {dec.coef.shape} does not match lags x inputs; refit it")
        return dec


def lagged_features(spikes: np.ndarray, lags: int = LAGS) -> np.ndarray:
    """(N, lags * C) causal features: block j holds bin t - lags + 1 + j; zeros before the start."""
    spikes = np.asarray(spikes)
    n, c = spikes.shape
    out = np.zeros((n, lags * c), dtype=np.float32)
    for j in range(lags):
        d = lags - 1 - j  # block j holds bin t - d
        if d < n:
            out[d:, j * c : (j + 1) * c] = spikes[: n - d]
    return out


def _apply(spikes: np.ndarray, coef: np.ndarray, lags: int, chunk: int = CHUNK) -> np.ndarray:
    """(N, K) float64 = lagged_features(spikes) @ coef, computed lag by lag without building features."""
    n, c = spikes.shape
    w = np.asarray(coef, dtype=np.float64).reshape(lags, c, -1)
    out = np.zeros((n, w.shape[2]))
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        x = spikes[start:stop].astype(np.float64)
        for j in range(lags):
            d = lags - 1 - j  # bin u feeds block j of the features of step u + d
            hi = min(stop + d, n)
            if hi > start + d:
                out[start + d : hi] += x[: hi - start - d] @ w[j]
    return out


def _moments(spikes: np.ndarray, y: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centered Gram matrix, centered cross moments and mean of the lagged features.

    The Gram matrix is block-Toeplitz up to edge terms: block (i, j) with delays d_i <= d_j equals
    A_(d_j - d_i) minus the products of the last d_i rows, where A_k = sum_u s[u] s[u - k]^T. Only the
    `lags` matrices A_k are computed (float32 sums of 0/1 products: exact below 2**24 steps).
    """
    n, c = spikes.shape
    if n < 2 * lags:
        x = lagged_features(spikes, lags).astype(np.float64)
        mu = x.mean(axis=0)
        xc = x - mu
        return xc.T @ xc, xc.T @ (y - y.mean(axis=0)), mu
    s32 = spikes.astype(np.float32)
    s64 = spikes.astype(np.float64)
    lagged = [(s32[k:].T @ s32[: n - k]).astype(np.float64) for k in range(lags)]
    delay = [lags - 1 - j for j in range(lags)]
    gram = np.zeros((lags * c, lags * c))
    for i in range(lags):
        for j in range(lags):
            di, dj = delay[i], delay[j]
            if dj < di:
                continue
            k = dj - di
            tail = s64[n - di :].T @ s64[n - di - k : n - k] if di else 0.0
            block = lagged[k] - tail
            gram[i * c : (i + 1) * c, j * c : (j + 1) * c] = block
            gram[j * c : (j + 1) * c, i * c : (i + 1) * c] = block.T
    xy = np.concatenate([s64[: n - d].T @ y[d:] for d in delay])
    mu = np.concatenate([s64[: n - d].sum(axis=0) for d in delay]) / n
    ybar = y.mean(axis=0)
    return gram - n * np.outer(mu, mu), xy - n * np.outer(mu, ybar), mu


def fit_ridge(pre: Preprocessed, lags: int = LAGS, alphas: Sequence[float] = ALPHAS) -> RidgeDecoder:
    """Fit on the training split for every alpha; keep the alpha with the best validation R2."""
    train_x, train_y = pre.spikes[pre.train_index], pre.velocity[pre.train_index].astype(np.float64)
    val_x, val_y = pre.spikes[pre.val_index], pre.velocity[pre.val_index]
    if train_x.shape[0] < 2 or val_x.shape[0] < 2:
        raise UserError(f"{pre.session}: too little data for the ridge baseline; use a longer session")
    gram, xy, mu = _moments(train_x, train_y, lags)
    evals, evecs = np.linalg.eigh(gram)
    proj = evecs.T @ xy
    ybar = train_y.mean(axis=0)
    coefs = [evecs @ (proj / (np.maximum(evals, 0.0) + a)[:, None]) for a in alphas]
    stacked = np.concatenate(coefs, axis=1)  # (D, 2 * n_alphas): one pass over the validation data
    pred = _apply(val_x, stacked, lags)
    best: RidgeDecoder | None = None
    for i, (alpha, coef) in enumerate(zip(alphas, coefs, strict=True)):
        intercept = ybar - mu @ coef
        r2 = r2_score(val_y, pred[:, 2 * i : 2 * i + 2] + intercept)[0]
        LOG.debug("%s: ridge alpha %.3g val R2 %.4f", pre.session, alpha, r2)
        if best is None or r2 > best.metrics["val_r2"]:
            best = RidgeDecoder(coef, intercept, lags, float(alpha), pre.n_channels, {"val_r2": r2})
    assert best is not None
    LOG.info("%s: ridge alpha %.3g, val R2 %.4f", pre.session, best.alpha, best.metrics["val_r2"])
    return best


def evaluate_ridge(dec: RidgeDecoder, pre: Preprocessed) -> dict:
    """R2 (mean, x, y) of each split, each predicted as one continuous sequence."""
    out = {}
    for split in ("train", "val", "test"):
        idx = getattr(pre, f"{split}_index")
        r2, r2x, r2y = r2_score(pre.velocity[idx], dec.predict(pre.spikes[idx]))
        out[split] = {"r2": r2, "r2_x": r2x, "r2_y": r2y}
    return out


def _cli_ridge(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding ridge`."""
    pre = load_preprocessed(args.session)
    dec = fit_ridge(pre, lags=args.lags)
    scores = evaluate_ridge(dec, pre)
    dec.metrics["test_r2"] = scores["test"]["r2"]
    print(f"{pre.session}: ridge (lags {dec.lags}, alpha {dec.alpha:.3g})")
    for split in ("val", "test"):
        s = scores[split]
        print(f"  {split:5s} R2 {s['r2']:.4f}  (x {s['r2_x']:.4f}, y {s['r2_y']:.4f})")
    if args.out:
        write_json(args.out, {"session": pre.session, "data_sha256": pre.sha256, **dec.to_dict()})
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add `ridge SESSION.h5 [--lags L] [--out MODEL.json]`."""
    p = subparsers.add_parser("ridge", help="fit the ridge (Wiener filter) baseline; print val/test R2")
    p.add_argument("session", help="preprocessed session .h5")
    p.add_argument("--lags", type=int, default=LAGS, help="number of 4 ms bins of history (default 10)")
    p.add_argument("--out", default=None, help="write the fitted model as JSON")
    p.set_defaults(func=_cli_ridge)


# ----------------------------------------------------------------------------- workflow: fit, load, evaluate


def fit_ridge_model(session_h5: str | os.PathLike, out_json: str | os.PathLike) -> None:
    """Fit the ridge (Wiener filter) baseline (train, alpha on val); save its JSON atomically."""
    pre = load_preprocessed(session_h5)
    decoder = fit_ridge(pre)
    write_json(out_json, {"session": pre.session, "data_sha256": pre.sha256, **decoder.to_dict()})


def load_ridge(path: str | os.PathLike) -> tuple[RidgeDecoder, dict[str, Any]]:
    """Ridge decoder and its JSON payload; UserError naming the file when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: ridge model not found; run the ridge fitting step")
    try:
        payload = read_json(p)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise UserError(f"{p}: not valid JSON ({reason}); delete it and rerun the ridge fit") from None
    if not isinstance(payload, dict) or payload.get("model") != "ridge":
        raise UserError(f"{p}: not a ridge model JSON; delete it and rerun the ridge fit")
    try:
        decoder = RidgeDecoder.from_dict(payload)
    except UserError as exc:
        raise UserError(f"{p}: {exc}") from None
    return decoder, payload


def ridge_footprint(decoder: RidgeDecoder) -> int:
    """Bytes of the ridge coefficients (weights and intercept, as stored: float64)."""
    return int(np.asarray(decoder.coef).nbytes + np.asarray(decoder.intercept).nbytes)


def ridge_macs(decoder: RidgeDecoder) -> int:
    """Multiply-adds per step: one per coefficient (intercept additions are not synaptic operations)."""
    return int(np.asarray(decoder.coef).size)
