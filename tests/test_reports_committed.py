"""The published measurements under reports/: every committed JSON is a current record, without absolute paths.

``LEGACY`` lists the committed files still in their pre-record format; their owners regenerate them with the
producers switched to :mod:`hwq.records` (synthesis, simulation, C benchmark, roofline), and the list is
emptied at merge time. A file on the list that has become a record fails too, so the list cannot go stale.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hwq import records as R
from hwq.errors import HwqError

REPO = Path(__file__).resolve().parents[1]

LEGACY = {
    "reports/bench/c_d3q6_nd_h64_l8_a1464a.json",  # hwq bench c (codegen/bench.py)
    "reports/roofline/ecp5-85f_minilm-l6_decode_d3q6_nd_h64_l8_a1464a.json",  # hwq roofline (hwq/roofline.py)
    "reports/roofline/h100-sxm_llama3-8b_decode_d3q6_nd_h64_l8_a1464a.json",
    "reports/roofline/h200_llama3-70b_decode_d3q6_nd_h64_l8_a1464a.json",
    "reports/roofline/host_llama3-8b_decode_d3q6_nd_h64_l8_a1464a.json",
}


def _committed() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files", "reports"], cwd=REPO, capture_output=True, text=True, check=True)
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
        if f in LEGACY:
            continue
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


def test_legacy_list_is_not_stale() -> None:
    files = set(_committed())
    assert LEGACY <= files, f"listed but not committed: {sorted(LEGACY - files)}"
    for f in sorted(LEGACY):
        data = json.loads((REPO / f).read_text())
        is_record = isinstance(data, dict) and data.get("kind") in R.KINDS and "schema" in data
        assert not is_record, f"{f} is a record now: take it off LEGACY"
