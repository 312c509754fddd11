"""Producers of synthesis and simulation results write :mod:`hwq.records` records that load back equal, and
their readers refuse a file of another schema (or the pre-record format) with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hwq.sim.run import portable, write_report

from hwq import records as R
from hwq.config import HwqConfig
from hwq.perf.devices import synth_reports
from hwq.errors import HwqError

REPO = Path(__file__).resolve().parents[1]
CFG = HwqConfig(hadamard=16, lanes=2)


def _sim_report(tmp: Path) -> dict:
    """A run_sim result dict as a real run returns it: the committed record's figures, machine paths."""
    rec = R.load(REPO / "reports/sim/d3q6_nd_h16_l2_67b2bc.json", R.Sim)
    bulk = {**rec.bulk, "coverage_file": str(tmp / "sim_build" / CFG.slug / "runs" / "cov.dat")}
    run_dir = str(tmp / "sim_build" / CFG.slug / "runs" / "t")
    cocotb = {"top": {"passed": True, "tests": [], "run_dir": run_dir, "log": "/elsewhere/sim.log"}}
    return {"slug": CFG.slug, "config": CFG.to_dict(), "seed": 1, "simulator": "verilator", "cocotb": cocotb,
            "bulk": bulk, "strict_cycles": False, "passed": True, "seconds": 1.0,
            "summary": dict(rec.summary)}


def test_sim_writes_a_record_that_loads_back_equal(tmp_path) -> None:
    rep = _sim_report(tmp_path)
    path = write_report(rep, tmp_path / "out", CFG)
    rec = R.load(path, R.Sim)
    assert rec == R.Sim.from_legacy(portable(rep), stamp=rec.stamp)
    assert rec.stamp.slug == CFG.slug and rec.stamp.config_hash == CFG.hash and "verilator" in rec.stamp.tools
    assert rec.summary == rep["summary"] and rec.bulk["stream"] == rep["bulk"]["stream"]
    cycles = rep["bulk"]["cycle_model"]["measured_min"]
    assert [(p.k, p.m, p.cycles) for p in rec.points] == [(768, 8, cycles)]
    text = path.read_text()
    assert str(tmp_path) not in text and "/elsewhere" not in text
    assert rec.cocotb["top"]["run_dir"] == f"sim_build/{CFG.slug}/runs/t"
    assert rec.cocotb["top"]["log"] == "sim.log"


def _synth_record(folder: Path, schema: int | None = None) -> Path:
    run = R.SynthRun(slug=CFG.slug, module=f"{CFG.slug}_mac", unit="mac", lanes=2, target="ecp5",
                     device="LFE5U-85F", luts=900, ffs=300, brams=0, dsps=0, fmax_mhz=171.5, target_mhz=150.0,
                     latency=11, seed=1)
    path = R.Synth(stamp=R.Stamp.now(CFG), target="ecp5", runs=(run,)).save(folder / "x_ecp5.json")
    if schema is not None:
        path.write_text(json.dumps(json.loads(path.read_text()) | {"schema": schema}))
    return path


def test_synth_reports_read_the_typed_runs(tmp_path) -> None:
    _synth_record(tmp_path / "synth")
    R.SynthSeeds(stamp=R.Stamp.now(CFG), target="ecp5", unit="mac",
                 rows=(R.SeedRow("now", 900, 300, 11, {"1": 170.0}),)).save(tmp_path / "synth" / "seeds.json")
    (tmp_path / "synth" / "cache").mkdir()
    # a pre-record cache entry is passed over (hwq synth rebuilds it)
    (tmp_path / "synth" / "cache" / "old.json").write_text(json.dumps([{"module": "m", "luts": 1}]))
    got = synth_reports(tmp_path)
    assert got == [{"file": str(tmp_path / "synth" / "x_ecp5.json"), "slug": CFG.slug,
                    "module": f"{CFG.slug}_mac", "unit": "mac", "target": "ecp5", "lanes": 2,
                    "fmax_mhz": 171.5, "luts": 900, "ffs": 300, "dsps": 0, "brams": 0}]
    assert synth_reports(tmp_path, target="ice40") == []


@pytest.mark.parametrize("how", ["schema", "legacy"])
def test_synth_reports_refuse_another_schema_in_one_line(tmp_path, how) -> None:
    path = _synth_record(tmp_path / "synth", schema=99 if how == "schema" else None)
    if how == "legacy":
        path.write_text(json.dumps([{"slug": CFG.slug, "module": "m", "luts": 5, "fmax_mhz": 171.5}]))
    with pytest.raises(HwqError) as e:
        synth_reports(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "hwq synth" in msg
    assert ("schema 99" in msg) if how == "schema" else ("not an hwq record" in msg)


def test_committed_published_records_are_read(tmp_path) -> None:
    """The committed synthesis records feed the roofline's Fmax lookup (ECP5 MAC of the default config)."""
    runs = [r for r in synth_reports(REPO / "reports", folders=("synth",)) if r["slug"] == HwqConfig().slug]
    mac = [r for r in runs if r["unit"] == "mac"]
    assert mac and all(isinstance(r["fmax_mhz"], float) and r["target"] == "ecp5" for r in mac)
    matrix = R.load(REPO / "reports/sim/matrix/matrix.json", R.SimMatrix)
    assert len(matrix.rows) == 8 and matrix.failed() == []
