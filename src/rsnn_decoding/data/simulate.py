"""Synthetic reaching sessions in the exact Zenodo 583331 MATLAB v7.3 layout.

Behaviour: self-paced random-target task (targets on an 8 x 8 grid over a 200 mm workspace); after a
reaction/hold time the cursor makes a minimum-jerk reach (0.3-2 s, slightly curved, ending within a few
mm of the target); the target changes when it is acquired. Neurons: per channel 1-5 units (unit 0 =
unsorted multi-unit activity), inhomogeneous Poisson with a 2 ms dead time, log-linear tuning to the
velocity 50-150 ms ahead (plus speed and a weak position term), baselines 2-40 Hz, some untuned units, a
few silent channels. Tuning is fixed per monkey; each session (seed) drifts from it. Spikes also occur
up to 1 s before the first and after the last behavioural sample, as in real recordings.
"""

from __future__ import annotations

import argparse
import logging
import os
import zlib
from dataclasses import dataclass

import h5py
import numpy as np

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output

LOG = logging.getLogger("rsnn_decoding.simulate")

DT = 0.004
CHANNELS = {"indy": 96, "loco": 192}
MAX_UNITS = 5
GRID = 8
WORKSPACE_MM = 200.0
PAD_S = 1.0  # spikes are simulated this long before t[0] and after t[-1]
REFRACTORY_S = 0.002
WF_SAMPLES = 48
V_SCALE = 250.0  # mm/s: velocity normalisation of the tuning
MAX_RATE = 250.0  # Hz
HEADER_DATE = "Thu Jun 22 12:00:00 2017"


@dataclass
class Tuning:
    """Per-unit tuning parameters, arrays of shape (C, MAX_UNITS); `exists` marks real units."""

    exists: np.ndarray
    baseline: np.ndarray  # Hz
    depth: np.ndarray  # log-rate gain on the normalised velocity along the preferred direction
    direction: np.ndarray  # preferred direction, rad
    speed_gain: np.ndarray
    pos_gain: np.ndarray
    pos_direction: np.ndarray
    lead_s: np.ndarray
    template: np.ndarray  # (C, MAX_UNITS, WF_SAMPLES) waveform templates, uV


def _monkey_code(monkey: str) -> int:
    """Stable integer code of a monkey name."""
    if monkey not in CHANNELS:
        raise UserError(f"monkey '{monkey}': unknown; use one of {', '.join(sorted(CHANNELS))}")
    return zlib.crc32(monkey.encode())


def monkey_tuning(monkey: str) -> Tuning:
    """The monkey's shared tuning, derived from a fixed per-monkey seed."""
    rng = np.random.default_rng([_monkey_code(monkey), 583331])
    c = CHANNELS[monkey]
    shape = (c, MAX_UNITS)
    n_units = rng.integers(1, MAX_UNITS + 1, size=c)
    exists = np.arange(MAX_UNITS)[None, :] < n_units[:, None]
    silent = rng.random(c) < 0.04
    exists[silent] = False
    unsorted = np.zeros(shape, bool)
    unsorted[:, 0] = True
    baseline = np.exp(rng.uniform(np.log(2.0), np.log(40.0), size=shape))
    baseline[unsorted] = rng.uniform(10.0, 40.0, size=c)
    tuned = rng.random(shape) < 0.8
    depth = np.where(tuned, rng.uniform(0.3, 1.0, size=shape), 0.0)
    depth[unsorted] *= 0.5
    direction = rng.uniform(-np.pi, np.pi, size=shape)
    speed_gain = np.where(tuned, rng.uniform(-0.1, 0.4, size=shape), 0.0)
    pos_gain = rng.uniform(0.0, 0.15, size=shape)
    pos_direction = rng.uniform(-np.pi, np.pi, size=shape)
    lead_s = rng.uniform(0.05, 0.15, size=shape)
    phase = np.linspace(0, 1, WF_SAMPLES)
    amp = rng.uniform(30.0, 150.0, size=shape)
    width = rng.uniform(0.03, 0.08, size=shape)
    template = -amp[..., None] * np.exp(-((phase - 0.3) ** 2) / (2 * width[..., None] ** 2))
    template += 0.3 * amp[..., None] * np.exp(-((phase - 0.5) ** 2) / (2 * (2 * width[..., None]) ** 2))
    return Tuning(exists, baseline, depth, direction, speed_gain, pos_gain, pos_direction, lead_s, template)


