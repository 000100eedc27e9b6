"""Fluctuation-driven initialisation (METHOD.md section 3): input rate, PSP kernel, weight standard deviations."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rsnn_decoding.data.windows import TensorWindows, WindowSet
from rsnn_decoding.errors import UserError
from rsnn_decoding.network.rsnn import RSNN

BASE_CHANNELS = 96  # channels 0..95 define the input rate nu (METHOD.md §3)


def input_rate_hz(x: Tensor | WindowSet, dt: float = 0.004, channels: slice = slice(0, BASE_CHANNELS)) -> float:
    """Mean firing rate (Hz) per channel of the given channels over training windows: a WindowSet or x (n, T, C).

    Every step counts once per window that covers it (the windows overlap).
    """
    if isinstance(x, Tensor):
        if x.dim() != 3:
            raise ValueError(f"expected non-empty windows (n, T, C), got {tuple(x.shape)}")
        x = TensorWindows(x, x[..., :0])
    if len(x) == 0:
        raise ValueError("expected non-empty windows (n, T, C), got none")
    n_ch = len(range(x.n_channels)[channels])
    if n_ch == 0:
        raise ValueError(f"no channels selected by {channels} in windows with {x.n_channels} channels")
    total = float(x.spike_total(channels))
    duration = x.window * dt
    return total / len(x) / duration / n_ch


def loco_column_ratio(x: Tensor | WindowSet, dt: float = 0.004) -> float:
    """Rate of channels 96..191 divided by the rate of channels 0..95 (Loco input scaling)."""
    base = input_rate_hz(x, dt, slice(0, BASE_CHANNELS))
    extra = input_rate_hz(x, dt, slice(BASE_CHANNELS, None))
    return extra / base


def psp_kernel(dt: float, tau_mem: float, tau_syn: float, length: int | None = None) -> list[float]:
    """PSP kernel k_0 = 0, k_{i+1} = a_m k_i + (1 - a_m) c_i, c_{i+1} = a_s c_i, c_0 = 1 (METHOD.md §3)."""
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
    x: Tensor | WindowSet,
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
