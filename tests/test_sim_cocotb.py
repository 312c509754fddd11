"""cocotb benches under Verilator: the top level of two configs, and proofs that the checker can fail."""

from __future__ import annotations

import pytest

from hwq.config import HwqConfig
from hwq.sim.cocotb_run import run_cocotb

pytestmark = pytest.mark.sim

#: two small configurations for the default run (builds are cached per slug in sim_build/)
CI_CONFIGS = [HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2),
              HwqConfig(lattice="Z", q=8, hadamard=16, lanes=4)]


def _fails(res: dict) -> dict[str, str]:
    return {t["name"]: t["message"] for t in res["tests"] if not t["passed"]}


@pytest.mark.parametrize("cfg", CI_CONFIGS, ids=lambda c: c.slug)
def test_top_regression(cfg: HwqConfig) -> None:
    res = run_cocotb(cfg, "top", seed=5)
    assert res["error"] is None, res["error"]
    assert not _fails(res), _fails(res)
    assert {t["name"] for t in res["tests"]} == {"traffic", "full_rate", "reset_midstream", "extremes"}
    assert res["outputs_checked"] > 0 and res["block_ops"] > 0
    by = {s["test"]: s for s in res["stats"]}
    rm = by["reset_midstream"]
    assert rm["checked_before_reset"] > 0 and rm["checked_after_reset"] > 0
    assert rm["inputs_pending_at_reset"] + rm["outputs_pending_at_reset"] > 0  # really mid-stream
    assert by["extremes"]["block_ops"] >= cfg.max_blocks * cfg.lanes  # the longest dot product ran


def test_checker_fails_on_corrupted_expected_value() -> None:
    res = run_cocotb(CI_CONFIGS[0], "top", tests=["traffic"], seed=5, corrupt_expected=True)
    fails = _fails(res)
    assert "traffic" in fails and "mismatch" in fails["traffic"], res["tests"]


def test_checker_fails_on_corrupted_rom_entry() -> None:
    res = run_cocotb(CI_CONFIGS[0], "dec", tests=["traffic"], seed=5, corrupt_rom=True)
    assert res["corruption"] is not None and res["corruption"]["old"] != res["corruption"]["new"]
    fails = _fails(res)
    assert "traffic" in fails and "mismatch" in fails["traffic"] and "cw" in fails["traffic"], res["tests"]
