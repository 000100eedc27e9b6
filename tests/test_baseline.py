"""Ridge (Wiener filter) baseline: features by hand, closed-form oracle, JSON round trip, real decoding."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rsnn_decoding import metrics
from rsnn_decoding.data import preprocess
from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import ridge


def test_lagged_features_by_hand():
    s = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=np.uint8)
    f = ridge.lagged_features(s, lags=3)
    expected = np.array(
        [
            [0, 0, 0, 0, 1, 0],  # bins t-2, t-1, t (channel-minor); zeros before the start
            [0, 0, 1, 0, 0, 1],
            [1, 0, 0, 1, 1, 1],
            [0, 1, 1, 1, 0, 0],
        ]
    )
    np.testing.assert_array_equal(f, expected)


def test_r2_by_hand():
    y = np.array([[1.0, 0.0], [2.0, 2.0], [3.0, 4.0]])
    p = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
    # x: SSR 1, SST 2 -> 0.5; y: SSR 1, SST 8 -> 0.875
    assert metrics.r2_score(y, p) == pytest.approx((0.6875, 0.5, 0.875))


def _pre(n=4000, c=5, seed=0):
    rng = np.random.default_rng(seed)
    spikes = (rng.random((n, c)) < 0.3).astype(np.uint8)
    w = rng.normal(size=(3 * c, 2))
    y = ridge.lagged_features(spikes, 3) @ w + np.array([0.5, -1.0]) + rng.normal(0, 0.3, (n, 2))
    return preprocess.Preprocessed(
        session="toy",
        monkey="indy",
        dt=0.004,
        source_sha256="",
        spikes=spikes,
        velocity=y.astype(np.float32),
        train_index=np.arange(int(0.625 * n)),
        val_index=np.arange(int(0.625 * n), int(0.75 * n)),
        test_index=np.arange(int(0.75 * n), n),
    ), w


def test_fit_matches_closed_form_ridge():
    pre, _ = _pre()
    alpha = 7.0
    dec = ridge.fit_ridge(pre, lags=3, alphas=(alpha,))
    x = ridge.lagged_features(pre.spikes[pre.train_index], 3).astype(np.float64)
    y = pre.velocity[pre.train_index].astype(np.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ yc)
    np.testing.assert_allclose(dec.coef, coef, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dec.intercept, y.mean(0) - x.mean(0) @ coef, rtol=1e-6, atol=1e-8)


def test_alpha_chosen_on_validation_and_recovers_weights():
    pre, w = _pre()
    dec = ridge.fit_ridge(pre, lags=3, alphas=(1e-2, 1.0, 1e5))
    assert dec.alpha in (1e-2, 1.0)
    np.testing.assert_allclose(dec.coef, w, atol=0.1)
    vx = pre.spikes[pre.val_index]
    assert dec.metrics["val_r2"] == pytest.approx(metrics.r2_score(pre.velocity[pre.val_index], dec.predict(vx))[0])
    scores = ridge.evaluate_ridge(dec, pre)
    assert scores["test"]["r2"] > 0.9


def test_json_round_trip_and_bad_inputs():
    pre, _ = _pre()
    dec = ridge.fit_ridge(pre, lags=3)
    back = ridge.RidgeDecoder.from_dict(json.loads(json.dumps(dec.to_dict())))
    np.testing.assert_array_equal(back.predict(pre.spikes), dec.predict(pre.spikes))
    assert back.alpha == dec.alpha and back.lags == 3 and back.n_inputs == 5
    with pytest.raises(UserError, match="expected \\(N, 5\\)"):
        dec.predict(np.zeros((10, 4)))
    with pytest.raises(UserError, match="malformed"):
        ridge.RidgeDecoder.from_dict({"coef": []})


def test_decodes_simulated_indy(indy_h5):
    pre = preprocess.load_preprocessed(indy_h5)
    dec = ridge.fit_ridge(pre)
    scores = ridge.evaluate_ridge(dec, pre)
    print(f"\nridge on 100 s simulated Indy: val {scores['val']['r2']:.3f} test {scores['test']['r2']:.3f}")
    assert 0.2 < scores["test"]["r2"] < 0.9


def test_predict_equals_explicit_features():
    pre, _ = _pre(n=700, c=3)
    dec = ridge.fit_ridge(pre, lags=4, alphas=(0.5,))
    x = pre.spikes[:37]  # also shorter than two windows of lags
    expected = ridge.lagged_features(x, 4).astype(np.float64) @ dec.coef + dec.intercept
    np.testing.assert_allclose(dec.predict(x), expected.astype(np.float32), rtol=1e-6, atol=1e-6)
