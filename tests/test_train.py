"""Training stage: init, loss, metric, epoch loop, entry points (hand-computed oracles)."""

from __future__ import annotations

import json
import logging
import math

import h5py
import numpy as np
import pytest
import torch

from rsnn_decoding.errors import UserError
from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training import check, checkpoint, init, loop, stages
from rsnn_decoding.training import loss as train_loss
from rsnn_decoding.training.config import TrainConfig

torch.set_num_threads(1)


def small_cfg(**kw) -> TrainConfig:
    """A cheap training config: 50-step windows, 2 epochs."""
    base = {"epochs": 2, "t_max": 2, "window": 50, "offsets": (0, 25), "batch_size": 64}
    base.update(kw)
    return TrainConfig(**base)


# ----------------------------------------------------------------------------- config


def test_train_config_roundtrip_and_model_defaults() -> None:
    cfg = small_cfg(lr=1e-3)
    again = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert TrainConfig.for_model("tinyRSNN", 200, 200).upper_reg_strength == 0.01
    assert TrainConfig.for_model("bigRSNN", 100, 200).upper_reg_strength == 0.0
    with pytest.raises(ValueError):
        TrainConfig.from_dict({**cfg.to_dict(), "bogus": 1})


# ----------------------------------------------------------------------------- init


def test_input_rate_by_hand() -> None:
    x = torch.zeros(2, 500, 100)
    x[0, :96, :96] = torch.eye(96)  # 96 spikes in window 0 on channels 0..95
    x[1, :192, :96] = torch.cat([torch.eye(96), torch.eye(96)])  # 192 spikes in window 1
    x[:, :, 96:] = 1.0  # channels beyond 95 are ignored
    # mean count per window = 144 spikes / 2.0 s / 96 channels = 0.75 Hz
    assert init.input_rate_hz(x) == pytest.approx(0.75, rel=1e-12)


def test_loco_column_ratio_by_hand() -> None:
    x = torch.zeros(1, 500, 192)
    x[0, :10, :96] = 1.0  # 960 spikes on the first 96 channels
    x[0, :30, 96:] = 1.0  # 2880 on the last 96
    assert init.loco_column_ratio(x) == pytest.approx(3.0, rel=1e-12)


def test_epsilon_hat_tiny_kernel_by_hand() -> None:
    tau = 1.0 / math.log(2.0)  # a_m = a_s = 0.5 with dt = 1
    # k = [0, 0.5*0 + 0.5*1, 0.5*0.5 + 0.5*0.5, 0.5*0.5 + 0.5*0.25] = [0, 0.5, 0.5, 0.375]
    assert init.psp_kernel(1.0, tau, tau, 4) == pytest.approx([0.0, 0.5, 0.5, 0.375], abs=1e-15)
    assert init.psp_epsilon_hat(1.0, tau, tau, 3) == pytest.approx(0.5, abs=1e-15)
    assert init.psp_epsilon_hat(1.0, tau, tau, 4) == pytest.approx(0.640625, abs=1e-15)


def test_epsilon_hat_paper_taus_closed_form() -> None:
    dt, tm, ts = 0.004, 0.020, 0.010
    am, as_ = math.exp(-dt / tm), math.exp(-dt / ts)
    # k_i = (1 - a_m) (a_m^i - a_s^i) / (a_m - a_s), 50 terms (10 * 20 ms / 4 ms)
    ks = [(1 - am) * (am**i - as_**i) / (am - as_) for i in range(50)]
    assert len(init.psp_kernel(dt, tm, ts)) == 50
    assert init.psp_epsilon_hat(dt, tm, ts) == pytest.approx(dt * sum(k * k for k in ks), rel=1e-12)


def _rate_windows(n: int, c: int, p_first: float, p_rest: float, seed: int = 0) -> torch.Tensor:
    """Bernoulli windows (n, 500, c): spike probability p_first on channels 0..95, p_rest beyond."""
    g = torch.Generator().manual_seed(seed)
    probs = torch.full((c,), p_first)
    probs[96:] = p_rest
    return (torch.rand(n, 500, c, generator=g) < probs).float()


