"""The content-addressed store of ``hwq explore``: one :class:`hwq.records.ExploreStage` record per (point,
stage), at ``<root>/<stage>/<key[:20]>.json``.

The key is the SHA-256 of what changes a stage's result: the point's identity (the config fields the stage
reads, or the baseline's spec), the stage name and version, the tool versions and the stage's settings
(:func:`hwq.explore.stages.stage_key`). A record is reused only when its full key matches; a damaged or
stale file is recomputed and replaced. Writes are atomic (a temporary file renamed into place), so an
interrupted sweep leaves only whole records, and a rerun resumes from them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping

from hwq.errors import HwqError
from hwq.records import ExploreStage, load

__all__ = ["Store", "digest"]


def digest(obj: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


class Store:
    """Stage records under ``root`` (created on the first write)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / f"{key[:20]}.json"

    def get(self, stage: str, key: str) -> ExploreStage | None:
        """The stored record of ``key``, or None (missing, damaged, another schema or another key)."""
        p = self.path(stage, key)
        if not p.is_file():
            return None
        try:
            rec = load(p, ExploreStage)
        except HwqError:
            return None
        return rec if rec.key == key and rec.stage == stage else None

    def put(self, rec: ExploreStage) -> Path:
        """Write ``rec`` atomically at its address."""
        p = self.path(rec.stage, rec.key)
        tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
        rec.save(tmp)
        os.replace(tmp, p)
        return p

    def records(self) -> list[ExploreStage]:
        """Every readable record in the store."""
        out = []
        if self.root.is_dir():
            for p in sorted(self.root.glob("*/*.json")):
                try:
                    out.append(load(p, ExploreStage))
                except HwqError:
                    continue
        return out
