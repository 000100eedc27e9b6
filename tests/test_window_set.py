"""Training batches gathered from the sessions' arrays and a window index equal the old windowed path bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsnn_decoding.data.preprocess import load_preprocessed
from rsnn_decoding.data.windows import WindowSet, window_index, window_set
from rsnn_decoding.errors import UserError
from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training import init, loop, stages
from rsnn_decoding.training.config import TrainConfig

torch.set_num_threads(1)


def old_windows(pres, split: str, cfg: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The windowed path of the starting commit, rebuilt here: every window copied, float32, then uint8."""
    xs, ys = [], []
    for pre in pres:
        idx = window_index(getattr(pre, f"{split}_index"), cfg.window, cfg.offsets)
        xs.append(torch.from_numpy(pre.spikes[idx].astype(np.float32)).to(torch.uint8))
        ys.append(torch.from_numpy(pre.velocity[idx].astype(np.float32)))
    return torch.cat(xs), torch.cat(ys)


@pytest.fixture(scope="module")
def two_sessions(indy_h5):
    """The Indy fixture twice (as a two-session pretraining set) with a second, shifted copy of its arrays."""
    a = load_preprocessed(indy_h5)
    b = load_preprocessed(indy_h5)
    b.spikes = np.ascontiguousarray(np.roll(b.spikes, 7, axis=0))
    b.velocity = np.ascontiguousarray(np.roll(b.velocity, 7, axis=0))
    return [a, b]


@pytest.mark.parametrize("offsets", [(0, 100, 200, 300, 400), (0, 25), (3,)])
def test_gathered_windows_equal_the_copied_windows(two_sessions, offsets) -> None:
    cfg = TrainConfig(epochs=1, t_max=1, window=50, offsets=offsets)
    for split in ("train", "val"):
        x, y = old_windows(two_sessions, split, cfg)
        ws = stages.split_windows(two_sessions, split, cfg)
        assert len(ws) == x.shape[0] and ws.windows_per_session()[0] * 2 == len(ws)
        idx = torch.randperm(len(ws), generator=torch.Generator().manual_seed(0))
        gx, gy = ws.gather(idx)
        assert gx.dtype == torch.uint8 and gy.dtype == torch.float32
        assert torch.equal(gx, x[idx]) and torch.equal(gy, y[idx])
        assert torch.equal(ws.targets(), y)
        # the rate of the fluctuation-driven init counts each step once per covering window
        for channels in (slice(0, 96), slice(0, 10), slice(40, None)):
            assert init.input_rate_hz(ws, 0.004, channels) == init.input_rate_hz(x, 0.004, channels)


def test_window_set_holds_no_copy_of_the_windows(two_sessions) -> None:
    cfg = TrainConfig(epochs=1, t_max=1, window=50, offsets=(0, 25))
    ws = window_set(two_sessions, "train", cfg.window, cfg.offsets)
    assert np.shares_memory(ws._spikes[0].numpy(), two_sessions[0].spikes)
    assert np.shares_memory(ws._velocity[1].numpy(), two_sessions[1].velocity)
    stored = sum(t.numel() * t.element_size() for t in (ws._session, ws._start))
    assert stored == 16 * len(ws)  # two int64 per window, nothing per step


def test_training_on_the_window_set_is_bit_identical_to_the_windowed_path(two_sessions) -> None:
    """A few epochs from the same seed: same weights, same history (timings aside)."""
    cfg = TrainConfig(epochs=3, t_max=3, window=50, offsets=(0, 25), batch_size=32)
    results = []
    for data in ("old", "new"):
        if data == "old":
            train, val = old_windows(two_sessions, "train", cfg), old_windows(two_sessions, "val", cfg)
        else:
            train = stages.split_windows(two_sessions, "train", cfg)
            val = stages.split_windows(two_sessions, "val", cfg)
        torch.manual_seed(3)
        model = RSNN(96, tiny_config(hidden=16))
        info = init.fluctuation_init(model, train if data == "new" else train[0])
        hist = loop.fit(model, train, val, cfg, seed=3, device="cpu")
        results.append((info, [{k: v for k, v in e.items() if k != "seconds"} for e in hist], model.state_dict()))
    (info_a, hist_a, sd_a), (info_b, hist_b, sd_b) = results
    assert info_a == info_b and hist_a == hist_b
    for name in sd_a:
        assert torch.equal(sd_a[name], sd_b[name]), name


def test_resume_key_follows_the_spike_arrays_and_the_window_index(two_sessions) -> None:
    cfg = TrainConfig(epochs=1, t_max=1, window=50, offsets=(0, 25))
    a = stages.split_windows(two_sessions, "train", cfg)
    assert a.digest() == stages.split_windows(two_sessions, "train", cfg).digest()
    other_offsets = window_set(two_sessions, "train", 50, (0, 20))
    changed = [WindowSet([p.spikes.copy() for p in two_sessions], [p.velocity for p in two_sessions],
                         [p.train_index for p in two_sessions], 50, (0, 25))]
    changed[0]._spikes[1][100, 3] ^= 1
    assert len({a.digest(), other_offsets.digest(), changed[0].digest()}) == 3


def test_too_short_a_split_names_the_session(two_sessions) -> None:
    with pytest.raises(UserError, match=r"indy_sim_01: too little data for one .* window in the val split"):
        window_set(two_sessions, "val", window=10**6)
