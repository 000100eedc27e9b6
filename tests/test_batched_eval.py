"""Batched NeuroBench evaluation equals the per-step path: same spikes at every step, same metrics."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from rsnn_decoding.data.preprocess import Preprocessed
from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import batched as batched_eval
from rsnn_decoding.evaluation import neurobench
from rsnn_decoding.network.config import big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training import checkpoint

torch.set_num_threads(1)


def active_net(name: str, n_inputs: int, hidden: int, dtype: torch.dtype, prune: float, seed: int) -> RSNN:
    """Random network whose hidden neurons spike at a few percent per step; `prune` of weights zeroed."""
    torch.manual_seed(seed)
    cfg = tiny_config(hidden=hidden) if name == "tinyRSNN" else big_config(hidden=hidden)
    model = RSNN(n_inputs, cfg).eval()
    with torch.no_grad():
        model.fc_in.weight.normal_(0.1, 1.0)
        model.fc_rec.weight.normal_(-0.02, 1.0 / hidden**0.5)
        model.fc_out.weight.normal_(0.0, 0.05)
        for w in model.weight_matrices():
            w[torch.rand_like(w) < prune] = 0.0
    return model.to(dtype)


def poisson_session(n_test: int, n_inputs: int, seed: int) -> Preprocessed:
    """Session whose whole sequence is the test block; spike counts mostly 0/1 with some 2s and 3s."""
    rng = np.random.default_rng(seed)
    spikes = rng.poisson(0.08, (n_test, n_inputs)).astype(np.uint8)
    vel = np.cumsum(rng.normal(0, 0.1, (n_test, 2)), axis=0).astype(np.float32)
    idx = np.arange(n_test, dtype=np.int64)
    return Preprocessed("indy_batched", "indy", 0.004, "0" * 64, spikes, vel, idx[:0], idx[:0], idx)


def run_mode(model: RSNN, pre: Preprocessed, mode: str, batch_steps: int) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """NeuroBench results, predictions (T, 2) and hidden spikes (T, H) recorded at the spike module."""
    seen: list[torch.Tensor] = []
    handle = model.spike.register_forward_hook(lambda m, i, o: seen.append(o.detach().clone()))
    try:
        results, preds = neurobench.run_benchmark(model, pre, batch_steps, mode)
    finally:
        handle.remove()
    return results, preds, torch.cat(seen, dim=0)


CASES = [
    ("tinyRSNN", 96, 64, torch.float32, 0.0),
    ("tinyRSNN", 96, 64, torch.float16, 0.6),  # pruned float16 tinyRSNN, as released
    ("bigRSNN", 96, 96, torch.float32, 0.3),  # five heads, small H for speed
]


@pytest.mark.parametrize("name,n_inputs,hidden,dtype,prune", CASES)
def test_batched_equals_per_step(name: str, n_inputs: int, hidden: int, dtype: torch.dtype, prune: float) -> None:
    model = active_net(name, n_inputs, hidden, dtype, prune, seed=3)
    pre = poisson_session(3000, n_inputs, seed=5)
    assert int(pre.spikes.max()) > 1  # some rows are MAC rows for fc_in
    res_p, y_p, s_p = run_mode(model, pre, "per_step", batch_steps=1100)  # 3 batches, last one short
    res_b, y_b, s_b = run_mode(model, pre, "batched", batch_steps=1100)
    assert s_p.shape == s_b.shape == (3000, hidden)
    assert 0.005 < s_p.float().mean() < 0.5  # the network does spike
    assert torch.equal(s_p, s_b)  # equal spikes at every step
    assert torch.equal(y_p, y_b)  # bit-identical predictions (same torch ops per step)
    assert res_b["R2"] == res_p["R2"]
    for key in ("Footprint", "ConnectionSparsity", "ActivationSparsity"):
        assert res_b[key] == res_p[key], key
    for key in ("Dense", "Effective_MACs", "Effective_ACs"):  # exact integer sums in both modes
        assert res_b["SynapticOperations"][key] == res_p["SynapticOperations"][key], key
    assert res_p["SynapticOperations"]["Effective_MACs"] > 0  # the MAC/AC split per row was exercised


def test_evaluate_network_modes_agree_and_record_mode() -> None:
    model = active_net("tinyRSNN", 20, 16, torch.float16, 0.5, seed=1)
    pre = poisson_session(400, 20, seed=2)
    per_step = neurobench.evaluate_network(model, pre, batch_steps=150, mode="per_step")
    batched = neurobench.evaluate_network(model, pre, batch_steps=150, mode="batched", device="cpu")
    assert (per_step["evaluation_mode"], batched["evaluation_mode"]) == ("per_step", "batched")
    assert batched["device"] == "cpu" and batched["dtype"] == "float16"
    drop = ("evaluation_seconds", "evaluation_mode")
    assert {k: v for k, v in per_step.items() if k not in drop} == {
        k: v for k, v in batched.items() if k not in drop}


def test_counting_copies_stay_outside_the_module_tree() -> None:
    model = active_net("tinyRSNN", 20, 16, torch.float16, 0.5, seed=1)
    nb_model, net = batched_eval.neurobench_model_batched(model)
    assert sum(p.numel() for p in net.parameters()) == sum(p.numel() for p in model.parameters())
    assert [c.weight.dtype for c in net.counters] == [torch.float64] * 3
    assert nb_model.connection_layers() == list(net.counters)
    for c, w in zip(net.counters, model.weight_matrices(), strict=True):
        assert torch.equal(c.weight != 0, w != 0)


def test_float16_layer_counted_in_one_call_without_overflow() -> None:
    # 2000 steps x 64 x 64 dense operations = 8.2e6, far above float16's 65504: one exact float64 call
    model = active_net("tinyRSNN", 8, 64, torch.float16, 0.0, seed=2)
    pre = poisson_session(2000, 8, seed=3)
    res, _, _ = run_mode(model, pre, "batched", batch_steps=2000)
    assert res["SynapticOperations"]["Dense"] == 8 * 64 + 64 * 64 + 2 * 64


def test_row_groups_and_exact_chunks() -> None:
    rows = torch.tensor([[0.0, 1.0], [2.0, 0.0], [-1.0, 1.0]])
    assert batched_eval.binary_rows(rows).tolist() == [True, False, True]
    layer = torch.nn.Linear(1024, 1024, bias=False)
    assert batched_eval.max_rows(layer, torch.float32) == 16  # 16 * 2^20 = 2^24
    assert batched_eval.max_rows(layer, torch.float64) == 2**33


def test_unknown_mode_is_a_user_error() -> None:
    model = active_net("tinyRSNN", 4, 8, torch.float32, 0.0, seed=1)
    with pytest.raises(UserError, match="evaluation.mode"):
        neurobench.run_benchmark(model, poisson_session(10, 4, seed=1), 5, "fast")


def test_evaluate_rule_script_passes_device_and_mode(tmp_path: Path) -> None:
    """workflow/scripts/evaluate.py hands the rule's device and mode to the package; the JSON records them."""
    model = active_net("tinyRSNN", 6, 12, torch.float16, 0.3, seed=4)
    ckpt = tmp_path / "seed1.pt"
    checkpoint.save(ckpt, model, model_name="tinyRSNN", monkey="indy", seed=1, stage="finetune",
                    sessions=["indy_batched"], data_sha256={}, metrics={})
    h5 = tmp_path / "s.h5"
    pre = poisson_session(300, 6, seed=7)
    with h5py.File(h5, "w") as f:
        for name in ("spikes", "velocity", "train_index", "val_index", "test_index"):
            f.create_dataset(name, data=getattr(pre, name))
        f.attrs.update(session=pre.session, monkey=pre.monkey, dt=pre.dt, source_sha256=pre.source_sha256)
    out = tmp_path / "eval.json"
    record = tmp_path / "raw.checksums.json"  # the raw file's checksum record the rule passes as `source`
    record.write_text(json.dumps({"sha256": pre.source_sha256}))
    fake = SimpleNamespace(
        log=[str(tmp_path / "eval.log")], threads=1,
        wildcards=SimpleNamespace(model="tinyRSNN", seed="1", session=pre.session),
        input=SimpleNamespace(model=str(ckpt), data=str(h5), source=str(record)),
        output=SimpleNamespace(json=str(out), predictions=str(tmp_path / "eval.predictions.npz")),
        params=SimpleNamespace(batch_steps=128, mode="batched", device="cpu"),
        scriptdir=str(Path(__file__).parents[1] / "workflow" / "scripts"),
    )
    script = Path(__file__).parents[1] / "workflow" / "scripts" / "evaluate.py"
    runpy.run_path(str(script), init_globals={"snakemake": fake})
    doc = json.loads(out.read_text())
    assert (doc["evaluation_mode"], doc["device"], doc["dtype"]) == ("batched", "cpu", "float16")
    fake.params.mode = "per_step"
    runpy.run_path(str(script), init_globals={"snakemake": fake})
    again = json.loads(out.read_text())
    assert again["evaluation_mode"] == "per_step"
    assert (doc["provenance"]["config"], again["provenance"]["config"]) == (
        {"device": "cpu", "evaluation.batch_steps": 128, "evaluation.mode": "batched"},
        {"device": "cpu", "evaluation.batch_steps": 128, "evaluation.mode": "per_step"})
    assert again["provenance"]["inputs"]["source"]["path"] == Path(record).as_posix()
    skip = ("evaluation_seconds", "evaluation_mode", "provenance")
    assert {k: v for k, v in again.items() if k not in skip} == {k: v for k, v in doc.items() if k not in skip}