def test_fluctuation_init_std_matches_formula() -> None:
    x = _rate_windows(20, 96, 0.04, 0.0)
    hidden = 512
    model = RSNN(96, tiny_config(hidden=hidden))
    info = init.fluctuation_init(model, x, 0.5, 0.9, 0.1, torch.Generator().manual_seed(3))
    nu = float(x.sum()) / 20 / 2.0 / 96
    eps_hat = init.psp_epsilon_hat(0.004, 0.02, 0.01)
    assert info["nu_hz"] == pytest.approx(nu, rel=1e-12)
    want_ff = math.sqrt(0.9 * 0.25 / (96 * nu * eps_hat))
    want_rec = math.sqrt(0.1 * 0.25 / (hidden * nu * eps_hat))
    assert info["sigma_ff"] == pytest.approx(want_ff, rel=1e-12)
    w_in, w_rec, w_out = (w.detach().double() for w in model.weight_matrices())
    assert float(w_in.std()) == pytest.approx(want_ff, rel=0.02)  # 49152 samples
    assert float(w_rec.std()) == pytest.approx(want_rec, rel=0.02)  # 262144 samples
    assert float(w_out.std()) == pytest.approx(1 / math.sqrt(hidden), rel=0.08)  # 1024 samples
    assert abs(float(w_in.mean())) < 0.05 * want_ff


def test_fluctuation_init_loco_columns_scaled() -> None:
    x = _rate_windows(10, 192, 0.02, 0.08)
    model = RSNN(192, tiny_config(hidden=256))
    info = init.fluctuation_init(model, x, generator=torch.Generator().manual_seed(0))
    ratio = float(x[..., 96:].sum()) / float(x[..., :96].sum())
    assert info["loco_ratio"] == pytest.approx(ratio, rel=1e-9)
    w = model.fc_in.weight.detach().double()
    assert float(w[:, 96:].std() / w[:, :96].std()) == pytest.approx(1 / ratio, rel=0.05)


def test_fluctuation_init_without_spikes_is_user_error() -> None:
    with pytest.raises(UserError, match="no spikes"):
        init.fluctuation_init(RSNN(96, tiny_config()), torch.zeros(2, 50, 96))


# ----------------------------------------------------------------------------- loss and R2


def test_loss_parts_by_hand() -> None:
    y = torch.zeros(2, 1, 2)
    target = torch.tensor([[[3.0, 4.0]], [[3.0, 4.0]]])
    counts = torch.tensor([[0.0, 5.0], [30.0, 0.0]])
    loss, parts = train_loss.loss_fn(y, target, counts, small_cfg())
    # RMSE: sqrt((9 + 16 + 9 + 16) / 4); lower: 100 * mean([1e-6, 0, 0, 1e-6]);
    # upper: 0.01 * mean([relu(2.5 - 10)^2, relu(15 - 10)^2]) = 0.01 * 12.5
    assert parts["rmse"] == pytest.approx(math.sqrt(12.5), rel=1e-6)
    assert parts["lower"] == pytest.approx(5e-5, rel=1e-4)
    assert parts["upper"] == pytest.approx(0.125, rel=1e-6)
    assert float(loss) == pytest.approx(math.sqrt(12.5) + 5e-5 + 0.125, rel=1e-6)
    _, parts0 = train_loss.loss_fn(y, target, counts, small_cfg(upper_reg_strength=0.0))
    assert parts0["upper"] == 0.0


def test_batch_r2_by_hand_with_rounding() -> None:
    target = torch.tensor([[[0.0, 1.0], [0.0, -1.0]], [[0.0, 1.0], [3.0, -1.0]]])
    pred = torch.tensor([[[0.0, 0.6], [0.0, -1.0]], [[0.0, 1.0], [2.0, -1.0]]])
    # x: SSR = 1, mean 0.75, SST = 3 * 0.5625 + 5.0625 = 6.75 -> 0.85185 -> 0.852
    # y: SSR = 0.16, SST = 4 -> 0.96; mean (0.851852 + 0.96) / 2 = 0.905926 -> 0.906
    assert train_loss.batch_r2(pred, target) == (0.906, 0.852, 0.96)


