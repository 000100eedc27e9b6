"""Network hyper-parameters: `ModelConfig` and the paper's tinyRSNN / bigRSNN (METHOD.md section 3)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rsnn_decoding.paper import network_values, paper_values

_MODEL = paper_values()["model"]
_TINY = network_values("tinyRSNN")
_BIG = network_values("bigRSNN")


def _heads(values: dict[str, Any]) -> tuple[tuple[float, float], ...]:
    """Readout heads of a paper network section as float pairs."""
    return tuple((float(s), float(m)) for s, m in values["heads"])


def _taus(values: dict[str, Any]) -> dict[str, float]:
    """Hidden base time constants and dropout of a paper network section."""
    return {key: float(values[key]) for key in ("tau_mem_ms", "tau_syn_ms", "dropout")}


TINY_HEADS = _heads(_TINY)
BIG_HEADS = _heads(_BIG)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the network (METHOD.md §3); taus in ms."""

    name: str
    hidden: int
    heads: tuple[tuple[float, float], ...]
    tau_mem_ms: float = float(_TINY["tau_mem_ms"])
    tau_syn_ms: float = float(_TINY["tau_syn_ms"])
    dropout: float = float(_TINY["dropout"])
    dt_ms: float = float(_MODEL["dt_ms"])
    beta: float = float(_MODEL["beta"])
    readout_init: float = float(_MODEL["readout_init"])

    def __post_init__(self) -> None:
        """Normalise heads to a tuple of float pairs and check the values."""
        heads = tuple((float(s), float(m)) for s, m in self.heads)
        object.__setattr__(self, "heads", heads)
        if self.hidden < 1 or not heads:
            raise ValueError(f"ModelConfig: need hidden >= 1 and at least one head, got {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig: dropout must be in [0, 1), got {self.dropout}")

    @property
    def n_heads(self) -> int:
        """Number of readout heads."""
        return len(self.heads)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (heads as lists)."""
        d = dataclasses.asdict(self)
        d["heads"] = [list(h) for h in self.heads]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict (unknown keys are an error)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"ModelConfig: unknown keys {sorted(unknown)}")
        kw = dict(d)
        kw["heads"] = tuple(tuple(h) for h in kw["heads"])
        return cls(**kw)


def tiny_config(**overrides: Any) -> ModelConfig:
    """The paper's tinyRSNN: 64 hidden neurons, one readout head (10, 50) ms."""
    kw: dict[str, Any] = {"name": "tinyRSNN", "hidden": int(_TINY["hidden"]), "heads": TINY_HEADS, **_taus(_TINY)}
    kw.update(overrides)
    return ModelConfig(**kw)


def big_config(hidden: int = int(_BIG["hidden"]), **overrides: Any) -> ModelConfig:
    """The paper's bigRSNN: 1024 hidden neurons, five readout heads."""
    kw: dict[str, Any] = {"name": "bigRSNN", "hidden": hidden, "heads": BIG_HEADS, **_taus(_BIG)}
    kw.update(overrides)
    return ModelConfig(**kw)


def config_for(name: str, **overrides: Any) -> ModelConfig:
    """Config of a model id ("tinyRSNN" or "bigRSNN")."""
    if name == "tinyRSNN":
        return tiny_config(**overrides)
    if name == "bigRSNN":
        return big_config(**overrides)
    raise ValueError(f"unknown model {name!r}; use tinyRSNN or bigRSNN")


def model_config_from(name: str, network: Mapping) -> ModelConfig:
    """Build the ModelConfig of a network from its `network.<name>` config section."""
    return ModelConfig(
        name=name,
        hidden=int(network["hidden"]),
        heads=tuple(tuple(float(v) for v in head) for head in network["heads"]),
        tau_mem_ms=float(network.get("tau_mem_ms", 20.0)),
        tau_syn_ms=float(network.get("tau_syn_ms", 10.0)),
        dropout=float(network.get("dropout", 0.3)),
    )
