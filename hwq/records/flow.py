"""Records of the pipelines: ``hwq flow`` (its stages) and ``hwq explore`` (a stage of one point, the
fronts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hwq.errors import HwqError
from hwq.records.envelope import Record


@dataclass(frozen=True)
class FlowStage:
    """One stage of ``hwq flow``: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    stage: str
    status: str
    seconds: float
    result: Mapping[str, Any] | None = None
    error: str | None = None
    traceback: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("ok", "failed", "skipped"):
            raise HwqError(f"flow stage status {self.status!r} is not ok, failed or skipped")



@dataclass(frozen=True)
class Flow(Record):
    """``hwq flow``: the stages run on one config; paths are relative to the flow's work folder."""

    KIND: ClassVar[str] = "flow"
    COMMAND: ClassVar[str] = "hwq flow --config FILE"
    ROWS: ClassVar[str] = "stages"

    config: Mapping[str, Any]
    seconds: float
    stages: tuple[FlowStage, ...]

    def failed(self) -> FlowStage | None:
        return next((s for s in self.stages if s.status == "failed"), None)


@dataclass(frozen=True)
class ExploreStage(Record):
    """One stage of ``hwq explore`` on one point (a config or a baseline): the content-addressed unit of its
    store. ``status``: ``ok``, ``n/a`` (the point cannot have this stage; ``reason`` says why) or ``failed``
    (``reason`` holds the error line). ``key`` is the store address (point identity + stage + stage version +
    tool versions + settings); ``values`` the stage's figures (named in :mod:`hwq.explore.stages`)."""

    KIND: ClassVar[str] = "explore-stage"
    COMMAND: ClassVar[str] = "hwq explore --space FILE --out DIR"
    ROWS: ClassVar[str] = ""

    point: str
    stage: str
    version: int
    key: str
    status: str
    seconds: float
    node: str
    values: Mapping[str, Any]
    config: Mapping[str, Any] | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("ok", "n/a", "failed"):
            raise HwqError(f"explore stage status {self.status!r} is not ok, n/a or failed")


@dataclass(frozen=True)
class ExploreFront(Record):
    """``hwq explore``: every point's objectives, the Pareto fronts, the pruned points, the measured stage
    times and the cost projection of the full space, and what the front recommends."""

    KIND: ClassVar[str] = "explore-front"
    COMMAND: ClassVar[str] = "hwq explore --space FILE --out DIR"
    ROWS: ClassVar[str] = "points"

    space: Mapping[str, Any]
    points: tuple[Mapping[str, Any], ...]
    invalid: tuple[Mapping[str, Any], ...]
    fronts: Mapping[str, Any]
    stage_seconds: Mapping[str, Any]
    projection: Mapping[str, Any]
    recommendation: tuple[str, ...]
    seconds: float
    nodes: tuple[str, ...]
    counts: Mapping[str, Any]
