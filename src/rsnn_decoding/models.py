"""Model ids of the workflow and their kinds: trained here, released by the authors, or the ridge baseline.

This is the one place that says what a model id is; the workflow (common.smk: networks,
wildcard constraints, released checkpoints), the config schema's enum (checked by a test) and
the report's labels read it.
"""

from __future__ import annotations

from rsnn_decoding.errors import UserError

KINDS = ("trained", "released", "ridge")
MODEL_KINDS: dict[str, str] = {
    "tinyRSNN": "trained",
    "bigRSNN": "trained",
    "ridge": "ridge",
    "tinyRSNN_published": "released",
    "bigRSNN_published": "released",
}
# network architecture of each network id (released ids load as the architecture they were built as)
ARCHITECTURE: dict[str, str] = {
    "tinyRSNN": "tinyRSNN",
    "bigRSNN": "bigRSNN",
    "tinyRSNN_published": "tinyRSNN",
    "bigRSNN_published": "bigRSNN",
}
RELEASED_SEEDS = (1, 2, 3, 4, 5)


def model_kind(model_id: str) -> str:
    """Kind of a model id: trained, released or ridge; UserError for an unknown id."""
    try:
        return MODEL_KINDS[model_id]
    except KeyError:
        raise UserError(
            f"model {model_id!r}: unknown model id; use one of {', '.join(MODEL_KINDS)}"
        ) from None


def models_of_kind(models: list[str], kind: str) -> list[str]:
    """The ids of `models` (in order) that are of one kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    return [m for m in models if model_kind(m) == kind]


def architecture(model_id: str) -> str:
    """Network architecture (tinyRSNN or bigRSNN) of a network id; UserError for ridge or unknown ids."""
    if model_id not in ARCHITECTURE:
        raise UserError(f"model {model_id!r}: not a network id; use one of {', '.join(ARCHITECTURE)}")
    return ARCHITECTURE[model_id]


def wildcard_pattern(kinds: tuple[str, ...] = KINDS) -> str:
    """Regular expression matching exactly the model ids of the given kinds (for wildcard_constraints)."""
    ids = sorted((m for m, k in MODEL_KINDS.items() if k in kinds), key=len, reverse=True)
    return "|".join(ids)


def display_name(model_id: str) -> str:
    """Label of a model id in tables: released networks read 'tinyRSNN (released)'."""
    if MODEL_KINDS.get(model_id) == "released":
        return f"{ARCHITECTURE[model_id]} (released)"
    return model_id