def _write_h5(path: Path, pre: Preprocessed) -> Path:
    """A Preprocessed in the .h5 data contract."""
    with h5py.File(path, "w") as f:
        for name in ("spikes", "velocity", "train_index", "val_index", "test_index"):
            f.create_dataset(name, data=getattr(pre, name))
        f.attrs.update(session=pre.session, monkey=pre.monkey, dt=pre.dt, source_sha256=pre.source_sha256)
    return path


def test_bench_eval_and_half_check_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rsnn_decoding import cli

    h5 = _write_h5(tmp_path / "s.h5", poisson_session(500, 96, seed=9))
    rc = cli.main(["bench-eval", "--session", str(h5), "--big-hidden", "16", "--per-step-steps", "200",
                   "--batch-steps", "150", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert rc == 0 and [(r["network"], r["mode"]) for r in rows] == [
        ("bigRSNN-16 float32", "batched"), ("bigRSNN-16 float32", "per_step"),
        ("tinyRSNN float16", "batched"), ("tinyRSNN float16", "per_step")]
    assert [r["steps"] for r in rows] == [500, 200, 500, 200]
    assert rows[1]["identical_metrics"] and rows[3]["identical_metrics"]
    assert rows[1]["max_rel_diff_synops"] == rows[3]["max_rel_diff_synops"] == 0.0
    ckpt = Path(__file__).parent / "fixtures" / "published" / "indy01" / "tinyRSNN-1.pth"
    rc = cli.main(["half-check", str(ckpt), "--session", str(h5), "--batch-steps", "200"])
    out = capsys.readouterr().out
    assert rc == 0 and "1 of 1 networks bit-identical" in out
    assert json.loads(out.splitlines()[0])["steps"] == 500
