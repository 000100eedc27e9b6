"""Counter-based hash of dropout keep-masks (splitmix64): the same bits on numba (CPU) and torch (any device)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rsnn_decoding.network.jit import HAVE_NUMBA, jit, prange

# Dropout keep-masks come from a counter-based hash (splitmix64, Steele, Lea & Flood 2014) of one
# 64-bit seed drawn from torch's global RNG per forward call: element i of stream k keeps its value
# when the top 24 bits of mix(base_k + i * GAMMA) are >= ceil(p * 2^24), i.e. with probability
# 1 - p at the 24-bit resolution of torch.rand(float32) >= p. Each bit depends only on the seed and
# its flat (C-order) index, so the masks are the same for any thread count and for the numba
# (CPU) and torch (any device) implementations.
MASK_GAMMA = 0x9E3779B97F4A7C15


MASK_MIX1 = 0xBF58476D1CE4E5B9


MASK_MIX2 = 0x94D049BB133111EB


MASK_BITS = 24


MASK_CHUNK = 1 << 22


_U64 = (1 << 64) - 1


def _signed64(v: int) -> int:
    """An unsigned 64-bit value as the int64 with the same bits."""
    v &= _U64
    return v - (1 << 64) if v >= 1 << 63 else v


def mix64(z: int) -> int:
    """splitmix64 finaliser of a Python int (mod 2^64)."""
    z &= _U64
    z = ((z ^ (z >> 30)) * MASK_MIX1) & _U64
    z = ((z ^ (z >> 27)) * MASK_MIX2) & _U64
    return z ^ (z >> 31)


def mask_stream_base(seed: int, stream: int) -> int:
    """Start (unsigned 64-bit) of the hash stream `stream` of a mask seed."""
    return mix64(seed + (stream + 1) * MASK_GAMMA)


def mask_threshold(p: float) -> int:
    """ceil(p * 2^24): a 24-bit draw k keeps its element when k >= this (k / 2^24 >= p)."""
    return math.ceil(p * (1 << MASK_BITS))


def _shr(z: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 bits."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def hash_keep_torch(shape: tuple[int, ...], base: int, p: float, device: Any = None) -> Tensor:
    """Keep-mask of one hash stream with torch int64 ops (wrap-around arithmetic), chunked."""
    n = math.prod(shape)
    out = torch.empty(n, dtype=torch.bool, device=device)
    gamma, m1, m2 = (_signed64(c) for c in (MASK_GAMMA, MASK_MIX1, MASK_MIX2))
    thr = mask_threshold(p)
    for i0 in range(0, n, MASK_CHUNK):
        z = torch.arange(i0, min(n, i0 + MASK_CHUNK), dtype=torch.int64, device=device)
        z = z * gamma + _signed64(base)
        z = (z ^ _shr(z, 30)) * m1
        z = (z ^ _shr(z, 27)) * m2
        z = z ^ _shr(z, 31)
        torch.ge(_shr(z, 64 - MASK_BITS), thr, out=out[i0 : i0 + z.numel()])
    return out.reshape(shape)


_U64_GAMMA = np.uint64(MASK_GAMMA)


_U64_MIX1 = np.uint64(MASK_MIX1)


_U64_MIX2 = np.uint64(MASK_MIX2)


@jit(parallel=True, cache=True)
def _hash_keep_kernel(base, thr, out):  # noqa: ANN001, ANN202
    """out[r, c] = top-24 bits of splitmix64(base + (r * cols + c) * GAMMA) >= thr (model.hash_keep_torch)."""
    rows, cols = out.shape
    s30, s27, s31, s40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(64 - MASK_BITS)
    for r in prange(rows):
        z = base + np.uint64(r) * np.uint64(cols) * _U64_GAMMA
        row = out[r]
        for c in range(cols):
            v = (z ^ (z >> s30)) * _U64_MIX1
            v = (v ^ (v >> s27)) * _U64_MIX2
            v = v ^ (v >> s31)
            row[c] = (v >> s40) >= thr
            z += _U64_GAMMA


def hash_keep_numba(shape: tuple[int, ...], base: int, threshold: int) -> Tensor:
    """CPU keep-mask of one hash stream (same bits as model.hash_keep_torch), parallel over rows."""
    out = torch.empty(shape, dtype=torch.bool)
    if out.numel() == 0:
        return out
    flat = out.numpy().reshape(shape[0] if len(shape) > 1 else 1, -1)
    _hash_keep_kernel(np.uint64(base), np.uint64(threshold), flat)
    return out


def hash_keep(shape: tuple[int, ...], base: int, p: float, device: Any = None) -> Tensor:
    """Keep-mask of one hash stream: parallel numba kernel on CPU, else hash_keep_torch (same bits)."""
    dev = torch.device("cpu") if device is None else torch.device(device)
    if dev.type == "cpu" and HAVE_NUMBA:
        return hash_keep_numba(shape, base, mask_threshold(p))
    return hash_keep_torch(shape, base, p, dev)
