"""The paper's values (sizes, heads, taus, epochs, learning rate, regularisers, pruning schedule) from paper.yaml."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

PAPER_FILE = Path(__file__).resolve().parent / "paper.yaml"
CONFIG_SECTIONS = ("network", "training", "pruning")


@functools.cache
def _load() -> dict[str, Any]:
    """Parse paper.yaml once per process (it is package data and never changes at run time)."""
    return yaml.safe_load(PAPER_FILE.read_text())


def paper_values() -> dict[str, Any]:
    """A fresh copy of every value of paper.yaml."""
    return copy.deepcopy(_load())


def network_values(name: str) -> dict[str, Any]:
    """The paper's `network.<name>` section (tinyRSNN or bigRSNN)."""
    networks = _load()["network"]
    if name not in networks:
        raise ValueError(f"unknown model {name!r}; use one of {', '.join(networks)}")
    return copy.deepcopy(networks[name])


def config_defaults() -> dict[str, Any]:
    """The configuration sections whose defaults are the paper's values."""
    return {key: copy.deepcopy(_load()[key]) for key in CONFIG_SECTIONS}
