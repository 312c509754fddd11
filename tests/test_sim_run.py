"""hwq.sim.run: the configuration matrix, bad input, and (slow) the full matrix, the default config and
waveforms."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.sim.run import run_sim, sim_matrix

MATRIX = sim_matrix()


def test_matrix_covers_the_issue() -> None:
    seen = {(c.lattice, c.q, c.lanes, c.decoder_kind) for c, _ in MATRIX}
    for lat, q in (("Z", 8), ("D3", 6), ("D4", 4), ("E8", 7)):
        lanes = {ln for (la, qq, ln, _) in seen if (la, qq) == (lat, q)}
        assert len(lanes) >= 2, (lat, q, lanes)
    assert all(k == "arith" for (la, _, _, k) in seen if la == "E8")
    assert all("top" in units for _, units in MATRIX)
    assert sum("int4" in units for _, units in MATRIX) >= 2  # the INT4 baseline at both lane counts


def test_run_sim_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(HwqError, match="--bulk must be >= 0"):
        run_sim(HwqConfig(hadamard=16, lanes=2), out_dir=tmp_path, bulk=-1)
    with pytest.raises(HwqError, match="dither = false"):
        run_sim(HwqConfig(hadamard=16, lanes=2, dither=True), out_dir=tmp_path)


def test_run_sim_refuses_nothing_to_verify_and_unknown_units(tmp_path: Path) -> None:
    cfg = HwqConfig(hadamard=16, lanes=2)
    with pytest.raises(HwqError, match="nothing to verify"):
        run_sim(cfg, out_dir=tmp_path, bulk=0, cocotb=False)
    with pytest.raises(HwqError, match="names no unit: give one or more of top, mac"):
        run_sim(cfg, out_dir=tmp_path, units=())
    with pytest.raises(HwqError, match=r"unknown RTL unit\(s\) 'nope'.*units: top, mac, had"):
        run_sim(cfg, out_dir=tmp_path, units=("top", "nope"))
    assert not any(tmp_path.iterdir())


@pytest.mark.sim
def test_two_runs_of_one_config_take_turns(tmp_path: Path) -> None:
    """Two ``hwq sim`` processes of one config share sim_build/<slug>/runs: the second waits for the
    first (both pass), instead of deleting the first one's run folder under it."""
    import subprocess
    import sys

    from hwq.sim.build import slug_dir
    from test_locks import hold, release, wait_for_line

    cfg = HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2)  # test_sim_bulk's config: its build is reused
    path = tmp_path / "c.toml"
    cfg.save(path)
    holder = hold(slug_dir(cfg) / "runs.lock")
    runs = [subprocess.Popen([sys.executable, "-m", "hwq.cli", "sim", "--config", str(path), "--no-cocotb",
                              "--no-coverage", "--bulk", "300", "--out", str(tmp_path / name)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in "ab"]
    for p in runs:
        wait_for_line(p.stderr, "waiting for the simulation runs of")
    release(holder)
    results = [p.communicate(timeout=900) for p in runs]
    for p, (out, err) in zip(runs, results, strict=True):
        assert p.returncode == 0 and "all passed" in out, (out, err)
    assert (tmp_path / "a" / f"{cfg.slug}.json").is_file() and (tmp_path / "b" / f"{cfg.slug}.json").is_file()


def _check(rep: dict, units: tuple[str, ...]) -> None:
    failed = {f"{u}.{t['name']}": t["message"] for u, r in rep["cocotb"].items() for t in r["tests"]
              if not t["passed"]}
    errors = {u: r["error"] for u, r in rep["cocotb"].items() if r["error"]}
    assert not failed and not errors, (failed, errors)
    assert set(rep["cocotb"]) == set(units)
    b = rep["bulk"]
    assert b["bit_exact"] and b["block_ops"] >= 10000, {k: b[k] for k in ("stress", "stream", "isolated")}
    assert rep["summary"]["bulk_mismatches"] == 0
    assert rep["passed"]


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("cfg,units", MATRIX, ids=[c.slug for c, _ in MATRIX])
def test_matrix_config(cfg: HwqConfig, units: tuple[str, ...], tmp_path: Path) -> None:
    rep = run_sim(cfg, out_dir=tmp_path, bulk=10000, seed=3, units=units, coverage=False)
    _check(rep, units)
    assert (tmp_path / f"{cfg.slug}.json").is_file()


@pytest.mark.sim
@pytest.mark.slow
def test_default_config_as_the_flow_runs_it(tmp_path: Path) -> None:
    """`hwq flow` calls run_sim(HwqConfig(), bulk=10000, seed=1): cocotb (incl. the longest dot products of
    max_k) and the coverage-instrumented bulk run."""
    rep = run_sim(HwqConfig(), out_dir=tmp_path, bulk=10000, seed=1)
    _check(rep, ("top",))
    assert rep["summary"]["line_coverage"] >= 90.0
    by = {s["test"]: s for s in rep["cocotb"]["top"]["stats"]}
    cfg = HwqConfig()
    step = cfg.k_step
    k_ext = cfg.max_k // step * step  # the longest GEMV the buffer holds (K = 16320 for the default config)
    assert by["extremes"]["block_ops"] == 2 * cfg.lanes * (k_ext // cfg.dim)
    assert by["extremes"]["cycles"] > 2 * k_ext  # the activation load phase alone is K cycles per vector


@pytest.mark.sim
@pytest.mark.slow
def test_waves_write_an_fst(tmp_path: Path) -> None:
    from hwq.sim.cocotb_run import run_cocotb

    res = run_cocotb(HwqConfig(hadamard=16, lanes=2), "top", tests=["full_rate"], seed=1, waves=True,
                     out_dir=tmp_path)
    assert res["passed"], res["tests"]
    fst = Path(res["waves"])
    assert fst.parent == tmp_path and fst.suffix == ".fst"
    head = fst.read_bytes()[:330]
    # FST header block: type FST_BL_HDR (0), section length, start and end time (big-endian u64), writer
    assert head[0] == 0
    length, start, end = struct.unpack(">QQQ", head[1:25])
    assert length == 329 and end > start >= 0
    assert b"Verilated" in head