def session_tuning(base: Tuning, rng: np.random.Generator) -> Tuning:
    """Session-to-session drift of a monkey's tuning."""
    shape = base.baseline.shape
    return Tuning(
        exists=base.exists.copy(),
        baseline=base.baseline * np.exp(rng.normal(0.0, 0.2, size=shape)),
        depth=base.depth * np.exp(rng.normal(0.0, 0.15, size=shape)),
        direction=base.direction + rng.normal(0.0, np.deg2rad(10.0), size=shape),
        speed_gain=base.speed_gain + rng.normal(0.0, 0.03, size=shape),
        pos_gain=base.pos_gain,
        pos_direction=base.pos_direction,
        lead_s=np.clip(base.lead_s + rng.normal(0.0, 0.01, size=shape), 0.05, 0.15),
        template=base.template * np.exp(rng.normal(0.0, 0.1, size=shape))[..., None],
    )


def _min_jerk(n: int) -> np.ndarray:
    """Minimum-jerk profile s(tau) from 0 to 1 sampled at n points (tau = 1/n..1)."""
    tau = np.arange(1, n + 1) / n
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


def behaviour(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cursor (n, 2) and target (n, 2) positions in mm of a random-target reaching session."""
    centres = (np.arange(GRID) - (GRID - 1) / 2) * (WORKSPACE_MM / GRID)
    cursor = np.zeros((n, 2))
    target = np.zeros((n, 2))
    pos = np.zeros(2)
    cell = rng.integers(GRID, size=2)
    i = 0
    while i < n:
        goal = centres[cell]
        hold = int(round(rng.uniform(0.1, 0.45) / DT))
        dist = float(np.hypot(*(goal - pos)))
        dur = float(np.clip(0.3 + dist / 300.0 + rng.normal(0.0, 0.1), 0.3, 2.0))
        move = max(int(round(dur / DT)), 2)
        dwell = int(round(rng.uniform(0.0, 0.12) / DT))
        end = goal + rng.normal(0.0, 2.5, size=2)
        s = _min_jerk(move)
        delta = end - pos
        perp = np.array([-delta[1], delta[0]]) * rng.normal(0.0, 0.08)
        path = pos + s[:, None] * delta + (np.sin(np.pi * s) ** 2)[:, None] * perp
        seg = np.concatenate([np.repeat(pos[None], hold, 0), path, np.repeat(end[None], dwell, 0)])
        m = min(seg.shape[0], n - i)
        cursor[i : i + m] = seg[:m]
        target[i : i + m] = goal
        i += m
        pos = end
        new = cell
        while np.array_equal(new, cell):
            new = rng.integers(GRID, size=2)
        cell = new
    cursor += rng.normal(0.0, 0.01, size=cursor.shape)
    return cursor, target


def _unit_spikes(rate: np.ndarray, t_edges: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spike times of an inhomogeneous Poisson process (piecewise-constant rate) with a dead time."""
    cum = np.concatenate([[0.0], np.cumsum(rate * DT)])
    k = rng.poisson(cum[-1])
    u = np.sort(rng.uniform(0.0, cum[-1], size=k))
    times = np.interp(u, cum, t_edges)
    if times.size > 1:
        keep = np.concatenate([[True], np.diff(times) >= REFRACTORY_S])
        times = times[keep]
    return np.round(times * 30000.0) / 30000.0  # 30 kHz acquisition clock


def _rates(tuning: Tuning, vel: np.ndarray, pos: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Firing rate (Hz) per existing unit on the sample grid, computed in groups of equal lead."""
    vn = vel / V_SCALE
    feats = np.stack([vn[:, 0], vn[:, 1], np.hypot(vn[:, 0], vn[:, 1])])  # (3, n)
    pos_feats = np.ascontiguousarray(pos.T) / 100.0  # (2, n)
    leads = np.rint(tuning.lead_s / DT).astype(int)
    out: dict[tuple[int, int], np.ndarray] = {}
    for lead in np.unique(leads[tuning.exists]):
        chans, units = np.nonzero(tuning.exists & (leads == lead))
        shifted = np.concatenate([feats[:, lead:], np.repeat(feats[:, -1:], lead, axis=1)], axis=1)
        d, pd = tuning.direction[chans, units], tuning.pos_direction[chans, units]
        depth, pgain = tuning.depth[chans, units], tuning.pos_gain[chans, units]
        w = np.stack(
            [
                depth * np.cos(d),
                depth * np.sin(d),
                tuning.speed_gain[chans, units],
                pgain * np.cos(pd),
                pgain * np.sin(pd),
            ],
            axis=1,
        )  # (k, 5)
        drive = w @ np.concatenate([shifted, pos_feats])  # (k, n): short-and-wide keeps BLAS fast
        rate = np.minimum(tuning.baseline[chans, units][:, None] * np.exp(drive), MAX_RATE)
        for j, (ch, u) in enumerate(zip(chans, units, strict=True)):
            out[(int(ch), int(u))] = rate[j]
    return out


def simulate_session(monkey: str, duration_s: float, seed: int) -> dict:
    """Simulate one session; arrays in h5py orientation (time along the last axis)."""
    if not duration_s or duration_s < 10 * DT:
        raise UserError(f"duration {duration_s}: too short; simulate at least a few seconds")
    if int(seed) != seed or seed < 0:
        raise UserError(f"seed {seed}: must be a non-negative integer")
    tuning = session_tuning(monkey_tuning(monkey), np.random.default_rng([_monkey_code(monkey), 7, seed]))
    rng = np.random.default_rng([_monkey_code(monkey), int(seed)])
    n = int(round(duration_s / DT))
    t0 = 1.0 + rng.integers(100, 2000) * DT
    t = t0 + np.arange(n) * DT
    cursor, target = behaviour(n, rng)
    vel = np.gradient(cursor, axis=0) / DT  # mm/s
    pad = int(round(PAD_S / DT))
    # extended series: the cursor rests before the start and after the end
    vel_ext = np.concatenate([np.zeros((pad, 2)), vel, np.zeros((pad, 2))])
    pos_ext = np.concatenate([np.repeat(cursor[:1], pad, 0), cursor, np.repeat(cursor[-1:], pad, 0)])
    n_ext = n + 2 * pad
    t_edges = t[0] - DT - pad * DT + np.arange(n_ext + 1) * DT  # interval j ends at sample j - pad
    rates = _rates(tuning, vel_ext, pos_ext)
    c = CHANNELS[monkey]
    spikes: list[list[np.ndarray | None]] = []
    wf: list[list[np.ndarray | None]] = []
    for ch in range(c):
        ch_spikes: list[np.ndarray | None] = []
        ch_wf: list[np.ndarray | None] = []
        for u in range(MAX_UNITS):
            times = _unit_spikes(rates[(ch, u)], t_edges, rng) if (ch, u) in rates else np.zeros(0)
            ch_spikes.append(times if times.size else None)
            ch_wf.append(tuning.template[ch, u][None, :] if times.size else None)
        spikes.append(ch_spikes)
        wf.append(ch_wf)
    finger = np.stack([np.full(n, 3.0) + rng.normal(0, 0.01, n), -cursor[:, 0] / 10.0, -cursor[:, 1] / 10.0])
    return {
        "t": t[None, :],
        "cursor_pos": cursor.T.copy(),
        "finger_pos": finger,
        "target_pos": target.T.copy(),
        "spikes": spikes,
        "wf": wf,
        "chan_names": [f"elec{i + 1}" for i in range(c)],
        "monkey": monkey,
    }


# ----------------------------------------------------------------------------- MATLAB v7.3 writer


def matlab_header(date: str = HEADER_DATE) -> bytes:
    """The 128 bytes MATLAB writes at the start of a v7.3 file's 512-byte userblock."""
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {date} HDF5 schema 1.00 .".encode("ascii")
    return text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM"


def _ref_name(i: int) -> str:
    """MATLAB's #refs# dataset names: a, b, ..., z, A, ..., Z, ba, bb, ... (base-52 digits)."""
    digits = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    name = digits[i % 52]
    i //= 52
    while i:
        name = digits[i % 52] + name
        i //= 52
    return name


class _Refs:
    """Writer of the #refs# group (cell contents)."""

    def __init__(self, f: h5py.File) -> None:
        """Create the #refs# group."""
        self.group = f.create_group("#refs#")
        self.count = 0

    def _new(self, data: np.ndarray, matlab_class: str) -> h5py.Dataset:
        """A new dataset in #refs#."""
        ds = self.group.create_dataset(_ref_name(self.count), data=data)
        self.count += 1
        ds.attrs["MATLAB_class"] = np.bytes_(matlab_class)
        return ds

    def double(self, values: np.ndarray | None) -> h5py.Reference:
        """A double matrix (or MATLAB's empty placeholder for None) and its reference."""
        if values is None:
            ds = self._new(np.zeros(2, dtype=np.uint64), "double")
            ds.attrs["MATLAB_empty"] = np.uint8(1)
        else:
            ds = self._new(np.asarray(values, dtype=np.float64), "double")
        return ds.ref

    def char(self, text: str) -> h5py.Reference:
        """A MATLAB char row vector (uint16 code units, h5py shape (len, 1))."""
        codes = np.frombuffer(text.encode("utf-16-le"), dtype=np.uint16).reshape(-1, 1)
        ds = self._new(codes, "char")
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
        return ds.ref


def _cell(f: h5py.File, name: str, refs: np.ndarray) -> None:
    """A cell array variable of object references."""
    ds = f.create_dataset(name, data=refs, dtype=h5py.ref_dtype)
    ds.attrs["MATLAB_class"] = np.bytes_("cell")


def write_mat(path: str | os.PathLike, session: dict) -> None:
    """Write a session dict as a MATLAB v7.3 file in the Zenodo 583331 layout (not atomic)."""
    spikes = session["spikes"]
    c = len(spikes)
    u = max(len(units) for units in spikes)
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        refs = _Refs(f)
        for name in ("t", "cursor_pos", "finger_pos", "target_pos"):
            ds = f.create_dataset(name, data=np.asarray(session[name], dtype=np.float64))
            ds.attrs["MATLAB_class"] = np.bytes_("double")
        names = np.empty((1, c), dtype=object)
        for ch, label in enumerate(session["chan_names"]):
            names[0, ch] = refs.char(label)
        _cell(f, "chan_names", names)
        spike_refs = np.empty((u, c), dtype=object)
        wf_refs = np.empty((u, c), dtype=object)
        wf = session.get("wf")
        for ch in range(c):
            for k in range(u):
                times = spikes[ch][k] if k < len(spikes[ch]) else None
                spike_refs[k, ch] = refs.double(None if times is None else np.asarray(times)[None, :])
                w = wf[ch][k] if wf is not None and k < len(wf[ch]) else None
                wf_refs[k, ch] = refs.double(None if w is None else np.asarray(w).T)
        _cell(f, "spikes", spike_refs)
        _cell(f, "wf", wf_refs)
    with open(path, "r+b") as fh:
        fh.write(matlab_header())


def simulate_to_mat(out_path: str | os.PathLike, monkey: str, duration_s: float, seed: int) -> None:
    """Simulate a session and write it atomically as a Zenodo-layout .mat file."""
    session = simulate_session(monkey, duration_s, seed)
    with atomic_output(out_path) as tmp:
        write_mat(tmp, session)
    n_spikes = sum(x.size for units in session["spikes"] for x in units if x is not None)
    LOG.info("%s: simulated %s, %.0f s, seed %d, %d spikes", out_path, monkey, duration_s, seed, n_spikes)


def _cli_simulate(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding simulate`."""
    simulate_to_mat(args.output, args.monkey, args.duration, args.seed)
    print(f"wrote {args.output}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add `simulate --monkey indy|loco --duration S --seed K OUT.mat`."""
    p = subparsers.add_parser("simulate", help="write a synthetic session in the Zenodo .mat layout")
    p.add_argument("--monkey", choices=sorted(CHANNELS), required=True)
    p.add_argument("--duration", type=float, required=True, help="seconds of behaviour")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("output", help="output .mat")
    p.set_defaults(func=_cli_simulate)
