"""The content-addressed store of hwq explore resumes a sweep: a second run recomputes nothing, a damaged or
stale record is recomputed, points that share a record compute it once (hwq.explore.store, runner)."""

from __future__ import annotations

import json
import tomllib

import pytest

from hwq.errors import HwqError
from hwq.explore.runner import run_sweep
from hwq.explore.space import Point, parse_space
from hwq.explore.stages import STAGES, stage_key
from hwq.explore.store import Store
from hwq.records import ExploreStage, load

TINY = """
stages = ["quality", "sim", "gpu"]
baselines = ["int4_g128", "mxfp4"]
[settings]
quality_n = 192
quality_cols = 16
sim_rows = 4
[fields]
dither = false
hadamard = 16
lanes = [2, 4]
[[grid]]
lattice = "D3"
q = [4, 6]
"""


def tiny_points(text: str = TINY):
    sp = parse_space(tomllib.loads(text), "tiny.toml")
    pts, _ = sp.points()
    return sp, pts + [Point(b, "baseline", {"baseline": b}) for b in sp.baselines]


def _sweep(sp, pts, root, **kw):
    lines: list[str] = []
    sw = run_sweep(pts, sp.stages, sp.settings, Store(root / "store"), root / "build", executor="inline",
                   log=lines.append, **kw)
    return sw, lines


def test_second_run_recomputes_nothing(tmp_path):
    sp, pts = tiny_points()
    first, lines = _sweep(sp, pts, tmp_path)
    assert len(pts) == 6 and len(first.records) == 6 * 3
    # quality and gpu ignore lanes: the 2- and 4-lane points of a config share one record (computed once)
    assert len(first.computed) == 2 * 3 + 2 * 2 + 2 * 2 and not first.lost
    assert any("sim d3q" in ln and "done" in ln for ln in lines)
    assert first.records[("mxfp4", "quality")].status == "ok"
    second, lines2 = _sweep(sp, pts, tmp_path)
    assert second.computed == [] and len(second.cached) == 6 * 3
    assert ({k: r.to_dict() for k, r in first.records.items()}
            == {k: r.to_dict() for k, r in second.records.items()})
    assert "0 computed, 18 from the store" in lines2[-1]


def test_damaged_or_stale_record_is_recomputed(tmp_path):
    sp, pts = tiny_points()
    first, _ = _sweep(sp, pts, tmp_path)
    store = Store(tmp_path / "store")
    rec = first.records[(pts[0].name, "quality")]
    path = store.path("quality", rec.key)
    assert load(path, ExploreStage).key == rec.key
    path.write_text("{ not json")                                # damaged
    data = json.loads(store.path("sim", first.records[(pts[0].name, "sim")].key).read_text())
    data["key"] = "0" * 64                                       # another key at this address: stale
    store.path("sim", first.records[(pts[0].name, "sim")].key).write_text(json.dumps(data))
    again, _ = _sweep(sp, pts, tmp_path)
    assert sorted(again.computed) == sorted([(pts[0].name, "quality"), (pts[0].name, "sim")])
    assert load(path, ExploreStage).key == rec.key


def test_key_changes_with_what_changes_the_result():
    sp, pts = tiny_points()
    p = pts[0]
    q = STAGES["quality"]
    k = stage_key(p, q, sp.settings, {"hwq": "1"}, {})
    assert k == stage_key(p, q, sp.settings, {"hwq": "1"}, {})
    assert k != stage_key(p, q, {**sp.settings, "quality_n": 384}, {"hwq": "1"}, {})
    assert k != stage_key(p, q, sp.settings, {"hwq": "2"}, {})
    other_q = next(x for x in pts if x.config and x.config["q"] != p.config["q"])
    assert k != stage_key(other_q, q, sp.settings, {"hwq": "1"}, {})
    other_lanes = next(x for x in pts if x.config and x.config["q"] == p.config["q"] and x is not p)
    assert k == stage_key(other_lanes, q, sp.settings, {"hwq": "1"}, {})  # quality ignores lanes
    assert (stage_key(p, STAGES["sim"], sp.settings, {}, {})
            != stage_key(other_lanes, STAGES["sim"], sp.settings, {}, {}))


def test_bad_executor():
    sp, pts = tiny_points()
    with pytest.raises(HwqError, match="executor"):
        run_sweep(pts, sp.stages, sp.settings, Store("x"), "y", executor="dask")


def test_store_keys_follow_the_sources(tmp_path, monkeypatch):
    """A kernel edit changes the kernel stage's key (hwq's version string alone would not move): an identical
    copy of the codegen sources has the same digest, one edited header a different one."""
    import shutil
    from pathlib import Path

    import hwq.codegen
    from hwq.explore import stages

    fake = tmp_path / "codegen"
    shutil.copytree(Path(hwq.codegen.__file__).parent, fake, ignore=shutil.ignore_patterns("__pycache__"))
    stages.source_digest.cache_clear()
    before = stages.source_digest("codegen")
    monkeypatch.setattr(hwq.codegen, "__file__", str(fake / "__init__.py"))
    stages.source_digest.cache_clear()
    assert stages.source_digest("codegen") == before
    header = fake / "include" / "hwq_table_c.h"
    header.write_text(header.read_text() + "\n")
    stages.source_digest.cache_clear()
    assert stages.source_digest("codegen") != before
    assert stages._kernel_tools()["hwq_codegen_src"] == stages.source_digest("codegen")
    stages.source_digest.cache_clear()
