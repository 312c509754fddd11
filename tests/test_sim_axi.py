"""The AXI4-Stream tops under cocotbext-axi (Verilator), the top-level benches under Icarus, and proof that
the AXI checker fails on a corrupted expected value."""

from __future__ import annotations

import pytest
from hwq.sim.cocotb_run import AXI_TESTS, run_cocotb
from hwq.sim.icarus import icarus_version

from hwq.config import HwqConfig

pytestmark = pytest.mark.sim

CFG = HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2)
#: the LUT top of D3 q=6 holds 2 x 216^2 table entries (about 100 s to generate and build): the default run
#: takes the LUT top of Z q=8 (64 entries per lane), D3 runs in the slow set. With h = 4 a row group is K/d =
#: 4 beats, shorter than the latency, so several row groups are in flight and the tlast flag FIFO must keep up
#: (II = 1).
CFG_Z = HwqConfig(lattice="Z", q=8, hadamard=4, lanes=4)
needs_icarus = pytest.mark.skipif(icarus_version() is None,
                                  reason="Icarus Verilog is not installed (Debian package iverilog; "
                                         ".ci/run installs it)")


def _fails(res: dict) -> dict[str, str]:
    return {t["name"]: t["message"] for t in res["tests"] if not t["passed"]}


def _check_axi(res: dict) -> None:
    assert res["error"] is None, res["error"]
    assert not _fails(res), _fails(res)
    assert {t["name"] for t in res["tests"]} == set(AXI_TESTS)
    by = {s["test"]: s for s in res["stats"]}
    assert by["axi_traffic"]["gemvs"] == 4 and by["axi_traffic"]["outputs_checked"] > 0
    rm = by["axi_reset_midstream"]
    assert rm["checked_before_reset"] > 0 and rm["checked_after_reset"] > 0
    assert rm["frames_pending_at_reset"] > 0
    fr = by["axi_full_rate"]
    assert len(fr["w_spans"]) == 4 and len(set(fr["latency"])) == 1


def test_axi_weight_only_verilator() -> None:
    _check_axi(run_cocotb(CFG, "top_axi", seed=5))


@pytest.mark.parametrize("unit", ["top_axi", "luttop_axi"])
def test_axi_short_rows_verilator(unit: str) -> None:
    res = run_cocotb(CFG_Z, unit, seed=5)
    _check_axi(res)
    lat = next(s for s in res["stats"] if s["test"] == "axi_full_rate")["latency"][0]
    assert lat > CFG_Z.hadamard, f"latency {lat}: row groups of {CFG_Z.hadamard} beats would not overlap"


@pytest.mark.slow
def test_axi_lut_d3_verilator() -> None:
    _check_axi(run_cocotb(CFG, "luttop_axi", seed=5))


def test_axi_checker_fails_on_corrupted_expected_value() -> None:
    res = run_cocotb(CFG, "top_axi", tests=["axi_traffic"], seed=5, corrupt_expected=True)
    fails = _fails(res)
    assert "axi_traffic" in fails and "mismatch in 1 of" in fails["axi_traffic"], res["tests"]


@needs_icarus
def test_axi_weight_only_icarus() -> None:
    res = run_cocotb(CFG, "top_axi", seed=5, simulator="icarus")
    _check_axi(res)
    assert res["simulator"] == "icarus"


@needs_icarus
def test_top_icarus() -> None:
    """The native top's bench (traffic, full rate, reset mid-stream, extremes) under Icarus."""
    res = run_cocotb(CFG, "top", seed=5, simulator="icarus")
    assert res["error"] is None, res["error"]
    assert not _fails(res), _fails(res)
    assert {t["name"] for t in res["tests"]} == {"traffic", "full_rate", "reset_midstream", "extremes"}
    assert res["outputs_checked"] > 0


@needs_icarus
def test_icarus_checker_fails_on_corrupted_expected_value() -> None:
    res = run_cocotb(CFG, "top", tests=["traffic"], seed=5, corrupt_expected=True, simulator="icarus")
    fails = _fails(res)
    assert "traffic" in fails and "mismatch" in fails["traffic"], res["tests"]


@pytest.mark.slow
@needs_icarus
def test_axi_lut_icarus() -> None:
    _check_axi(run_cocotb(CFG, "luttop_axi", seed=5, simulator="icarus"))


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [HwqConfig(lattice="Z", q=8, hadamard=16, lanes=4),
                                 HwqConfig(lattice="E8", q=7, decoder="arith", hadamard=16, lanes=2)],
                         ids=lambda c: c.slug)
@pytest.mark.parametrize("seed", [1, 2])
def test_axi_weight_only_more_configs(cfg: HwqConfig, seed: int) -> None:
    _check_axi(run_cocotb(cfg, "top_axi", seed=seed))


def test_unknown_simulator_is_refused() -> None:
    from hwq.errors import HwqError

    with pytest.raises(HwqError, match="unknown simulator 'vcs'"):
        run_cocotb(CFG, "top", simulator="vcs")
    with pytest.raises(HwqError, match="unknown cocotb test"):
        run_cocotb(CFG, "top_axi", tests=["traffic"])


@needs_icarus
def test_cli_sim_simulator_icarus(tmp_path, capsys) -> None:
    import json

    from hwq.cli import main

    p = tmp_path / "c.json"
    CFG_Z.save(p)
    rc = main(["sim", "--config", str(p), "--units", "top_axi", "--bulk", "0", "--simulator", "icarus",
               "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "simulator icarus" in out and "tests 3/3" in out
    rep = json.loads((tmp_path / "r" / f"{CFG_Z.slug}.json").read_text())
    assert rep["simulator"] == "icarus" and rep["cocotb"]["top_axi"]["simulator"] == "icarus"
