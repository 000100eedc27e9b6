"""config/README.md is generated from the config schema and documents every key the configs use."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rsnn_decoding import configdoc

REPO = Path(__file__).resolve().parents[1]
README = REPO / "config" / "README.md"
CONFIGS = [REPO / "config" / "config.yaml", REPO / "config" / "demo.yaml"]


def config_schema() -> dict:
    """The workflow's config schema (located in one place: configdoc.config_schema_path)."""
    return configdoc.load_config_schema()


def leaf_keys(tree: dict, prefix: str = "") -> list[str]:
    """Dotted paths of the non-mapping values of a nested config dict."""
    keys = []
    for name, value in tree.items():
        if isinstance(value, dict) and value:
            keys.extend(leaf_keys(value, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_readme_matches_schema() -> None:
    expected = configdoc.render_config_readme(config_schema())
    assert README.read_text(encoding="utf-8") == expected, "config/README.md is stale: run `make config-readme`"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_config_key_is_documented(config: Path) -> None:
    text = README.read_text(encoding="utf-8")
    keys = leaf_keys(yaml.safe_load(config.read_text(encoding="utf-8")))
    assert len(keys) > 30 and "training.pretrain.epochs" in keys and "network.tinyRSNN.heads" in keys
    missing = [k for k in keys if f"- `{k}` (" not in text]
    assert missing == []


def test_every_schema_key_has_a_description() -> None:
    keys = configdoc.config_keys(config_schema())
    assert len(keys) > 50
    assert [k.key for k in keys if not k.description] == []


def test_schema_path_is_the_one_config_validates_with() -> None:
    from rsnn_decoding import config

    assert configdoc.config_schema_path() == config.SCHEMA_DIR / "config.schema.yaml"
    assert configdoc.config_schema_path().is_file()


SMALL = {
    "description": "A  small\n schema.",
    "definitions": {
        "pos": {"type": "integer", "minimum": 1, "description": "generic"},
        "block": {
            "type": "object",
            "properties": {"n": {"$ref": "#/definitions/pos", "description": "Count."}},
            "required": ["n"],
        },
    },
    "properties": {
        "mode": {"type": "string", "enum": ["a", "b"], "default": "a", "description": "Mode."},
        "rate": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "description": "Rate."},
        "cap": {"oneOf": [{"type": "null"}, {"$ref": "#/definitions/pos"}], "default": None, "description": "Cap."},
        "ids": {"type": "array", "items": {"type": ["integer", "null"]}, "description": "Ids."},
        "blk": {"$ref": "#/definitions/block", "description": "Block.", "default": {}},
        "nest": {
            "type": "object",
            "description": "Nest.",
            "properties": {"inner": {"$ref": "#/definitions/block", "description": "Inner."}},
            "required": ["inner"],
        },
    },
    "required": ["rate"],
}


def test_render_small_schema_exactly() -> None:
    text = configdoc.render_config_readme(SMALL)
    assert text.startswith("# Configuration keys\n\nA small schema.\n\nThis file is generated")
    body = text[text.index("## Top-level settings") :]
    assert body == (
        "## Top-level settings\n\n"
        "- `mode` (string: a | b; default `a`): Mode.\n"
        "- `rate` (number > 0, < 1; required): Rate.\n"
        "- `cap` (null or integer >= 1; default `null`): Cap.\n"
        "- `ids` (array of integer or null; optional): Ids.\n"
        "\n"
        "## `blk`\n\n"
        "Block. (object; default `{}`)\n\n"
        "- `blk.n` (integer >= 1; required): Count.\n"
        "\n"
        "## `nest`\n\n"
        "Nest. (object; optional)\n\n"
        "- `nest.inner` (object; required): Inner.\n"
        "- `nest.inner.n` (integer >= 1; required): Count.\n"
    )


def test_write_config_readme(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "README.md"
    configdoc.write_config_readme(out, SMALL)
    assert out.read_text(encoding="utf-8") == configdoc.render_config_readme(SMALL)
    assert [p.name for p in out.parent.iterdir()] == ["README.md"]  # no temporary file left
