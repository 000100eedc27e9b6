"""`--config` overrides as Snakemake parses them: string leaves are coerced to the schema's types."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.cli import parse_config
from snakemake.utils import update_config

from rsnn_decoding.config import SCHEMA_DIR, coerce_strings, load_config
from rsnn_decoding.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
SCHEMA = yaml.safe_load((SCHEMA_DIR / "config.schema.yaml").read_text())


def overridden(*entries: str) -> dict:
    """The paper config with `--config` entries merged in exactly as Snakemake does."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    update_config(config, parse_config(list(entries)))
    return config


def test_snakemake_hands_nested_scalars_over_as_strings():
    # The premise of the coercion: Snakemake's own parser (YAML BaseLoader) for nested values.
    assert parse_config(["seeds=[1,2]"]) == {"seeds": ["1", "2"]}
    assert parse_config(["pruning={tolerance: 0.05}"]) == {"pruning": {"tolerance": "0.05"}}
    assert parse_config(["pruning={max_rounds: null}"]) == {"pruning": {"max_rounds": "null"}}


@pytest.mark.parametrize(
    ("entry", "path", "expected"),
    [
        ("seeds=[1,2]", ("seeds",), [1, 2]),
        ("pruning={tolerance: 0.05}", ("pruning", "tolerance"), 0.05),
        ("pruning={max_rounds: null}", ("pruning", "max_rounds"), None),
        ("pruning={max_rounds: 3}", ("pruning", "max_rounds"), 3),
        ("pruning={steps: [0.1, .05, 1e-2]}", ("pruning", "steps"), [0.1, 0.05, 0.01]),
        ("training={lr: 1e-3}", ("training", "lr"), 0.001),
        ("training={offsets: [0, 250], finetune: {epochs: 7}}", ("training", "offsets"), [0, 250]),
        ("training={offsets: [0, 250], finetune: {epochs: 7}}", ("training", "finetune", "epochs"), 7),
        ("network={tinyRSNN: {prune: false}}", ("network", "tinyRSNN", "prune"), False),
        ("network={bigRSNN: {half: True, hidden: 256}}", ("network", "bigRSNN", "half"), True),
        ("network={bigRSNN: {heads: [[10, 50], [5.5, 20]]}}", ("network", "bigRSNN", "heads"), [[10, 50], [5.5, 20]]),
        ("zenodo={retries: 2, backoff_s: 0.5}", ("zenodo", "backoff_s"), 0.5),
        ("sessions=[indy_20160622_01]", ("sessions",), ["indy_20160622_01"]),
        ("zenodo={base_url: https://mirror.example/583331/files}", ("zenodo", "base_url"),
         "https://mirror.example/583331/files"),
    ],
)
def test_overrides_validate_with_the_schema_types(entry, path, expected):
    config = load_config(overridden(entry))
    value = config
    for key in path:
        value = value[key]
    assert value == expected
    assert type(value) is type(expected)
    if isinstance(expected, list) and expected and isinstance(expected[0], list):
        assert [type(v) for v in value[1]] == [type(v) for v in expected[1]]


def test_string_typed_keys_stay_strings():
    # A string-typed key whose value looks like a number is not touched.
    assert coerce_strings({"sessions": ["123"], "zenodo": {"base_url": "1"}}, SCHEMA) == {
        "sessions": ["123"],
        "zenodo": {"base_url": "1"},
    }
    assert coerce_strings({"sessions": "true", "pretrain_set": "null"}, SCHEMA) == {
        "sessions": "true",
        "pretrain_set": "null",
    }


def test_unknown_keys_and_unconvertible_strings_are_left_for_validation():
    raw = {"seeds": ["one", "2"], "trainin": {"lr": "1"}, "pruning": {"max_rounds": "many"}}
    expected = {"seeds": ["one", 2], "trainin": {"lr": "1"}, "pruning": {"max_rounds": "many"}}
    assert coerce_strings(raw, SCHEMA) == expected
    with pytest.raises(UserError, match="'seeds.0'"):
        load_config(overridden("seeds=[one,2]"))
    with pytest.raises(UserError, match="'pruning.tolerance'"):
        load_config(overridden("pruning={tolerance: high}"))


def test_coercion_does_not_modify_its_input():
    raw = overridden("seeds=[1,2]")
    before = copy.deepcopy(raw)
    coerce_strings(raw, SCHEMA)
    assert raw == before


@pytest.mark.slow
def test_readme_seed_switch_plans_the_seeds():
    result = subprocess.run(
        [SNAKEMAKE, "-n", "--configfile", "config/demo.yaml", "--config", "seeds=[1,3]"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "results/models/tinyRSNN/pretrain/indy/seed3.pt" in result.stdout
    assert "seed2.pt" not in result.stdout
