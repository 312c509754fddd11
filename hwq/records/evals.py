"""Records of the evaluations (``hwq eval``): the paper's table, rate-distortion sweeps, a real model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hwq.records.envelope import Record


@dataclass(frozen=True)
class EvalPaper(Record):
    """The paper's table: product distortion of each scheme at the target rate, with the checks."""

    KIND: ClassVar[str] = "eval-paper"
    COMMAND: ClassVar[str] = "hwq eval paper"

    n: int
    cols: int
    seed: int
    target_rate: float
    rows: tuple[Mapping[str, Any], ...]
    checks: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EvalRd(Record):
    """The rate-distortion sweep of every method on iid Gaussian matrices."""

    KIND: ClassVar[str] = "eval-rd"
    COMMAND: ClassVar[str] = "hwq eval rd"

    n: int
    cols: int
    seed: int
    seconds: float
    rows: tuple[Mapping[str, Any], ...]
    skipped: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EvalWatersic(Record):
    """WaterSIC (and its peers) against the Gaussian waterfilling bound."""

    KIND: ClassVar[str] = "eval-watersic"
    COMMAND: ClassVar[str] = "hwq eval rd"

    seed: int
    rows: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EvalModel(Record):
    """A real model's linear layers quantized with each method; ``verdict`` is the printed conclusion."""

    KIND: ClassVar[str] = "eval-model"
    COMMAND: ClassVar[str] = "hwq eval model minilm"

    model: str
    meta: Mapping[str, Any]
    rows: tuple[Mapping[str, Any], ...]
    layers: Mapping[str, Any]
    kashin: Mapping[str, Any]
    verdict: tuple[str, ...]
