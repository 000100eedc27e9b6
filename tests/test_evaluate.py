"""NeuroBench evaluation: streaming, metric cross-checks against independent counts, CLI errors, ridge."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from rsnn_decoding import metrics
from rsnn_decoding.data.preprocess import Preprocessed
from rsnn_decoding.errors import UserError, run_cli
from rsnn_decoding.evaluation import jobs, neurobench, ridge
from rsnn_decoding.evaluation import ridge as ridge_module
from rsnn_decoding.network.config import ModelConfig, big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN, reference_run
from rsnn_decoding.training import checkpoint

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- helpers


def small_net(n_inputs: int = 6, hidden: int = 12, heads: int = 1, seed: int = 0) -> RSNN:
    """Random small RSNN whose hidden neurons do spike (float32)."""
    torch.manual_seed(seed)
    all_heads = ((10.0, 50.0), (5.0, 20.0), (20.0, 20.0))
    cfg = ModelConfig(name="tinyRSNN", hidden=hidden, heads=all_heads[:heads])
    model = RSNN(n_inputs, cfg).eval()
    with torch.no_grad():
        model.fc_in.weight.normal_(0.0, 2.0)
        model.fc_rec.weight.normal_(0.0, 0.5)
        model.fc_out.weight.normal_(0.0, 0.05)
        for w in model.weight_matrices():  # some exact zeros, as after pruning
            w[torch.rand_like(w) < 0.3] = 0.0
    return model


def make_session(n_steps: int = 700, n_inputs: int = 6, seed: int = 1, session: str = "indy_test",
                 monkey: str = "indy") -> Preprocessed:
    """Synthetic preprocessed session: train / val / test blocks, velocity driven by the spikes."""
    rng = np.random.default_rng(seed)
    spikes = (rng.random((n_steps, n_inputs)) < 0.2).astype(np.uint8)
    kernel = np.exp(-np.arange(25) / 8.0)
    drive = np.stack([np.convolve(spikes[:, c], kernel)[:n_steps] for c in range(n_inputs)], axis=1)
    noise = rng.normal(0, 0.05, (n_steps, 2))
    vel = (drive @ rng.normal(size=(n_inputs, 2)) * 0.1 + noise).astype(np.float32)
    n_train, n_val = int(n_steps * 0.6), int(n_steps * 0.15)
    idx = np.arange(n_steps, dtype=np.int64)
    return Preprocessed(session=session, monkey=monkey, dt=0.004, source_sha256="0" * 64, spikes=spikes,
                        velocity=vel, train_index=idx[:n_train], val_index=idx[n_train:n_train + n_val],
                        test_index=idx[n_train + n_val:])


def write_session(path: Path, pre: Preprocessed) -> Path:
    """Write a Preprocessed in the .h5 data contract (docs/ARCHITECTURE.md)."""
    with h5py.File(path, "w") as f:
        for name in ("spikes", "velocity", "train_index", "val_index", "test_index"):
            f.create_dataset(name, data=getattr(pre, name))
        f.attrs["session"] = pre.session
        f.attrs["monkey"] = pre.monkey
        f.attrs["dt"] = pre.dt
        f.attrs["source_sha256"] = pre.source_sha256
    return path


def save_ckpt(path: Path, model: RSNN, seed: int = 1) -> Path:
    """Save a model as one of this pipeline's checkpoints."""
    checkpoint.save(path, model, model_name=model.cfg.name, monkey="indy", seed=seed, stage="finetune",
                    sessions=["indy_test"], data_sha256={}, metrics={})
    return path


