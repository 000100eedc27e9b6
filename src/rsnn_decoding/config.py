"""Workflow configuration and sessions table: loading, validation, selection."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import yaml

from rsnn_decoding.errors import UserError
from rsnn_decoding.paper import config_defaults

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
TABLE_COLUMNS = ("id", "short_name", "monkey", "channels", "role", "md5", "source", "duration_s", "sim_seed")


def _load_schema(name: str) -> dict:
    """Read one of the workflow's YAML schemas."""
    return yaml.safe_load((SCHEMA_DIR / name).read_text())


def _fill_defaults(instance: Any, schema: Mapping, root: Mapping) -> None:
    """Insert the schema's `default` values for missing object keys, recursively."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root["definitions"][name]
    if not isinstance(instance, dict):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)


def _error_key(error: jsonschema.ValidationError) -> tuple[str, str]:
    """Name the offending key and the problem of a validation error."""
    path = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - allowed)
        return ".".join(path + extra[:1]), f"unknown key (allowed: {', '.join(sorted(allowed))})"
    if error.validator == "required":
        missing = error.message.split("'")[1]
        return ".".join(path + [missing]), "required key is missing"
    value = error.instance if not isinstance(error.instance, dict) else "{...}"
    return ".".join(path) or "<top level>", f"{value!r} is invalid: {error.message}"


def _merge_defaults(instance: dict, defaults: Mapping) -> None:
    """Insert missing keys of `defaults` into `instance`, recursing into mappings present in both."""
    for key, value in defaults.items():
        if key not in instance:
            instance[key] = copy.deepcopy(value)
        elif isinstance(instance[key], dict) and isinstance(value, Mapping):
            _merge_defaults(instance[key], value)


def validate(instance: dict, schema_name: str, what: str, fix: str, defaults: Mapping | None = None) -> dict:
    """Validate `instance` against a schema (`defaults`, then the schema's defaults filled in) or raise UserError."""
    schema = _load_schema(schema_name)
    result = copy.deepcopy(instance)
    _merge_defaults(result, defaults or {})
    _fill_defaults(result, schema, schema)
    validator = jsonschema.Draft7Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(result))
    if error is not None:
        key, problem = _error_key(error)
        raise UserError(f"{what} '{key}': {problem}; {fix}")
    return result


_INT = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _resolve(schema: Mapping, root: Mapping) -> Mapping:
    """Follow a local `$ref` ('#/definitions/name') to its schema."""
    while "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _branches(schema: Mapping, root: Mapping) -> list[Mapping]:
    """The alternatives of a schema: its oneOf/anyOf branches (resolved, flattened) or itself."""
    schema = _resolve(schema, root)
    alternatives = schema.get("oneOf", schema.get("anyOf"))
    if not alternatives:
        return [schema]
    return [b for alt in alternatives for b in _branches(alt, root)]


def _declared_types(schema: Mapping) -> set[str]:
    """The JSON types a (resolved, single-branch) schema names; empty when it names none."""
    kind = schema.get("type", ())
    return {kind} if isinstance(kind, str) else set(kind)


def _from_string(text: str, types: set[str]) -> Any:
    """Convert `text` to the first of null, boolean, integer, number in `types` it spells; else `text`."""
    if "null" in types and text in ("null", "Null", "NULL", "~"):
        return None
    if "boolean" in types and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if types & {"integer", "number"} and _INT.fullmatch(text):
        return int(text)
    if "number" in types and _NUMBER.fullmatch(text):
        return float(text)
    return text


def coerce_strings(instance: Any, schema: Mapping, root: Mapping | None = None) -> Any:
    """Return `instance` with string leaves converted to the non-string scalar type the schema declares there.

    Snakemake parses nested `--config` values (`seeds=[1,2]`, `pruning={tolerance: 0.05}`)
    with YAML's BaseLoader, so every scalar inside a list or mapping arrives as a string.
    Keys whose schema allows a string, and keys the schema does not know, are left alone.
    """
    root = schema if root is None else root
    branches = _branches(schema, root)
    if isinstance(instance, str):
        types = set().union(*(_declared_types(b) for b in branches))
        return instance if "string" in types or not types else _from_string(instance, types)
    if isinstance(instance, dict):
        objects = [b for b in branches if "object" in _declared_types(b) or "properties" in b]
        if not objects:
            return instance
        props = objects[0].get("properties", {})
        return {k: coerce_strings(v, props[k], root) if k in props else v for k, v in instance.items()}
    if isinstance(instance, list):
        arrays = [b for b in branches if "array" in _declared_types(b) or "items" in b]
        items = arrays[0].get("items") if arrays else None
        if not isinstance(items, Mapping):
            return instance
        return [coerce_strings(v, items, root) for v in instance]
    return instance


