"""Data layer: equality with neurobench 2.3.0 PrimateReaching, splits, windows, error handling."""

from __future__ import annotations

import contextlib
import io
import time

import h5py
import numpy as np
import pytest
import torch
from matwriter import edge_case_session, write_minimal_mat
from neurobench.datasets import PrimateReaching

from rsnn_decoding.data import mat as mat_reader
from rsnn_decoding.data import preprocess, windows
from rsnn_decoding.errors import UserError


def _neurobench(path):
    """neurobench's loader with the paper's settings; returns (dataset, seconds)."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        ds = PrimateReaching(
            file_path=str(path.parent),
            filename=path.name,
            num_steps=1,
            train_ratio=0.5,
            bin_width=0.004,
            biological_delay=0,
            spike_sorting=False,
            stride=0.004,
            download=False,
        )
    return ds, time.perf_counter() - start


def _assert_equal_to_neurobench(mat_path, out_h5):
    """Preprocess with both loaders and compare element for element; return both times."""
    nb, t_nb = _neurobench(mat_path)
    start = time.perf_counter()
    preprocess.preprocess_file(mat_path, out_h5)
    t_ours = time.perf_counter() - start
    pre = preprocess.load_preprocessed(out_h5)
    n = pre.spikes.shape[0]
    samples = nb.samples.numpy()
    assert samples.shape[1] in (n, n + 1)
    np.testing.assert_array_equal(pre.spikes, samples[:, :n].T.astype(np.uint8))
    assert np.array_equal(np.unique(samples), [0.0, 1.0]) or samples.max() == 0
    labels = nb.labels.numpy().T
    assert labels.dtype == pre.velocity.dtype == np.float32
    np.testing.assert_array_equal(pre.velocity, labels)
    block = np.asarray(nb.ind_train + nb.ind_val, dtype=np.int64)
    n_val = int(np.round(len(nb) * 0.1 / 0.75))
    np.testing.assert_array_equal(pre.train_index, block[: block.size - n_val])
    np.testing.assert_array_equal(pre.val_index, block[block.size - n_val :])
    np.testing.assert_array_equal(pre.test_index, np.asarray(nb.ind_test, dtype=np.int64))
    print(f"\n{mat_path.name}: neurobench {t_nb:.3f} s, rsnn_decoding {t_ours:.3f} s")
    return t_nb, t_ours


@pytest.mark.parametrize("monkey", ["indy", "loco"])
def test_simulated_sessions_equal_neurobench(monkey, request, tmp_path):
    mat = request.getfixturevalue(f"{monkey}_mat")
    _assert_equal_to_neurobench(mat, tmp_path / f"{monkey}.h5")
    pre = preprocess.load_preprocessed(tmp_path / f"{monkey}.h5")
    assert pre.monkey == monkey and pre.spikes.shape[1] == preprocess.CHANNELS[monkey]
    assert pre.spikes.any(axis=0).sum() > 0.8 * pre.spikes.shape[1]


# these t0 give both grid lengths N and N + 1 (float rounding of arange, see the next test); t0 = 0
# puts time 0 inside the grid, where neurobench counts MATLAB's empty-cell placeholder as two spikes
@pytest.mark.parametrize("t0, column_vectors", [(1.0, False), (1.236, True), (17.3372, False), (0.0, False)])
def test_edge_case_file_equals_neurobench(t0, column_vectors, tmp_path):
    s = edge_case_session(n=3000, n_channels=6, t0=t0, seed=int(t0 * 1000))
    s["target_pos"][:, 0] += 1.0  # target changes after sample 0: an empty first reach
    mat = tmp_path / "indy_edge.mat"
    write_minimal_mat(mat, s["t"], s["cursor_pos"], s["target_pos"], s["cells"], column_vectors=column_vectors)
    _assert_equal_to_neurobench(mat, tmp_path / "edge.h5")


def test_grid_length_cases_are_both_covered():
    lengths = set()
    for t0 in (1.0, 1.236, 17.3372):
        t = t0 + 0.004 * np.arange(3000)
        lengths.add(preprocess.time_grid(t).size - t.size)
    assert lengths == {0, 1}


def test_outside_spikes_counted_and_placeholders(tmp_path, caplog):
    t = 2.0 + 0.004 * np.arange(100)
    g = preprocess.time_grid(t)
    cursor = np.zeros((2, 100))
    target = np.zeros((2, 100))
    target[:, 50:] = 1.0
    cells = [[np.array([0.5, g[0], g[3] + 1e-4, g[-1], t[-1] + 0.01, 9.0]), None]]
    write_minimal_mat(tmp_path / "x.mat", t, cursor, target, cells)
    raw = mat_reader.read_mat(tmp_path / "x.mat")
    assert raw.n_channels == 2 and raw.empty_cells == 1
    np.testing.assert_array_equal(raw.spike_times[1][0], [0.0, 0.0])  # as neurobench sees it
    binned = preprocess.bin_spikes(raw)
    # inside: g[0] -> step 1, g[3]+ -> step 4, g[-1] (last bin closed) -> step len(g)-1
    expected = {1, 4, g.size - 1} - {100}
    assert set(np.nonzero(binned.spikes[:, 0])[0]) == expected
    assert not binned.spikes[:, 1].any()
    assert binned.n_outside == 3 + 2 and binned.n_placeholder_outside == 2
    with caplog.at_level("INFO", logger="rsnn_decoding.data"):
        preprocess.preprocess_file(tmp_path / "x.mat", tmp_path / "x.h5", monkey="indy")
    assert "5 spike times outside the time grid" in caplog.text


def test_velocity_is_float32_gradient():
    pos = np.array([[0.1, 0.4, 1.9, 2.0], [1e3 + 0.3, 1e3 + 0.1, 1e3 - 0.7, 1e3]])
    v = preprocess.velocity(pos)
    p32 = pos.astype(np.float32)
    expected = np.stack(
        [
            p32[:, 1] - p32[:, 0],
            (p32[:, 2] - p32[:, 0]) / 2,
            (p32[:, 3] - p32[:, 1]) / 2,
            p32[:, 3] - p32[:, 2],
        ]
    )
    np.testing.assert_array_equal(v, expected.astype(np.float32))
    assert v.shape == (4, 2) and v.dtype == np.float32


def test_reach_segments_and_split_by_hand():
    # target changes after samples 0, 3, 5, 8 -> segments [0,0) [0,3) [3,5) [5,8) [8,12)
    x = np.array([0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 4], float)
    target = np.stack([x, np.zeros_like(x)])
    np.testing.assert_array_equal(preprocess.reach_boundaries(target), [0, 3, 5, 8])
    seg = preprocess.reach_segments(target)
    np.testing.assert_array_equal(seg, [[0, 0], [0, 3], [3, 5], [5, 8], [8, 12]])
    train, val, test = preprocess.split_segments(seg)  # n = 5: train 2, val floor(3/2) = 1, test 2
    np.testing.assert_array_equal(train, [0, 1, 2])
    np.testing.assert_array_equal(val, [3, 4])
    np.testing.assert_array_equal(test, [5, 6, 7, 8, 9, 10, 11])


@pytest.mark.parametrize(
    "n_all, n_val",
    [(75, 10), (1000, 133), (1500, 200), (1125, 150), (1087, 145), (1095, 146), (1099, 147)],
)
def test_resplit_rounding(n_all, n_val):
    # n_all * 0.1 / 0.75: 1087 -> 144.933 (145), 1095 -> 146.0, 1099 -> 146.53 (147)
    block = np.arange(int(n_all * 0.75))
    test = np.arange(block.size, n_all)
    train, val, test2 = preprocess.resplit(block[:10], block[10:], test)
    assert val.size == n_val
    np.testing.assert_array_equal(np.concatenate([train, val]), block)
    np.testing.assert_array_equal(test2, test)


def test_window_index_by_hand():
    idx = np.arange(100, 1330)  # 1230 steps
    w = windows.window_index(idx, window=500, offsets=(0, 100, 200, 300, 400))
    # offset 0: 1230 -> pieces 500,500,230 -> 2 windows; 100: 1130 -> 2; 200: 1030 -> 2;
    # 300: 930 -> 500,430 -> 1; 400: 830 -> 1  => 8 windows, offset-major
    starts = [100, 600, 200, 700, 300, 800, 400, 500]
    assert w.shape == (8, 500) and w.dtype == np.int64
    np.testing.assert_array_equal(w[:, 0], starts)
    np.testing.assert_array_equal(w[3], np.arange(700, 1200))
    # a complete last piece is dropped too: 1000 steps -> 1 window at offset 0
    w2 = windows.window_index(np.arange(1000), window=500, offsets=(0,))
    np.testing.assert_array_equal(w2, np.arange(500)[None])
    assert windows.window_index(np.arange(500), 500, (0,)).shape == (0, 500)
    assert windows.window_index(np.arange(501), 500, (0,)).shape == (1, 500)


def _toy_pre(n=3000, c=4, session="toy"):
    """A synthetic Preprocessed object."""
    rng = np.random.default_rng(0)
    return preprocess.Preprocessed(
        session=session,
        monkey="indy",
        dt=0.004,
        source_sha256="x",
        spikes=(rng.random((n, c)) < 0.2).astype(np.uint8),
        velocity=rng.normal(size=(n, 2)).astype(np.float32),
        train_index=np.arange(0, 1900),
        val_index=np.arange(1900, 2300),
        test_index=np.arange(2300, n),
    )


def test_windows_content_and_concat():
    pre = _toy_pre()
    x, y = windows.windows(pre, "train")
    idx = windows.window_index(pre.train_index)
    assert x.shape == (idx.shape[0], 500, 4) and y.shape == (idx.shape[0], 500, 2)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    np.testing.assert_array_equal(x[2].numpy(), pre.spikes[idx[2]].astype(np.float32))
    np.testing.assert_array_equal(y[2].numpy(), pre.velocity[idx[2]])
    pre2 = _toy_pre(session="b")
    pre2.velocity = pre2.velocity + 1
    xc, yc = windows.concat_windows([pre, pre2], "train")
    assert xc.shape[0] == 2 * x.shape[0]
    np.testing.assert_array_equal(yc[x.shape[0] :].numpy(), y.numpy() + 1)
    with pytest.raises(UserError, match="toy: too little data for one 2 s window"):
        windows.windows(pre, "val")  # 400 validation steps


def test_preprocessed_file_contract(indy_h5):
    with h5py.File(indy_h5, "r") as f:
        assert f["spikes"].dtype == np.uint8 and f["velocity"].dtype == np.float32
        for k in ("train_index", "val_index", "test_index"):
            assert f[k].dtype == np.int64
        assert f.attrs["session"] == "indy_sim_01" and f.attrs["monkey"] == "indy"
        assert f.attrs["dt"] == 0.004 and len(f.attrs["source_sha256"]) == 64
    pre = preprocess.load_preprocessed(indy_h5)
    n = pre.spikes.shape[0]
    allidx = np.concatenate([pre.train_index, pre.val_index, pre.test_index])
    np.testing.assert_array_equal(allidx, np.arange(n))
    assert 0.55 < pre.train_index.size / n < 0.7 and 0.08 < pre.val_index.size / n < 0.18
    assert len(pre.sha256) == 64


# ----------------------------------------------------------------------------- bad inputs


def _simple_cells():
    return [[np.array([1.5, 1.6]), None], [None, np.array([1.7])]]


def _expect_user_error(fn, match, out):
    """fn raises a one-line UserError matching `match` and leaves no output file."""
    with pytest.raises(UserError, match=match) as info:
        fn()
    assert "\n" not in str(info.value)
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*"))


def test_truncated_file(indy_mat, tmp_path):
    bad = tmp_path / "indy_trunc.mat"
    bad.write_bytes(indy_mat.read_bytes()[:200_000])
    out = tmp_path / "o.h5"
    _expect_user_error(lambda: preprocess.preprocess_file(bad, out), "indy_trunc.mat", out)


def test_not_hdf5(tmp_path):
    bad = tmp_path / "indy_text.mat"
    bad.write_text("this is not a MATLAB file\n" * 50)
    out = tmp_path / "o.h5"
    _expect_user_error(lambda: preprocess.preprocess_file(bad, out), "indy_text.mat: not a readable", out)


@pytest.mark.parametrize("missing", ["t", "cursor_pos", "target_pos", "spikes"])
def test_missing_variable(missing, tmp_path):
    t = 1.0 + 0.004 * np.arange(50)
    mat = tmp_path / "indy_m.mat"
    write_minimal_mat(mat, t, np.zeros((2, 50)), np.zeros((2, 50)), _simple_cells(), omit=(missing,))
    out = tmp_path / "o.h5"
    _expect_user_error(lambda: preprocess.preprocess_file(mat, out), f"indy_m.mat: variable '{missing}' missing", out)


def test_wrong_channel_count(tmp_path):
    t = 1.0 + 0.004 * np.arange(50)
    mat = tmp_path / "indy_c.mat"
    write_minimal_mat(mat, t, np.zeros((2, 50)), np.zeros((2, 50)), _simple_cells())
    out = tmp_path / "o.h5"
    _expect_user_error(
        lambda: preprocess.preprocess_file(mat, out, expected_channels=96),
        "indy_c.mat: found 2 channels, expected 96",
        out,
    )
    other = tmp_path / "session_c.mat"  # neither indy_/loco_ name nor 96/192 channels
    other.write_bytes(mat.read_bytes())
    _expect_user_error(
        lambda: preprocess.preprocess_file(other, tmp_path / "x.h5"), "cannot tell the monkey", tmp_path / "x.h5"
    )


def test_empty_session(tmp_path):
    mat = tmp_path / "indy_e.mat"
    write_minimal_mat(mat, np.zeros(0), np.zeros((2, 0)), np.zeros((2, 0)), _simple_cells())
    out = tmp_path / "o.h5"
    _expect_user_error(lambda: preprocess.preprocess_file(mat, out), "indy_e.mat: empty session", out)


def test_inconsistent_shapes(tmp_path):
    t = 1.0 + 0.004 * np.arange(50)
    mat = tmp_path / "indy_s.mat"
    write_minimal_mat(mat, t, np.zeros((2, 49)), np.zeros((2, 50)), _simple_cells())
    out = tmp_path / "o.h5"
    _expect_user_error(lambda: preprocess.preprocess_file(mat, out), "indy_s.mat: inconsistent shapes", out)


def test_load_preprocessed_errors(tmp_path, indy_h5):
    with pytest.raises(UserError, match="not found"):
        preprocess.load_preprocessed(tmp_path / "none.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"garbage" * 100)
    with pytest.raises(UserError, match="bad.h5: not a readable HDF5"):
        preprocess.load_preprocessed(bad)
    partial = tmp_path / "partial.h5"
    with h5py.File(indy_h5, "r") as src, h5py.File(partial, "w") as dst:
        for k in ("spikes", "velocity", "train_index", "val_index"):
            dst[k] = src[k][()]
    with pytest.raises(UserError, match="partial.h5: dataset 'test_index' missing"):
        preprocess.load_preprocessed(partial)


@pytest.mark.parametrize("t0", [1.0, 1.236, 123.4567])
def test_bin_assignment_matches_numpy_histogram(t0):
    rng = np.random.default_rng(3)
    t = t0 + 0.004 * np.arange(2000)
    g = preprocess.time_grid(t)
    x = np.concatenate(
        [
            rng.uniform(g[0] - 0.5, g[-1] + 0.5, 20000),
            g,
            np.nextafter(g, -np.inf),
            np.nextafter(g, np.inf),
            [np.nan, 0.0, -1.0],
        ]
    )
    k = preprocess._bin_of(x, g)
    counts, _ = np.histogram(x, bins=g)
    np.testing.assert_array_equal(np.bincount(k[k >= 0], minlength=g.size - 1), counts)
    for i in rng.choice(x.size, 300, replace=False).tolist() + list(range(x.size - 3, x.size)):
        one, _ = np.histogram(x[i : i + 1], bins=g)
        hit = np.nonzero(one)[0]
        assert k[i] == (hit[0] if hit.size else -1)


def test_placeholder_counts_as_spikes_at_zero_like_neurobench(tmp_path):
    # t[0] = 0.002: the grid starts at -0.002, so the [0, 0] placeholder falls in bin 0 -> step 1
    t = 0.002 + 0.004 * np.arange(60)
    cells = [[np.array([0.1]), None, "zero"]]
    write_minimal_mat(tmp_path / "indy_z.mat", t, np.zeros((2, 60)), np.zeros((2, 60)), cells)
    binned = preprocess.bin_spikes(mat_reader.read_mat(tmp_path / "indy_z.mat"))
    assert np.nonzero(binned.spikes[:, 1])[0].tolist() == [1]
    assert not binned.spikes[:, 2].any() and binned.n_outside == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nonfinite_cursor_pos_stops_naming_file_and_variable(tmp_path, bad):
    s = edge_case_session(n=1500, n_channels=4, t0=1.0, seed=5)
    s["cursor_pos"][1, 700] = bad
    mat = tmp_path / "indy_nan.mat"
    write_minimal_mat(mat, s["t"], s["cursor_pos"], s["target_pos"], s["cells"])
    nb, _ = _neurobench(mat)  # the oracle: NeuroBench keeps the non-finite labels it computes
    labels = nb.labels.numpy().T
    steps = np.unique(np.argwhere(~np.isfinite(labels))[:, 0])
    assert steps.tolist() == [699, 701]  # central differences around the bad sample
    out = tmp_path / "o.h5"
    _expect_user_error(
        lambda: preprocess.preprocess_file(mat, out),
        r"indy_nan\.mat: 'velocity' computed from variable 'cursor_pos' holds 2 non-finite value\(s\) "
        r"\(first at step 699\)",
        out,
    )