def recorded_spikes(model: RSNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """reference_run of x (1, T, C) with the hidden spikes of every step recorded by our own hook."""
    steps: list[torch.Tensor] = []
    handle = model.spike.register_forward_hook(lambda m, i, o: steps.append(o.detach().clone()))
    try:
        with torch.no_grad():
            out = reference_run(model, x)
    finally:
        handle.remove()
    return out.y[0], torch.cat(steps, dim=0).float()  # (T, 2), (T, H)


def hand_count_acs(model: RSNN, x: torch.Tensor, spikes: torch.Tensor) -> float:
    """Effective ACs per step by hand: every non-zero input times the non-zero weights in its column."""
    nnz = [(w != 0).sum(dim=0).double() for w in model.weight_matrices()]  # per source neuron
    x2 = x[0].double()
    s = spikes.double()
    total = (x2 @ nnz[0]).sum() + (s @ nnz[1]).sum() + (s @ nnz[2]).sum()
    return float(total / x.shape[1])


def unique_bytes(model: torch.nn.Module) -> int:
    """Bytes of the unique parameters and buffers (shared tensors once)."""
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


def cli(argv: list[str]) -> int:
    """Run `evaluate` through its own parser and errors.run_cli (as the console script does)."""
    parser = argparse.ArgumentParser(prog="rsnn-decoding")
    jobs.register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return run_cli(args.func, args)


# ----------------------------------------------------------------------------- streaming


def test_streamed_predictions_equal_full_sequence_forward() -> None:
    model = small_net()
    pre = make_session()
    x, _ = neurobench.eval_sequence(pre)
    net = neurobench.StreamingNet(model).eval()
    chunks = [net(x[s:s + 37]) for s in range(0, x.shape[0], 37)]  # state carried across calls
    streamed = torch.cat(chunks)
    with torch.no_grad():
        full = model(x.transpose(0, 1))[0]
        ref, spikes = recorded_spikes(model, x.transpose(0, 1))
    assert spikes.sum() > 10, "the test network should spike"
    assert streamed.shape == (x.shape[0], 2)
    assert torch.max(torch.abs(streamed - full)).item() <= 1e-6
    assert torch.max(torch.abs(streamed - ref)).item() <= 1e-6


def test_float16_streaming_follows_float16_reference_and_reports_fp32_gap() -> None:
    model = small_net()
    pre = make_session()
    x, _ = neurobench.eval_sequence(pre)
    half = small_net().half()
    streamed16 = neurobench.StreamingNet(half).eval()(x)
    with torch.no_grad():
        ref16 = reference_run(half, x.transpose(0, 1)).y[0].float()
        full32 = model(x.transpose(0, 1))[0]
    assert torch.equal(streamed16, ref16)  # same float16 arithmetic, step by step
    gap = torch.max(torch.abs(streamed16 - full32)).item()
    print(f"float16 streaming vs float32 forward: max |diff| = {gap:.3g} (output std {full32.std():.3g})")
    assert torch.isfinite(streamed16).all()
    assert 0.0 < gap < 10 * full32.abs().max().item()


# ----------------------------------------------------------------------------- metrics vs oracles


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_evaluate_network_matches_independent_counts(dtype: torch.dtype) -> None:
    model = small_net(heads=2).to(dtype)
    pre = make_session()
    out = neurobench.evaluate_network(model, pre, batch_steps=50)  # 210 test steps -> 5 batches
    x, y = neurobench.eval_sequence(pre)
    ref_y, spikes = recorded_spikes(model, x.transpose(0, 1))
    c, h, k = model.n_inputs, model.hidden_size, model.n_heads
    # R2: NeuroBench's equals the package's own on independently computed predictions
    r2, r2x, r2y = metrics.r2_score(y.numpy(), ref_y.float().numpy())
    assert out["r2"] == pytest.approx(r2, abs=1e-6)
    assert (out["r2_x"], out["r2_y"]) == (pytest.approx(r2x, abs=1e-6), pytest.approx(r2y, abs=1e-6))
    assert out["r2"] == pytest.approx((out["r2_x"] + out["r2_y"]) / 2, abs=1e-6)
    # compute
    assert out["dense"] == c * h + h * h + 2 * h * k
    assert out["macs"] == 0
    assert out["acs"] == pytest.approx(hand_count_acs(model, x.transpose(0, 1), spikes), rel=1e-12)
    assert out["activation_sparsity"] == pytest.approx(1 - spikes.sum().item() / spikes.numel(), rel=1e-12)
    assert out["footprint"] == unique_bytes(model)
    zeros = sum(int((w == 0).sum()) for w in model.weight_matrices())
    assert out["connection_sparsity"] == round(zeros / sum(w.numel() for w in model.weight_matrices()), 4)


def hand_network(dtype: torch.dtype) -> RSNN:
    """2 inputs, 2 hidden, 1 head; input 0 drives hidden 0 to exactly one spike 3 steps later."""
    model = RSNN(2, ModelConfig(name="tinyRSNN", hidden=2, heads=((10.0, 50.0),))).eval()
    with torch.no_grad():
        model.fc_in.weight.copy_(torch.tensor([[5.0, 0.0], [0.0, 0.0]]))
        model.fc_rec.weight.copy_(torch.tensor([[0.0, 0.0], [0.1, 0.0]]))
        model.fc_out.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        model.p_mem.zero_()  # softplus(0) = 0.693: a_mem = 0.749, a_syn = 0.562
        model.p_syn.zero_()
    return model.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_hand_built_network_effective_acs(dtype: torch.dtype) -> None:
    # input 0 spikes at steps 0 and 10 (-> hidden 0 spikes at 3 and 13), input 1 (no weights) at step 5
    spikes = np.zeros((20, 2), dtype=np.uint8)
    spikes[[0, 10], 0] = 1
    spikes[5, 1] = 1
    pre = Preprocessed("hand", "indy", 0.004, "", spikes, np.random.default_rng(0).normal(size=(20, 2))
                       .astype(np.float32), np.arange(0), np.arange(0), np.arange(20))
    model = hand_network(dtype)
    _, hidden = recorded_spikes(model, torch.from_numpy(spikes).float()[None])
    assert hidden.nonzero().tolist() == [[3, 0], [13, 0]]
    out = neurobench.evaluate_network(model, pre, batch_steps=6)  # the step-10 input crosses a batch border
    # ACs: 2 input spikes x 1 weight + 2 hidden spikes x (1 recurrent + 1 readout weight) = 6 over 20 steps
    assert out["acs"] == pytest.approx(6 / 20)
    assert out["macs"] == 0
    assert out["dense"] == 2 * 2 + 2 * 2 + 2 * 2
    assert out["activation_sparsity"] == pytest.approx(1 - 2 / 40)
    assert out["connection_sparsity"] == round(8 / 12, 4)
    assert out["footprint"] == 20 * (4 if dtype == torch.float32 else 2)


@pytest.mark.parametrize("name,n_inputs,dtype,footprint,dense", [
    ("tinyRSNN", 96, torch.float16, 21000, 10368),
    ("tinyRSNN", 192, torch.float16, 33288, 16512),
    ("bigRSNN", 96, torch.float32, 4636752, 1157120),
    ("bigRSNN", 192, torch.float32, 5029968, 1255424),
])
def test_paper_models_footprint_and_dense(name: str, n_inputs: int, dtype: torch.dtype, footprint: int,
                                          dense: int) -> None:
    cfg = tiny_config() if name == "tinyRSNN" else big_config()
    model = RSNN(n_inputs, cfg).to(dtype).eval()
    h, k = cfg.hidden, cfg.n_heads
    assert dense == n_inputs * h + h * h + 2 * h * k
    pre = make_session(n_steps=20, n_inputs=n_inputs)  # 5 test steps
    out = neurobench.evaluate_network(model, pre, batch_steps=3)
    assert out["dense"] == dense
    assert out["footprint"] == footprint == unique_bytes(model)
    static = neurobench.evaluate_network(model, pre, static_only=True)
    assert static["footprint"] == footprint
    assert static["parameter_count"] == footprint // (2 if dtype == torch.float16 else 4)


def test_neurobench_failure_is_an_error_and_training_mode_is_kept() -> None:
    pre = make_session()
    with pytest.raises(neurobench.MetricError, match="Error running"):
        neurobench._check_neurobench_output("Running benchmark\nError running workload metric 'R2': boom\n")
    out_eval = neurobench.evaluate_network(small_net(), pre, batch_steps=100)
    model = small_net().train()  # evaluation runs without dropout and gives the mode back
    out = neurobench.evaluate_network(model, pre, batch_steps=100)
    assert model.training
    for key in ("r2", "activation_sparsity", "acs", "dense"):
        assert out[key] is not None and out[key] == out_eval[key]


# ----------------------------------------------------------------------------- checkpoints and CLI


def test_cli_evaluate_checkpoint_writes_all_keys(tmp_path: Path) -> None:
    pre = make_session()
    h5 = write_session(tmp_path / "s.h5", pre)
    ckpt = save_ckpt(tmp_path / "seed3.pt", small_net(), seed=3)
    out = tmp_path / "eval.json"
    assert cli(["evaluate", "--checkpoint", str(ckpt), "--session", str(h5), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert list(doc) == [*jobs.EVAL_KEYS, "provenance"]
    assert doc["provenance"]["inputs"]["model"]["sha256"] == doc["checkpoint_sha256"]
    assert (doc["model"], doc["seed"], doc["session"]) == ("tinyRSNN", 3, "indy_test")
    direct = neurobench.evaluate_network(small_net(), pre)
    for key in ("r2", "acs", "activation_sparsity", "dense", "footprint"):
        assert doc[key] == pytest.approx(direct[key], abs=1e-12)
    out_static = tmp_path / "static.json"
    assert cli(["evaluate", "--checkpoint", str(ckpt), "--static-only", "--out", str(out_static)]) == 0
    static = json.loads(out_static.read_text())
    assert {"footprint", "connection_sparsity", "parameter_count"} <= set(static)
    assert static["footprint"] == doc["footprint"]
    assert static["provenance"]["config"] == {"static_only": True} and list(static["provenance"]["inputs"]) == ["model"]


def _expect_cli_error(capsys: pytest.CaptureFixture[str], argv: list[str], out: Path, *needles: str) -> None:
    """The CLI exits non-zero with one stderr line containing every needle and writes no output."""
    with pytest.raises(SystemExit) as exc:
        cli([*argv, "--out", str(out)])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}*"))


def test_cli_bad_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5 = write_session(tmp_path / "s.h5", make_session())
    ckpt = save_ckpt(tmp_path / "good.pt", small_net())
    blob = ckpt.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(blob[: len(blob) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a checkpoint" * 50)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    out = tmp_path / "out.json"
    for bad in (truncated, garbage, other):
        _expect_cli_error(capsys, ["evaluate", "--checkpoint", str(bad), "--session", str(h5)], out, str(bad))
    missing = str(tmp_path / "missing.pt")
    _expect_cli_error(capsys, ["evaluate", "--checkpoint", missing, "--session", str(h5)], out, missing)
    _expect_cli_error(capsys, ["evaluate", "--checkpoint", str(ckpt)], out, str(ckpt), "--static-only")


def test_cli_channel_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h5 = write_session(tmp_path / "s8.h5", make_session(n_inputs=8))
    ckpt = save_ckpt(tmp_path / "c6.pt", small_net(n_inputs=6))
    _expect_cli_error(capsys, ["evaluate", "--checkpoint", str(ckpt), "--session", str(h5)],
                      tmp_path / "out.json", str(ckpt), "6", "8")
    with pytest.raises(UserError, match="channels"):
        neurobench.evaluate_network(small_net(n_inputs=6), make_session(n_inputs=8))


def test_evaluate_to_json_checks_model_and_seed(tmp_path: Path) -> None:
    h5 = write_session(tmp_path / "s.h5", make_session())
    ckpt = save_ckpt(tmp_path / "seed2.pt", small_net(), seed=2)
    out = tmp_path / "eval" / "seed2.json"
    jobs.evaluate_to_json("tinyRSNN", ckpt, h5, out, seed=2, batch_steps=64)
    assert json.loads(out.read_text())["seed"] == 2
    with pytest.raises(UserError, match="seed"):
        jobs.evaluate_to_json("tinyRSNN", ckpt, h5, tmp_path / "x.json", seed=4)
    with pytest.raises(UserError, match="bigRSNN"):
        jobs.evaluate_to_json("bigRSNN", ckpt, h5, tmp_path / "y.json", seed=2)
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "y.json").exists()


def test_workflow_eval_json_repeats_byte_for_byte(tmp_path: Path) -> None:
    h5 = write_session(tmp_path / "s.h5", make_session(n_steps=1500))
    ckpt = save_ckpt(tmp_path / "seed2.pt", small_net(), seed=2)
    ridge = tmp_path / "ridge.json"
    ridge_module.fit_ridge_model(h5, ridge)
    for name, model in (("tinyRSNN", ckpt), ("ridge", ridge)):
        a, b = tmp_path / f"{name}_a.json", tmp_path / f"{name}_b.json"
        jobs.evaluate_to_json(name, model, h5, a, seed=2 if name != "ridge" else 0, batch_steps=64,
                              predictions_out=tmp_path / f"{name}_a.npz")
        jobs.evaluate_to_json(name, model, h5, b, seed=2 if name != "ridge" else 0, batch_steps=64,
                              predictions_out=tmp_path / f"{name}_b.npz")
        assert (tmp_path / f"{name}_a.npz").read_bytes() == (tmp_path / f"{name}_b.npz").read_bytes(), name
        assert a.read_bytes() == b.read_bytes(), name
        assert "evaluation_seconds" not in json.loads(a.read_text())  # timing: in the log only


# ----------------------------------------------------------------------------- ridge


def test_ridge_fit_and_evaluate(tmp_path: Path) -> None:
    pre = make_session(n_steps=1500)
    h5 = write_session(tmp_path / "s.h5", pre)
    model_json = tmp_path / "ridge" / "indy_test.json"
    ridge.fit_ridge_model(h5, model_json)
    out = jobs.evaluate_ridge(model_json, h5, batch_steps=100)
    assert list(out) == list(jobs.EVAL_KEYS)
    dec = ridge.RidgeDecoder.from_dict(json.loads(model_json.read_text()))
    y = pre.velocity[pre.test_index]
    r2, r2x, r2y = metrics.r2_score(y, dec.predict(pre.spikes[pre.test_index]))
    assert out["r2"] == pytest.approx(r2, abs=1e-6)
    assert (out["r2_x"], out["r2_y"]) == (pytest.approx(r2x), pytest.approx(r2y))
    assert out["r2"] > 0.3  # the synthetic velocity is a linear filter of the spikes
    n_coef = 10 * 6 * 2
    assert out["dense"] == out["macs"] == n_coef
    assert out["acs"] == 0 and out["activation_sparsity"] is None
    assert out["footprint"] == (n_coef + 2) * 8
    assert out["connection_sparsity"] == float(np.mean(dec.coef == 0))
    assert (out["model"], out["seed"], out["session"]) == ("ridge", 0, "indy_test")
    again = jobs.evaluate_ridge(model_json, h5, batch_steps=100)
    assert out == {**again, "evaluation_seconds": out["evaluation_seconds"]}  # deterministic
    other = write_session(tmp_path / "o.h5", make_session(n_steps=1500, session="indy_other"))
    with pytest.raises(UserError, match="indy_other"):
        jobs.evaluate_ridge(model_json, other)
    wide = write_session(tmp_path / "w.h5", make_session(n_steps=1500, n_inputs=8))
    with pytest.raises(UserError, match="channels"):
        jobs.evaluate_ridge(model_json, wide)


def test_neurobench_r2_equals_package_r2_over_batches() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=(1003, 2)).astype(np.float32)
    p = (y + rng.normal(0, 0.7, size=y.shape)).astype(np.float32)
    expected = metrics.r2_score(y, p)[0]
    assert neurobench.neurobench_r2(y, p, batch_steps=100) == pytest.approx(expected, abs=1e-6)
