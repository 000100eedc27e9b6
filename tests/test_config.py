"""Config and sessions-table loading, validation and selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rsnn_decoding.config import load_config, load_sessions, pretrain_sessions, selected_sessions
from rsnn_decoding.errors import UserError
from rsnn_decoding.network.config import model_config_from
from rsnn_decoding.training.config import train_config_from

ROOT = Path(__file__).resolve().parents[1]


def paper() -> dict:
    """The paper config as a dict."""
    return yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_paper_config_selects_the_six_challenge_sessions_and_full_pretraining_sets():
    config = load_config(ROOT / "config/config.yaml")
    table = load_sessions(ROOT / config["sessions_table"])
    assert [table.loc[s, "short_name"] for s in selected_sessions(config, table)] == [
        "I1",
        "I2",
        "I3",
        "L1",
        "L2",
        "L3",
    ]
    indy = pretrain_sessions(config, table, "indy")
    assert len(indy) == 30 and indy[:3] == ["indy_20160622_01", "indy_20160630_01", "indy_20170131_02"]
    assert "indy_20160407_02" not in indy  # 192-channel Indy sessions are excluded
    assert len(pretrain_sessions(config, table, "loco")) == 10
    assert table.loc["loco_20170215_02", "md5"] == "739b70762d838f3a1f358733c426bb02"
    assert table.loc["indy_20160624_03", "md5"] == ""


def test_challenge_only_pretraining_and_single_session_selection():
    config = load_config({**paper(), "pretrain_set": "challenge", "sessions": "loco_20170301_05"})
    table = load_sessions(ROOT / config["sessions_table"])
    assert pretrain_sessions(config, table, "loco") == ["loco_20170210_03", "loco_20170215_02", "loco_20170301_05"]
    assert selected_sessions(config, table) == ["loco_20170301_05"]


def test_defaults_are_filled_in():
    raw = paper()
    del raw["zenodo"], raw["threads"]
    config = load_config(raw)
    assert config["zenodo"]["base_url"] == "https://zenodo.org/records/583331/files"
    assert config["threads"] == {"train": 2, "evaluate": 1, "data": 1}


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        (("training", "lr"), "fast", "training.lr"),
        (("seeds",), [], "seeds"),
        (("network", "tinyRSNN", "hiden"), 3, "network.tinyRSNN.hiden"),
        (("models",), ["tinyrsnn"], "models.0"),
    ],
)
def test_bad_values_name_the_key(path, value, key):
    raw = paper()
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(UserError, match=f"'{key}'"):
        load_config(raw)


def test_model_and_train_configs_follow_the_config():
    config = load_config(ROOT / "config/config.yaml")
    big = model_config_from("bigRSNN", config["network"]["bigRSNN"])
    assert big.hidden == 1024 and big.heads[4] == (30.0, 100.0)
    tc = train_config_from(config["training"], config["training"]["pretrain"], config["network"]["tinyRSNN"])
    assert (tc.epochs, tc.t_max, tc.upper_reg_strength, tc.batch_size) == (100, 200, 0.01, 250)


def test_paper_values_have_one_home_and_the_paper_config_restates_them():
    """config/config.yaml restates paper.yaml's network, training and pruning sections exactly."""
    from rsnn_decoding.paper import config_defaults

    restated = paper()
    for section, values in config_defaults().items():
        assert restated[section] == values, section


def test_missing_sections_default_to_the_paper_and_partial_ones_are_completed():
    """A config without network/training/pruning gets paper.yaml's values; a partial section keeps its overrides."""
    from rsnn_decoding import TrainConfig, big_config, tiny_config
    from rsnn_decoding.paper import paper_values

    base = {k: v for k, v in paper().items() if k not in ("network", "training", "pruning")}
    config = load_config(base)
    values = paper_values()
    assert config["network"] == values["network"] and config["pruning"] == values["pruning"]
    assert config["training"]["finetune"] == {"epochs": 200, "t_max": 200}
    partial = load_config({**base, "network": {"bigRSNN": {"hidden": 128}}, "training": {"pretrain": {"epochs": 4}}})
    assert partial["network"]["bigRSNN"]["hidden"] == 128
    assert partial["network"]["bigRSNN"]["heads"] == values["network"]["bigRSNN"]["heads"]
    assert partial["training"]["pretrain"] == {"epochs": 4, "t_max": 200}
    # the same values reach the package's constructors
    assert model_config_from("tinyRSNN", config["network"]["tinyRSNN"]) == tiny_config()
    assert model_config_from("bigRSNN", config["network"]["bigRSNN"]) == big_config()
    tc = train_config_from(config["training"], config["training"]["finetune"], config["network"]["bigRSNN"])
    assert tc == TrainConfig.for_model("bigRSNN", epochs=200, t_max=200)
