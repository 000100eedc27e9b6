"""Self-describing checkpoints: round trip, float16 conversion, user errors."""

from __future__ import annotations

import pytest
import torch

from rsnn_decoding.errors import UserError
from rsnn_decoding.network.config import big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training import checkpoint


def _save(path, model: RSNN, **kw) -> None:
    meta = {"model_name": model.cfg.name, "monkey": "indy", "seed": 2, "stage": "finetune",
            "sessions": ["indy_x"], "data_sha256": {"indy_x": "ab" * 32}, "metrics": {"train_r2": 0.5}}
    meta.update(kw)
    checkpoint.save(path, model, **meta)


@pytest.fixture
def model() -> RSNN:
    torch.manual_seed(0)
    m = RSNN(96, tiny_config())
    with torch.no_grad():
        for w in m.weight_matrices():
            w.normal_()
    return m


def test_roundtrip_restores_weights_and_metadata(tmp_path, model) -> None:
    path = tmp_path / "m.pt"
    _save(path, model, extra={"note": "x"})
    loaded, meta = checkpoint.load(path, expect_model="tinyRSNN", expect_inputs=96)
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert loaded.cfg == model.cfg
    assert meta["format"] == checkpoint.FORMAT and meta["n_inputs"] == 96 and meta["dtype"] == "float32"
    assert meta["model_config"] == model.cfg.to_dict() and meta["extra"] == {"note": "x"}
    assert meta["metrics"] == {"train_r2": 0.5} and meta["seed"] == 2 and "package_version" in meta
    assert "state_dict" not in meta
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temp files left


def test_big_model_roundtrip(tmp_path) -> None:
    m = RSNN(192, big_config(hidden=32))
    _save(tmp_path / "b.pt", m, monkey="loco")
    loaded, meta = checkpoint.load(tmp_path / "b.pt", expect_model="bigRSNN", expect_inputs=192)
    assert loaded.cfg.n_heads == 5 and loaded.fc_out.weight.shape == (10, 32)


def test_to_half_converts_all_parameters(tmp_path, model) -> None:
    _save(tmp_path / "f.pt", model, stage="prune")
    checkpoint.to_half(tmp_path / "f.pt", tmp_path / "h.pt")
    half, meta = checkpoint.load(tmp_path / "h.pt")
    assert meta["stage"] == "half" and meta["dtype"] == "float16" and meta["extra"]["source_stage"] == "prune"
    for k, v in model.state_dict().items():
        got = half.state_dict()[k]
        assert got.dtype == torch.float16, k
        assert torch.equal(got, v.half()), k
    raw = torch.load(tmp_path / "h.pt", weights_only=True)
    assert all(t.dtype == torch.float16 for t in raw["state_dict"].values())
    assert sum(t.numel() for t in raw["state_dict"].values()) * 2 == 21000  # METHOD.md §3: tinyRSNN Indy bytes


def test_missing_file(tmp_path) -> None:
    with pytest.raises(UserError, match=r"nope\.pt: checkpoint not found"):
        checkpoint.load(tmp_path / "nope.pt")


def test_truncated_file(tmp_path, model) -> None:
    _save(tmp_path / "m.pt", model)
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "t.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"t\.pt: not a readable checkpoint") as exc:
        checkpoint.load(tmp_path / "t.pt")
    assert "\n" not in str(exc.value)


def test_garbage_and_foreign_files(tmp_path, model) -> None:
    (tmp_path / "g.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match=r"g\.pt"):
        checkpoint.load(tmp_path / "g.pt")
    torch.save(model.state_dict(), tmp_path / "sd.pt")  # a bare state dict
    with pytest.raises(UserError, match=r"sd\.pt: not an rsnn_decoding checkpoint"):
        checkpoint.load(tmp_path / "sd.pt")


def test_wrong_model_and_channel_count(tmp_path, model) -> None:
    _save(tmp_path / "m.pt", model)
    with pytest.raises(UserError, match="holds a tinyRSNN model, expected bigRSNN"):
        checkpoint.load(tmp_path / "m.pt", expect_model="bigRSNN")
    with pytest.raises(UserError, match="96 input channels but the data has 192"):
        checkpoint.load(tmp_path / "m.pt", expect_inputs=192)


def test_weights_not_fitting_config(tmp_path, model) -> None:
    _save(tmp_path / "m.pt", model)
    raw = torch.load(tmp_path / "m.pt", weights_only=True)
    raw["model_config"]["hidden"] = 32
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(UserError, match=r"bad\.pt: model config or weights do not fit"):
        checkpoint.load(tmp_path / "bad.pt")


def test_same_model_saved_twice_gives_equal_bytes(tmp_path, model) -> None:
    import zipfile

    _save(tmp_path / "a.pt", model)
    _save(tmp_path / "other_name.pt", model)
    raw = (tmp_path / "a.pt").read_bytes()
    assert raw == (tmp_path / "other_name.pt").read_bytes()
    names = zipfile.ZipFile(tmp_path / "a.pt").namelist()
    assert {n.split("/")[0] for n in names} == {"archive"}  # fixed root folder, not the temporary file name
