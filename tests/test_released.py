"""load_released / save_released: both released models in the authors' key layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import loading, released
from rsnn_decoding.network.config import big_config
from rsnn_decoding.network.rsnn import RSNN

torch.set_num_threads(1)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "published"


def small_big(n_inputs: int = 96, hidden: int = 16, seed: int = 0, dtype: torch.dtype = torch.float32) -> RSNN:
    """A project bigRSNN (five heads) with a small hidden layer and distinct per-head readout weights."""
    torch.manual_seed(seed)
    model = RSNN(n_inputs, big_config(hidden=hidden)).to(dtype)
    with torch.no_grad():
        model.fc_out.weight.copy_(torch.randn_like(model.fc_out.weight))
        model.p_mem_out.copy_(torch.randn_like(model.p_mem_out))
        model.p_syn_out.copy_(torch.randn_like(model.p_syn_out))
    return model.eval()


def _input(steps: int, channels: int, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, steps, channels, generator=g) < 0.2).float()


def test_writer_reproduces_the_authors_big_layout():
    rows = [line.split("\t") for line in (FIXTURES / "bigRSNN_keys_indy.tsv").read_text().splitlines()]
    sd = released.released_state_dict(RSNN(96, big_config()))
    assert len(rows) == 45
    assert list(sd) == [r[0] for r in rows]  # same keys, same order
    assert [str(tuple(v.shape)) for v in sd.values()] == [r[1] for r in rows]
    assert {str(v.dtype) for v in sd.values()} == {r[2] for r in rows} == {"torch.float32"}
    # duplicated keys hold the same tensor
    assert sd["con5.src.mem_param"] is sd["group2.mem_param"]
    assert sd["con5.dst.syn_param_readout"] is sd["group5.syn_param_readout"]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_big_round_trip_gives_identical_outputs(tmp_path, dtype):
    model = small_big(dtype=dtype)
    path = tmp_path / "bigRSNN-1.pth"
    released.save_released(path, model)
    back = released.load_released(path, expect_model="bigRSNN", expect_inputs=96)
    assert back.cfg.name == "bigRSNN" and back.n_heads == 5 and back.hidden_size == 16
    assert back.dtype == dtype  # stored dtype kept
    for name, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
    x = _input(200, 96).to(dtype)
    with torch.no_grad():
        assert torch.equal(back(x), model(x))
    # head k of the file is rows 2k, 2k+1 of fc_out
    sd = torch.load(path, map_location="cpu", weights_only=True)
    assert torch.equal(sd["con6.op.weight"], model.fc_out.weight[6:8])
    assert torch.equal(sd["group7.mem_param_readout"], model.p_mem_out[8:10])


def test_tiny_fixture_round_trip_and_load_keeps_working(tmp_path):
    src = FIXTURES / "loco01" / "tinyRSNN-2.pth"
    model = released.load_released(src)
    old = released.load(src)
    assert model.cfg.name == "tinyRSNN" and model.dtype == torch.float16 and model.n_inputs == 192
    for name, value in old.state_dict().items():
        assert torch.equal(model.state_dict()[name], value)
    path = tmp_path / "tiny.pth"
    released.save_released(path, model)
    original = torch.load(src, map_location="cpu", weights_only=True)
    written = torch.load(path, map_location="cpu", weights_only=True)
    assert list(written) == sorted(original, key=list(written).index) and set(written) == set(original)
    for key in original:
        assert torch.equal(written[key], original[key]), key


def test_load_any_reads_a_released_big_file(tmp_path):
    path = tmp_path / "bigRSNN-4.pth"
    released.save_released(path, small_big(n_inputs=192))
    model, meta = loading.load_any(path, expect_model="bigRSNN", expect_inputs=192)
    assert meta == {"model": "bigRSNN", "seed": 4, "stage": "published", "sessions": []}
    assert model.n_heads == 5


def test_wrong_model_channels_or_shape_name_file_and_key(tmp_path):
    big = tmp_path / "big.pth"
    released.save_released(big, small_big())
    tiny = FIXTURES / "indy01" / "tinyRSNN-1.pth"
    with pytest.raises(UserError, match=r"big\.pth.*'con4\.op\.weight'.*expected tinyRSNN"):
        released.load_released(big, expect_model="tinyRSNN_published")
    with pytest.raises(UserError, match=r"tinyRSNN-1\.pth.*'output_group.*expected bigRSNN"):
        released.load_released(tiny, expect_model="bigRSNN")
    with pytest.raises(UserError, match=r"tinyRSNN-1\.pth.*'con1\.op\.weight'.*96 input channels.*192"):
        released.load_released(tiny, expect_inputs=192)
    sd = torch.load(big, map_location="cpu", weights_only=True)
    sd["con6.op.weight"] = torch.zeros(2, 17)
    torch.save(sd, tmp_path / "bad_shape.pth")
    with pytest.raises(UserError, match=r"bad_shape\.pth.*'con6\.op\.weight'.*\(2, 17\)"):
        released.load_released(tmp_path / "bad_shape.pth")
    del sd["con5.op.weight"]
    torch.save(sd, tmp_path / "four_heads.pth")
    with pytest.raises(UserError, match=r"four_heads\.pth.*'con5\.op\.weight' missing"):
        released.load_released(tmp_path / "four_heads.pth")
    tiny_sd = torch.load(tiny, map_location="cpu", weights_only=True)
    del tiny_sd["output_group.mem_param_readout"]
    torch.save(tiny_sd, tmp_path / "no_output_group.pth")
    with pytest.raises(UserError, match=r"no_output_group\.pth.*'output_group\.mem_param_readout' missing"):
        released.load_released(tmp_path / "no_output_group.pth")
