"""The published measurements under reports/: every committed JSON is a current record, without absolute
paths."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from hwq import records as R
from hwq.errors import HwqError

REPO = Path(__file__).resolve().parents[1]

def _committed() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "reports"], cwd=REPO, capture_output=True, text=True,
                             check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the committed reports cannot be listed")
    return sorted(f for f in out.stdout.split() if f.endswith(".json"))


def _strings(d: Any) -> list[str]:
    if isinstance(d, dict):
        return [s for v in d.values() for s in _strings(v)]
    if isinstance(d, list):
        return [s for v in d for s in _strings(v)]
    return [d] if isinstance(d, str) else []


def test_every_committed_json_is_a_current_record() -> None:
    files = _committed()
    assert files, "no JSON under reports/"
    bad = []
    for f in files:
        try:
            rec = R.load_any(REPO / f)
        except HwqError as e:
            bad.append(str(e))
            continue
        absolute = [s for s in _strings(rec.to_dict()) if s.startswith(("/", "~")) or s[1:3] == ":\\"]
        if absolute:
            bad.append(f"{f}: absolute path(s) {absolute[:2]}")
        assert rec.COMMAND, f"{rec.KIND} has no regenerating command"
    assert not bad, "\n".join(bad)