def load_config(config: Mapping | str | Path) -> dict:
    """Validate a workflow configuration (a dict or a YAML path) and return it with defaults."""
    if not isinstance(config, Mapping):
        path = Path(config)
        if not path.exists():
            raise UserError(f"{path}: configuration file not found; pass an existing --configfile")
        config = yaml.safe_load(path.read_text()) or {}
    config = coerce_strings(dict(config), _load_schema("config.schema.yaml"))
    return validate(
        dict(config), "config.schema.yaml", "config key", "fix it in the config file or the --config override",
        defaults=config_defaults(),
    )


def _clean_row(row: Mapping) -> dict:
    """Turn one pandas row of the sessions table into plain Python values."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            value = "" if key == "md5" else None
        elif key in ("channels", "sim_seed") and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif hasattr(value, "item"):
            value = value.item()
        out[str(key)] = value
    return out


def load_sessions(path: str | Path) -> pd.DataFrame:
    """Read and validate the sessions table (TSV), indexed by session id."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: sessions table not found; set sessions_table in the config")
    try:
        table = pd.read_csv(path, sep="\t", dtype={"md5": str, "id": str, "short_name": str})
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise UserError(f"{path}: cannot read the sessions table as TSV ({exc})") from None
    rows = []
    for number, row in enumerate(table.to_dict("records"), start=2):
        clean = _clean_row(row)
        rows.append(validate(clean, "sessions.schema.yaml", f"{path} line {number} column", "fix the sessions table"))
    for column in ("id", "short_name"):
        dup = table[column][table[column].duplicated()].tolist()
        if dup:
            raise UserError(f"{path}: duplicate {column} {dup[0]!r}; every session needs a unique {column}")
    for row in rows:
        if not row["id"].startswith(row["monkey"] + "_"):
            raise UserError(f"{path}: session {row['id']!r} does not start with its monkey '{row['monkey']}_'")
        expected = {"indy": 96, "loco": 192}[row["monkey"]]
        if row["channels"] != expected:
            raise UserError(
                f"{path}: session {row['id']!r} has {row['channels']} channels, monkey {row['monkey']} has {expected}"
            )
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).set_index("id", drop=False)
    return frame


def selected_sessions(config: Mapping, table: pd.DataFrame) -> list[str]:
    """Challenge sessions selected by the `sessions` key, in table order."""
    challenge = table[table["role"] == "challenge"]["id"].tolist()
    wanted = config.get("sessions", "all")
    if wanted == "all":
        return challenge
    wanted = [wanted] if isinstance(wanted, str) else list(wanted)
    for sid in wanted:
        if sid not in table.index:
            raise UserError(
                f"config key 'sessions': {sid!r} is not in the sessions table "
                f"{config['sessions_table']}; use one of {', '.join(challenge)}"
            )
        if sid not in challenge:
            raise UserError(
                f"config key 'sessions': {sid!r} is a pretraining session, not a challenge session; "
                f"use one of {', '.join(challenge)}"
            )
    return [sid for sid in challenge if sid in wanted]


def pretrain_sessions(config: Mapping, table: pd.DataFrame, monkey: str) -> list[str]:
    """Pretraining sessions of one monkey in table order (all, or challenge only)."""
    rows = table[table["monkey"] == monkey]
    if config.get("pretrain_set", "all") == "challenge":
        rows = rows[rows["role"] == "challenge"]
    return rows["id"].tolist()


def network_options(config: Mapping, model: str) -> dict:
    """The `network.<model>` section of the config."""
    return dict(config["network"][model])