def test_sequence_r2_of_perfect_and_mean_prediction() -> None:
    t = torch.randn(100, 2)
    assert check.sequence_r2(t, t) == 1.0
    assert check.sequence_r2(t.mean(0).expand_as(t), t) == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- fit


def _windows(n: int, c: int = 96, t: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random binary inputs and smooth targets."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, t, c, generator=g) < 0.1).float()
    y = torch.sin(torch.linspace(0, 6, t))[None, :, None].repeat(n, 1, 2) + 0.1 * torch.randn(n, t, 2, generator=g)
    return x, y


def _model(seed: int = 0) -> RSNN:
    torch.manual_seed(seed)
    m = RSNN(96, tiny_config(hidden=16))
    init.fluctuation_init(m, _windows(4)[0])
    return m


def test_fit_batches_history_schedule_and_log(caplog: pytest.LogCaptureFixture) -> None:
    model = _model()
    calls: list[tuple[bool, int]] = []
    run = model.run

    def counting_run(x):
        calls.append((model.training, x.shape[0]))
        return run(x)

    model.run = counting_run
    cfg = small_cfg(epochs=3, t_max=4, batch_size=3)
    with caplog.at_level(logging.INFO, logger="rsnn_decoding.train"):
        hist = loop.fit(model, _windows(7), _windows(4, seed=1), cfg, seed=0, device="cpu")
    # 7 windows in batches of 3 -> 3 updates (last partial batch kept); 4 val windows -> 2 eval batches
    assert [b for tr, b in calls if tr] == [3, 3, 1] * 3
    assert [b for tr, b in calls if not tr] == [3, 1] * 3
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert [h["lr"] for h in hist] == pytest.approx([2e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(3)])
    for h in hist:
        assert set(h) == {"epoch", "lr", "loss_total", "rmse", "lower", "upper", "train_r2", "train_r2_x",
                          "train_r2_y", "hidden_rate_hz", "val_loss_total", "val_rmse", "val_lower", "val_upper",
                          "val_r2", "val_r2_x", "val_r2_y"}
        assert "seconds" not in h  # wall-clock time goes to the log only (byte-reproducible histories)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3 loss_total ") and "ETA" in lines[-1]


def test_fit_history_validation_terms_match_a_recomputation() -> None:
    # thresholds that make both regularisers non-zero on this small network
    cfg = small_cfg(epochs=1, t_max=1, batch_size=3, lower_reg_threshold=2.0, upper_reg_threshold=0.0,
                    upper_reg_strength=0.5)
    model = _model()
    (last,) = loop.fit(model, _windows(5), _windows(4, seed=1), cfg, seed=0, device="cpu")
    # oracle: the final model in eval mode on the validation batches [0:3] and [3:4], in float64 numpy
    x, y = _windows(4, seed=1)
    model.eval()
    terms = []
    with torch.no_grad():
        for sl in (slice(0, 3), slice(3, 4)):
            out = model.run(x[sl])
            err = out.y.double().numpy() - y[sl].double().numpy()
            counts = out.spike_counts.double().numpy()  # (batch, hidden) spikes per window
            rmse = math.sqrt(float(np.mean(err**2)))
            lower = 100.0 * float(np.mean(np.maximum(2.0 - counts, 0.0) ** 2))
            upper = 0.5 * float(np.mean(np.maximum(counts.mean(axis=1), 0.0) ** 2))
            terms.append((rmse, lower, upper))
    rmse, lower, upper = (sum(t[i] for t in terms) / 2 for i in range(3))
    assert lower > 0.0 and upper > 0.0
    assert last["val_rmse"] == pytest.approx(rmse, rel=1e-5)
    assert last["val_lower"] == pytest.approx(lower, rel=1e-5)
    assert last["val_upper"] == pytest.approx(upper, rel=1e-5)
    assert last["val_loss_total"] == pytest.approx(rmse + lower + upper, rel=1e-5)
    # training: the total is the sum of its logged terms, each a mean over the epoch's two minibatches
    assert last["loss_total"] == pytest.approx(last["rmse"] + last["lower"] + last["upper"], rel=1e-5)


def test_fit_gradient_masks_keep_zeros() -> None:
    model = _model()
    mask = (torch.rand(model.fc_rec.weight.shape, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    with torch.no_grad():
        model.fc_rec.weight.mul_(mask)
    before_in = model.fc_in.weight.detach().clone()
    loop.fit(model, _windows(6), _windows(3), small_cfg(), seed=0, device="cpu",
              grad_masks={"fc_rec.weight": mask})
    w = model.fc_rec.weight.detach()
    assert torch.all(w[mask == 0] == 0)
    assert torch.all(w[mask == 1] != 0)
    assert not torch.equal(model.fc_in.weight.detach(), before_in)


def test_fit_nonfinite_names_epoch_and_parameter() -> None:
    model = _model()
    with torch.no_grad():
        model.fc_in.weight[0, 0] = float("nan")
    with pytest.raises(UserError, match=r"epoch 1.*fc_in\.weight"):
        loop.fit(model, _windows(4), _windows(2), small_cfg(), seed=0, device="cpu")


def test_fit_nonfinite_target_is_user_error() -> None:
    x, y = _windows(4)
    y[0, 0, 0] = float("inf")
    with pytest.raises(UserError, match="epoch 1.*non-finite"):
        loop.fit(_model(), (x, y), _windows(2), small_cfg(), seed=0, device="cpu")


def test_fit_ignores_state_of_a_different_run(tmp_path) -> None:
    state = tmp_path / "state.pt"
    loop.fit(_model(), _windows(4), _windows(2), small_cfg(epochs=2), seed=0, device="cpu", state_path=state)
    hist = loop.fit(_model(), _windows(4), _windows(2), small_cfg(epochs=2), seed=1, device="cpu",
                     state_path=state)
    assert len(hist) == 2  # seed differs: trained from epoch 1, not resumed
    done = loop.fit(_model(), _windows(4), _windows(2), small_cfg(epochs=2), seed=1, device="cpu",
                     state_path=state)
    assert done == hist  # same run: resumed after the last epoch, nothing retrained


# ----------------------------------------------------------------------------- entry points


def _pretrain(h5: str, out, seed: int = 1, **kw) -> None:
    stages.pretrain([h5], tiny_config(hidden=16), small_cfg(**kw), seed, out / "pre.pt", out / "pre.json",
                   out / "state" / "pre.pt", device="cpu")


def test_pretrain_is_deterministic_and_self_describing(indy_h5, tmp_path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    _pretrain(indy_h5, a)
    _pretrain(indy_h5, b)
    _pretrain(indy_h5, c, seed=2)
    ma, meta = checkpoint.load(a / "pre.pt")
    mb, _ = checkpoint.load(b / "pre.pt")
    mc, _ = checkpoint.load(c / "pre.pt")
    for k, v in ma.state_dict().items():
        assert torch.equal(v, mb.state_dict()[k]), k
    assert not torch.equal(ma.fc_in.weight, mc.fc_in.weight)
    assert meta["stage"] == "pretrain" and meta["monkey"] == "indy" and meta["seed"] == 1
    hist = json.loads((a / "pre.json").read_text())
    assert len(hist["epochs"]) == 2 and meta["metrics"]["train_r2"] == hist["epochs"][-1]["train_r2"]
    assert not (a / "state" / "pre.pt").exists()  # the epoch checkpoint is removed once outputs exist


def test_two_training_runs_give_identical_checkpoint_and_history_bytes(indy_h5, tmp_path) -> None:
    import hashlib

    a, b = tmp_path / "a", tmp_path / "b"
    _pretrain(indy_h5, a)
    _pretrain(indy_h5, b)
    digest = [hashlib.sha256((d / "pre.pt").read_bytes()).hexdigest() for d in (a, b)]
    assert digest[0] == digest[1]
    assert (a / "pre.json").read_bytes() == (b / "pre.json").read_bytes()


def test_finetune_starts_from_pretrained_weights(indy_h5, tmp_path) -> None:
    _pretrain(indy_h5, tmp_path)
    cfg = small_cfg(epochs=1, t_max=200)
    stages.finetune(tmp_path / "pre.pt", indy_h5, cfg, 3, tmp_path / "ft.pt", tmp_path / "ft.json",
                   tmp_path / "state" / "ft.pt", device="cpu")
    assert not (tmp_path / "state" / "ft.pt").exists()
    pre, _ = checkpoint.load(tmp_path / "pre.pt")
    ft, meta = checkpoint.load(tmp_path / "ft.pt")
    assert meta["stage"] == "finetune" and meta["seed"] == 3 and "train_r2" in meta["metrics"]
    hist = json.loads((tmp_path / "ft.json").read_text())
    assert hist["epochs"][0]["lr"] == 2e-3  # fresh schedule
    delta = (ft.fc_in.weight - pre.fc_in.weight).detach().abs().max()
    assert 0 < float(delta) < 0.1  # one epoch of small steps away from the pretrained weights


def test_finetune_wrong_channel_count_is_user_error(indy_h5, loco_h5, tmp_path) -> None:
    _pretrain(indy_h5, tmp_path)
    with pytest.raises(UserError, match="input channels"):
        stages.finetune(tmp_path / "pre.pt", loco_h5, small_cfg(), 1, tmp_path / "ft.pt", tmp_path / "ft.json",
                       tmp_path / "st.pt", device="cpu")
    assert not (tmp_path / "ft.pt").exists()


def test_pretrain_mixed_monkeys_is_user_error(indy_h5, loco_h5, tmp_path) -> None:
    with pytest.raises(UserError, match="mixed monkeys"):
        stages.pretrain([indy_h5, loco_h5], tiny_config(hidden=8), small_cfg(), 1, tmp_path / "p.pt",
                       tmp_path / "p.json", tmp_path / "s.pt", device="cpu")


def test_too_little_data_is_user_error(indy_h5, tmp_path) -> None:
    with pytest.raises(UserError, match="too little data|window"):
        _pretrain(indy_h5, tmp_path, window=10_000_000)
    assert not (tmp_path / "pre.pt").exists()


def test_learning_check_reports_test_r2(indy_h5) -> None:
    res = check.learning_check(indy_h5, "tinyRSNN", epochs=1, seed=1, hidden=16, device="cpu")
    from rsnn_decoding.data.preprocess import load_preprocessed

    pre = load_preprocessed(indy_h5)
    assert res["test_steps"] == len(pre.test_index) and res["hidden"] == 16
    assert math.isfinite(res["test_r2"]) and res["test_r2"] <= 1.0
    assert abs(res["constant_predictor_test_r2"]) < 0.1  # training mean on the test block: about 0


def test_train_check_cli_parses() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    check.register_cli(parser.add_subparsers())
    args = parser.parse_args(["train-check", "s.h5", "--model", "bigRSNN", "--hidden", "128", "--epochs", "3"])
    assert (args.session, args.model, args.hidden, args.epochs) == ("s.h5", "bigRSNN", 128, 3)
    assert args.func is check._train_check_cli


def test_nonfinite_loss_names_stage_sessions_and_epoch(indy_h5, tmp_path) -> None:
    _pretrain(indy_h5, tmp_path)
    bad = tmp_path / "bad.h5"
    bad.write_bytes(indy_h5.read_bytes())
    with h5py.File(bad, "r+") as f:
        vel = f["velocity"][()]
        vel[f["train_index"][()][:5]] = np.inf  # a non-finite target in the first training windows
        f["velocity"][...] = vel
    with pytest.raises(UserError) as err:
        stages.finetune(tmp_path / "pre.pt", bad, small_cfg(epochs=1), 3, tmp_path / "ft.pt", tmp_path / "ft.json",
                       tmp_path / "state.pt", device="cpu")
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("finetune tinyRSNN seed 3 on indy_sim_01: training epoch 1: loss became non-finite")
    with pytest.raises(UserError, match=r"^pretrain tinyRSNN seed 1 on indy_sim_01: training epoch 1: loss"):
        stages.pretrain([bad], tiny_config(hidden=16), small_cfg(), 1, tmp_path / "p2.pt", tmp_path / "p2.json",
                       tmp_path / "s2.pt", device="cpu")
