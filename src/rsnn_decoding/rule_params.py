"""Params of the training rules: exactly the config values each job reads, in canonical form.

Snakemake reruns a job when the repr of one of its params changes. Passing whole config
sections would rerun pretraining when only the fine-tuning epochs change, and every job
when the same values are written with their keys in another order; these functions
return only what a job uses, as plain dicts with sorted keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Keys of `network.<name>` that model_config_from reads (the architecture, built by pretraining).
MODEL_KEYS = ("hidden", "heads", "tau_mem_ms", "tau_syn_ms", "dropout")
# Keys of `network.<name>` that train_config_from reads (every training stage).
REGULARISER_KEYS = ("upper_reg_strength",)
# Keys of `training` that train_config_from reads (every stage); the stage sections are separate.
TRAINING_KEYS = ("lr", "batch_size", "window", "offsets")
STAGES = ("pretrain", "finetune", "prune")


def canonical(value: Any) -> Any:
    """A plain copy of a config value (dicts, lists, str, int, float, bool, None) with dict keys sorted."""
    return json.loads(json.dumps(value, sort_keys=True))


def _pick(section: Mapping, keys: tuple[str, ...]) -> dict:
    """The given keys of a config section (all must be present: the config is validated)."""
    return {key: section[key] for key in keys}


def network_params(config: Mapping, network: str, stage: str) -> dict:
    """The `network.<network>` values a training stage reads: the architecture only where it is built."""
    if stage not in STAGES:
        raise ValueError(f"unknown training stage {stage!r}; use one of {', '.join(STAGES)}")
    keys = MODEL_KEYS + REGULARISER_KEYS if stage == "pretrain" else REGULARISER_KEYS
    return canonical(_pick(config["network"][network], keys))


def training_params(config: Mapping) -> dict:
    """The `training` values shared by every stage (learning rate, batches, windows)."""
    return canonical(_pick(config["training"], TRAINING_KEYS))


def stage_params(config: Mapping, stage: str) -> dict:
    """The stage section a job reads: `training.pretrain`, `training.finetune` or the whole `pruning`."""
    if stage == "prune":
        return canonical(config["pruning"])
    if stage not in STAGES:
        raise ValueError(f"unknown training stage {stage!r}; use one of {', '.join(STAGES)}")
    return canonical(config["training"][stage])
