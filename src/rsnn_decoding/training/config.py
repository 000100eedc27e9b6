"""Hyper-parameters of one training stage: `TrainConfig` (METHOD.md section 4)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rsnn_decoding.paper import network_values, paper_values

_TRAINING = paper_values()["training"]
_FIXED = paper_values()["train"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training stage (METHOD.md §4)."""

    epochs: int
    t_max: int
    lr: float = float(_TRAINING["lr"])
    batch_size: int = int(_TRAINING["batch_size"])
    window: int = int(_TRAINING["window"])
    offsets: tuple[int, ...] = tuple(int(o) for o in _TRAINING["offsets"])
    sigma_u: float = float(_FIXED["sigma_u"])
    ff_scale: float = float(_FIXED["ff_scale"])
    rec_scale: float = float(_FIXED["rec_scale"])
    lower_reg_strength: float = float(_FIXED["lower_reg_strength"])
    lower_reg_threshold: float = float(_FIXED["lower_reg_threshold"])
    upper_reg_strength: float = float(network_values("tinyRSNN")["upper_reg_strength"])
    upper_reg_threshold: float = float(_FIXED["upper_reg_threshold"])
    eps: float = float(_FIXED["eps"])

    def __post_init__(self) -> None:
        """Normalise offsets to a tuple of ints and check the values."""
        object.__setattr__(self, "offsets", tuple(int(o) for o in self.offsets))
        if self.epochs < 1 or self.t_max < 1:
            raise ValueError(f"TrainConfig: epochs and t_max must be >= 1, got {self.epochs}, {self.t_max}")
        if self.batch_size < 1 or self.window < 1 or not self.offsets:
            raise ValueError("TrainConfig: batch_size, window must be >= 1 and offsets non-empty")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible dict (offsets as a list)."""
        d = dataclasses.asdict(self)
        d["offsets"] = list(self.offsets)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict (unknown keys are an error)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"TrainConfig: unknown keys {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def for_model(cls, model_name: str, epochs: int, t_max: int, **overrides: Any) -> TrainConfig:
        """Paper settings for a model id (paper.yaml): upper regularizer 0.01 for tinyRSNN, 0 for bigRSNN."""
        kw: dict[str, Any] = {"upper_reg_strength": float(network_values(model_name)["upper_reg_strength"])}
        kw.update(overrides)
        return cls(epochs=epochs, t_max=t_max, **kw)


def train_config_from(training: Mapping, stage: Mapping, network: Mapping) -> TrainConfig:
    """Build the TrainConfig of one stage from the `training` section, the stage and the network."""
    return TrainConfig(
        epochs=int(stage["epochs"]),
        t_max=int(stage["t_max"]),
        lr=float(training["lr"]),
        batch_size=int(training["batch_size"]),
        window=int(training["window"]),
        offsets=tuple(int(o) for o in training["offsets"]),
        upper_reg_strength=float(network["upper_reg_strength"]),
    )
