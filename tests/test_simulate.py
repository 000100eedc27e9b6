"""Synthetic sessions: exact Zenodo MATLAB v7.3 layout, plausible behaviour and spikes, determinism."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from scipy.io.matlab import matfile_version

from rsnn_decoding.data import simulate


def _s(x):
    return x.decode() if isinstance(x, bytes) else str(x)


@pytest.mark.parametrize("monkey, channels", [("indy", 96), ("loco", 192)])
def test_matlab_v73_layout(monkey, channels, request):
    path = request.getfixturevalue(f"{monkey}_mat")
    head = path.read_bytes()[:512]
    assert head.startswith(b"MATLAB 7.3 MAT-file, Platform: ")
    assert head[116:124] == bytes(8) and head[124:128] == b"\x00\x02IM"
    assert head[128:] == bytes(384)
    assert matfile_version(str(path)) == (2, 0)  # scipy's reading of the header: v7.3 (HDF5)
    with h5py.File(path, "r") as f:
        assert f.userblock_size == 512
        t = f["t"][()]
        n = t.shape[1]
        assert t.shape == (1, n) and t[0, 0] >= 1.0
        np.testing.assert_allclose(np.diff(t[0]), 0.004, atol=1e-9)
        assert f["cursor_pos"].shape == (2, n) and f["target_pos"].shape == (2, n)
        assert f["finger_pos"].shape == (3, n)
        for name in ("t", "cursor_pos", "target_pos", "finger_pos"):
            assert _s(f[name].attrs["MATLAB_class"]) == "double" and f[name].dtype == np.float64
        refs = f["spikes"]
        assert refs.shape == (5, channels) and refs.dtype == h5py.ref_dtype
        assert _s(refs.attrs["MATLAB_class"]) == "cell"
        assert f["wf"].shape == (5, channels)
        kinds = {"empty": 0, "times": 0}
        for ref in refs[()].ravel():
            ds = f[ref]
            assert _s(ds.attrs["MATLAB_class"]) == "double"
            if "MATLAB_empty" in ds.attrs:
                assert ds.dtype == np.uint64 and ds[()].tolist() == [0, 0]
                kinds["empty"] += 1
            else:
                x = ds[()]
                assert ds.dtype == np.float64 and x.shape[0] == 1 and x.shape[1] >= 1
                assert np.all(np.diff(x[0]) >= 0.002 - 1 / 30000)  # refractoriness
                kinds["times"] += 1
        assert kinds["empty"] > 0 and kinds["times"] > channels
        names = ["".join(map(chr, f[r][()].ravel())) for r in f["chan_names"][()].ravel()]
        assert names[:2] == ["elec1", "elec2"] and len(names) == channels
        assert _s(f[f["chan_names"][0, 0]].attrs["MATLAB_class"]) == "char"


def test_behaviour_is_a_reaching_task():
    rng = np.random.default_rng(5)
    cursor, target = simulate.behaviour(int(300 / 0.004), rng)
    centres = (np.arange(8) - 3.5) * 25.0
    assert set(np.unique(target)) <= set(centres)
    change = np.nonzero(np.any(np.diff(target, axis=0) != 0, axis=1))[0]
    durations = np.diff(change) * 0.004
    assert 150 < change.size < 450 and durations.min() >= 0.3 and durations.max() <= 2.0 + 0.45 + 0.12 + 0.01
    speed = np.hypot(*np.gradient(cursor, axis=0).T) / 0.004  # mm/s
    peaks = [speed[a:b].max() for a, b in zip(change[:-1], change[1:], strict=True)]
    assert 100 < np.median(peaks) < 800 and np.max(peaks) < 2000
    # the reach ends within the target window: the cursor is near the target when it changes
    err = np.hypot(*(cursor[change] - target[change]).T)
    assert np.median(err) < 6.0


def test_deterministic_and_seed_dependent():
    a = simulate.simulate_session("indy", 8.0, 3)
    b = simulate.simulate_session("indy", 8.0, 3)
    c = simulate.simulate_session("indy", 8.0, 4)
    np.testing.assert_array_equal(a["cursor_pos"], b["cursor_pos"])
    for ua, ub in zip(sum(a["spikes"], []), sum(b["spikes"], []), strict=True):
        assert (ua is None and ub is None) or np.array_equal(ua, ub)
    assert not np.array_equal(a["cursor_pos"], c["cursor_pos"])


def test_tuning_shared_per_monkey_with_drift():
    base = simulate.monkey_tuning("indy")
    again = simulate.monkey_tuning("indy")
    np.testing.assert_array_equal(base.direction, again.direction)
    s1 = simulate.session_tuning(base, np.random.default_rng(1))
    s2 = simulate.session_tuning(base, np.random.default_rng(2))
    drift = np.angle(np.exp(1j * (s1.direction - s2.direction)))
    assert 0 < np.median(np.abs(drift)) < np.deg2rad(30)
    loco = simulate.monkey_tuning("loco")
    assert loco.exists.shape == (192, 5) and base.exists.shape == (96, 5)
    silent = ~base.exists.any(axis=1)
    assert 0 < silent.sum() < 10  # a few silent channels
    assert base.exists[:, 0][~silent].all()  # unit 0 (unsorted) on every live channel


def test_files_are_byte_identical_for_the_same_seed(tmp_path):
    simulate.simulate_to_mat(tmp_path / "a.mat", "loco", 5.0, 2)
    simulate.simulate_to_mat(tmp_path / "b.mat", "loco", 5.0, 2)
    assert (tmp_path / "a.mat").read_bytes() == (tmp_path / "b.mat").read_bytes()


def test_spikes_outside_the_behaviour_window(indy_mat):
    with h5py.File(indy_mat, "r") as f:
        t = f["t"][0]
        times = np.concatenate([f[r][()].ravel() for r in f["spikes"][()].ravel() if "MATLAB_empty" not in f[r].attrs])
    assert (times < t[0] - 0.004).any() and (times > t[-1]).any()


def test_tuning_transfers_across_sessions(indy_h5, tmp_path):
    from rsnn_decoding.data import preprocess
    from rsnn_decoding.evaluation import ridge
    from rsnn_decoding.metrics import r2_score

    simulate.simulate_to_mat(tmp_path / "indy_s2.mat", "indy", 40.0, 2)
    preprocess.preprocess_file(tmp_path / "indy_s2.mat", tmp_path / "indy_s2.h5")
    other = preprocess.load_preprocessed(tmp_path / "indy_s2.h5")
    dec = ridge.fit_ridge(preprocess.load_preprocessed(indy_h5))
    r2 = r2_score(other.velocity, dec.predict(other.spikes))[0]
    assert r2 > 0.25  # the same monkey's tuning, drifted: a decoder from session 1 still works
