"""Pruning search (METHOD.md §5): p sequence with exact float ops, magnitude masks, resumable rounds."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from rsnn_decoding.network import rsnn as rsnn_module
from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training import checkpoint, loop, prune, stages
from rsnn_decoding.training.config import TrainConfig

torch.set_num_threads(1)


def _schedule(ref: float, r_of_p, **kw) -> list[tuple[float, bool]]:
    """Run the search with a fake R2 function; returns [(p, accepted)]."""
    tried = []

    def evaluate(k: int, p: float) -> float:
        assert k == len(tried)
        tried.append(p)
        return r_of_p(p)

    rounds = prune.search_schedule(ref, evaluate, **kw)
    assert [r.p for r in rounds] == tried
    return [(r.p, r.accepted) for r in rounds]


def test_all_accepted_coarse_path() -> None:
    got = _schedule(0.7, lambda p: 0.7)
    assert got == [(0.4, True), (0.5, True), (0.6, True), (0.7, True), (0.7999999999999999, True)]


def test_fine_path_reaches_0_8000000000000002_and_stops() -> None:
    # reject at p = 0.7 only: back to 0.7 - 0.1 + 0.05 = 0.65, then steps of 0.05
    got = _schedule(0.7, lambda p: 0.0 if p == 0.7 else 0.7)
    assert got == [(0.4, True), (0.5, True), (0.6, True), (0.7, False),
                   (0.65, True), (0.7000000000000001, True), (0.7500000000000001, True)]
    assert 0.7500000000000001 + 0.05 == 0.8000000000000002 > 0.8  # the next p is never tried


def test_rejection_on_fine_path_stops() -> None:
    got = _schedule(0.7, lambda p: 0.0 if p >= 0.6 else 0.7)
    assert got == [(0.4, True), (0.5, True), (0.6, False), (0.55, True), (0.6000000000000001, False)]


def test_first_round_rejected_goes_below_start() -> None:
    got = _schedule(0.5, lambda p: 0.4, max_rounds=3)
    assert got == [(0.4, False), (0.35000000000000003, False)]


def test_tolerance_rule_is_relative_to_abs_ref() -> None:
    assert not prune.is_rejected(0.491, 0.5, 0.02)  # -0.009 >= -|0.02 * 0.5| = -0.01
    assert prune.is_rejected(0.4899, 0.5, 0.02)
    assert not prune.is_rejected(-0.1015, -0.1, 0.02)  # -0.0015 >= -|0.02 * -0.1| = -0.002
    assert prune.is_rejected(-0.103, -0.1, 0.02)


def test_max_rounds_cuts_the_search() -> None:
    assert _schedule(0.7, lambda p: 0.7, max_rounds=2) == [(0.4, True), (0.5, True)]


def test_magnitude_prune_zeroes_smallest_per_matrix() -> None:
    torch.manual_seed(0)
    model = RSNN(96, tiny_config())
    with torch.no_grad():
        for w in model.weight_matrices():
            w.normal_()
    before = [w.detach().clone().numpy() for w in model.weight_matrices()]
    taus = [t.detach().clone() for t in (model.p_mem, model.p_syn, model.p_mem_out, model.p_syn_out)]
    p = 0.7999999999999999
    masks = prune.magnitude_prune(model, p)
    assert list(masks) == ["fc_in.weight", "fc_rec.weight", "fc_out.weight"]
    for w0, w, (name, mask) in zip(before, model.weight_matrices(), masks.items(), strict=True):
        k = int(p * w0.size)  # 4915, 3276, 102 (int truncates p * size)
        order = np.argsort(np.abs(w0).ravel(), kind="stable")
        expect = np.ones(w0.size)
        expect[order[:k]] = 0
        assert np.array_equal(mask.numpy().ravel(), expect), name
        assert int((w.detach() == 0).sum()) == k
        assert np.array_equal(w.detach().numpy(), w0 * expect.reshape(w0.shape))
    assert prune.connection_sparsity(model) == pytest.approx((4915 + 3276 + 102) / 10368)
    for t0, t in zip(taus, (model.p_mem, model.p_syn, model.p_mem_out, model.p_syn_out), strict=True):
        assert torch.equal(t0, t.detach())  # time constants are never pruned


def test_prune_end_to_end_resumes_rounds(indy_h5, tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(epochs=1, t_max=1, window=50, offsets=(0, 25), batch_size=64)
    state = tmp_path / "state"
    stages.pretrain([indy_h5], tiny_config(hidden=16), cfg, 1, tmp_path / "ft.pt", tmp_path / "ft.json",
                   state / "ft.pt", device="cpu")
    raw = torch.load(tmp_path / "ft.pt", weights_only=True)
    raw["metrics"]["train_r2"] = -10.0  # every round is accepted
    torch.save(raw, tmp_path / "ft.pt")
    base, _ = checkpoint.load(tmp_path / "ft.pt")

    args = (tmp_path / "ft.pt", indy_h5, cfg, 1, tmp_path / "pr.pt", tmp_path / "pr.json", state / "prune")
    real_fit, calls = prune.fit, []

    def dies_in_round_1(*a, **kw):
        """Stand-in for a job killed while retraining round 1."""
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_fit(*a, **kw)

    monkeypatch.setattr(prune, "fit", dies_in_round_1)
    with pytest.raises(KeyboardInterrupt):
        prune.prune(*args, device="cpu", max_rounds=2)
    assert not (tmp_path / "pr.pt").exists()
    assert (state / "prune" / "round00.json").exists()  # round 0 completed before the kill
    restarted = []

    def counting_fit(*a, **kw):
        """The real fit, counting the rounds the restarted job retrains."""
        restarted.append(1)
        return real_fit(*a, **kw)

    monkeypatch.setattr(prune, "fit", counting_fit)
    prune.prune(*args, device="cpu", max_rounds=2)
    assert len(restarted) == 1  # the restart retrained round 1 only: round 0 was reused, not retrained
    assert not (state / "prune").exists()  # the completed rule removes its resume state

    hist = json.loads((tmp_path / "pr.json").read_text())
    assert hist["reference_r2"] == -10.0 and hist["p"] == 0.5
    assert [r["p"] for r in hist["rounds"]] == [0.4, 0.5] and all(r["accepted"] for r in hist["rounds"])
    assert [e["epoch"] for e in hist["epochs"]] == [1]
    assert hist["epochs"][0]["train_r2"] == hist["rounds"][1]["train_r2"]
    model, meta = checkpoint.load(tmp_path / "pr.pt")
    assert meta["stage"] == "prune" and meta["metrics"]["p"] == 0.5
    assert meta["metrics"]["train_r2"] == hist["rounds"][-1]["train_r2"]
    # masked retraining: exactly the int(0.5 * size) smallest fine-tuned weights stay zero
    ref = RSNN(96, base.cfg)
    ref.load_state_dict(base.state_dict())
    masks = prune.magnitude_prune(ref, 0.5)
    for (name, mask), w in zip(masks.items(), model.weight_matrices(), strict=True):
        assert torch.all(w[mask == 0] == 0), name
        assert int((w == 0).sum()) == int(0.5 * w.numel()), name
    assert hist["connection_sparsity"] == pytest.approx(prune.connection_sparsity(model))


def test_prune_keeps_unpruned_model_when_all_rejected(indy_h5, tmp_path) -> None:
    cfg = TrainConfig(epochs=1, t_max=1, window=50, offsets=(0,), batch_size=64)
    stages.pretrain([indy_h5], tiny_config(hidden=8), cfg, 1, tmp_path / "ft.pt", tmp_path / "ft.json",
                   tmp_path / "s.pt", device="cpu")
    raw = torch.load(tmp_path / "ft.pt", weights_only=True)
    raw["metrics"]["train_r2"] = 10.0  # nothing can reach it
    torch.save(raw, tmp_path / "ft.pt")
    prune.prune(tmp_path / "ft.pt", indy_h5, cfg, 1, tmp_path / "pr.pt", tmp_path / "pr.json",
                tmp_path / "st", device="cpu", max_rounds=2)
    hist = json.loads((tmp_path / "pr.json").read_text())
    assert hist["p"] is None and [r["accepted"] for r in hist["rounds"]] == [False, False]
    assert "epochs" not in hist
    model, _ = checkpoint.load(tmp_path / "pr.pt")
    base, _ = checkpoint.load(tmp_path / "ft.pt")
    for k, v in base.state_dict().items():
        assert torch.equal(v, model.state_dict()[k]), k


# ----------------------------------------------------------------------------- randomness of the rounds


def test_round_seed_rule() -> None:
    """METHOD.md §5.1: s_k = first 8 bytes of SHA-256("prune|{seed}|{k}"), big-endian, shifted right by 1."""
    digest = hashlib.sha256(b"prune|1|0").hexdigest()
    assert prune.round_seed(1, 0) == int(digest[:16], 16) // 2
    seeds = {prune.round_seed(seed, k) for seed in range(1, 6) for k in range(40)}
    assert len(seeds) == 200 and all(0 <= s < 2**63 for s in seeds)
    assert prune.round_seed(1, 0) != 1  # not the stage seed that pretraining and fine-tuning use


def _finetuned(indy_h5, tmp_path, cfg: TrainConfig) -> None:
    """A small "fine-tuned" checkpoint ft.pt with reference R2 0.0 (its train_r2 metric)."""
    stages.pretrain([indy_h5], tiny_config(hidden=16), cfg, 1, tmp_path / "ft.pt", tmp_path / "ft.json",
                   tmp_path / "ft.state.pt", device="cpu")
    raw = torch.load(tmp_path / "ft.pt", weights_only=True)
    raw["metrics"]["train_r2"] = 0.0
    torch.save(raw, tmp_path / "ft.pt")


def _scripted_prune(indy_h5, tmp_path, run_dir, cfg: TrainConfig, monkeypatch) -> list[dict]:
    """Prune ft.pt with rounds accepted, rejected, accepted, accepted (p 0.4, 0.5, 0.45, 0.5), recording
    each round's shuffle orders, dropout masks and final weights."""
    rounds: list[dict] = []
    real_fit, real_batches, real_draw = prune.fit, loop._batches, rsnn_module.draw_dropout_masks

    def recording_batches(n, size, order=None):
        if order is not None:  # the training shuffle of an epoch
            rounds[-1]["orders"].append(order.tolist())
        return real_batches(n, size, order)

    def recording_draw(*a, **kw):
        keep = real_draw(*a, **kw)
        rounds[-1]["masks"].append(tuple(hashlib.sha256(m.numpy().tobytes()).hexdigest() for m in keep))
        return keep

    def scripted_fit(model, *a, **kw):
        rounds.append({"orders": [], "masks": [], "seed": kw["seed"]})
        history = real_fit(model, *a, **kw)
        rounds[-1]["weights"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        history[-1]["train_r2"] = -1.0 if len(rounds) == 2 else 1.0  # reference 0.0: only round 1 is rejected
        return history

    monkeypatch.setattr(prune, "fit", scripted_fit)
    monkeypatch.setattr(loop, "_batches", recording_batches)
    monkeypatch.setattr(rsnn_module, "draw_dropout_masks", recording_draw)
    try:
        prune.prune(tmp_path / "ft.pt", indy_h5, cfg, 1, run_dir / "pr.pt", run_dir / "pr.json",
                    run_dir / "state", device="cpu", max_rounds=4)
    finally:
        monkeypatch.undo()
    return rounds


def test_retried_fraction_draws_fresh_batches_and_masks(indy_h5, tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(epochs=2, t_max=2, window=50, offsets=(0, 25), batch_size=16)
    _finetuned(indy_h5, tmp_path, cfg)
    first = _scripted_prune(indy_h5, tmp_path, tmp_path / "a", cfg, monkeypatch)
    hist = json.loads((tmp_path / "a" / "pr.json").read_text())
    assert [(r["p"], r["accepted"]) for r in hist["rounds"]] == [(0.4, True), (0.5, False), (0.45, True),
                                                                 (0.5, True)]
    rejected, retried = first[1], first[3]  # the same fraction 0.5 from the same fine-tuned weights
    assert len(rejected["orders"]) == 2 and len(rejected["masks"]) > 2
    assert rejected["orders"] != retried["orders"]  # other batches
    assert not set(rejected["masks"]) & set(retried["masks"])  # other dropout masks, none repeated
    assert all(len(set(map(tuple, r["orders"]))) == 2 for r in first)  # each epoch reshuffles
    assert not torch.equal(rejected["weights"]["fc_rec.weight"], retried["weights"]["fc_rec.weight"])
    for name in ("fc_in.weight", "fc_rec.weight", "fc_out.weight"):  # ... with the same pruning mask
        assert torch.equal(rejected["weights"][name] == 0, retried["weights"][name] == 0), name
    assert [r["seed"] for r in first] == [prune.round_seed(1, k) for k in range(4)]  # METHOD.md §5.1
    assert [r["round_seed"] for r in hist["rounds"]] == [prune.round_seed(1, k) for k in range(4)]
    # the same config and seed again: the same rounds, bit for bit
    second = _scripted_prune(indy_h5, tmp_path, tmp_path / "b", cfg, monkeypatch)
    for one, two in zip(first, second, strict=True):
        assert one["orders"] == two["orders"] and one["masks"] == two["masks"]
        for k, v in one["weights"].items():
            assert torch.equal(v, two["weights"][k]), k
    assert (tmp_path / "a" / "pr.json").read_text() == (tmp_path / "b" / "pr.json").read_text()


def test_prune_killed_mid_round_resumes_bit_identical(indy_h5, tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(epochs=2, t_max=2, window=50, offsets=(0, 25), batch_size=16)
    _finetuned(indy_h5, tmp_path, cfg)

    def run(where, epochs_before_kill=None) -> int:
        """Prune into `where` (2 rounds, every one accepted); kill during an epoch if asked; count epochs."""
        real_epoch, calls = loop._train_epoch, []

        def train_epoch(*a, **kw):
            calls.append(1)
            if len(calls) == epochs_before_kill:
                raise KeyboardInterrupt
            return real_epoch(*a, **kw)

        monkeypatch.setattr(loop, "_train_epoch", train_epoch)
        try:
            prune.prune(tmp_path / "ft_all.pt", indy_h5, cfg, 1, where / "pr.pt", where / "pr.json",
                        where / "state", device="cpu", max_rounds=2)
        finally:
            monkeypatch.undo()
        return len(calls)

    raw = torch.load(tmp_path / "ft.pt", weights_only=True)
    raw["metrics"]["train_r2"] = -10.0  # every round is accepted
    torch.save(raw, tmp_path / "ft_all.pt")

    assert run(tmp_path / "straight") == 4  # 2 rounds of 2 epochs
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", epochs_before_kill=4)  # killed in epoch 2 of round 1
    state = tmp_path / "killed" / "state"
    assert (state / "round00.json").exists() and (state / "round01.state.pt").exists()
    assert not (tmp_path / "killed" / "pr.pt").exists()
    assert run(tmp_path / "killed") == 1  # resumed at epoch 2 of round 1: round 0 and epoch 1 were not redone
    a, _ = checkpoint.load(tmp_path / "straight" / "pr.pt")
    b, _ = checkpoint.load(tmp_path / "killed" / "pr.pt")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert (tmp_path / "straight" / "pr.json").read_text() == (tmp_path / "killed" / "pr.json").read_text()
