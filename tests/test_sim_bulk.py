"""Native Verilator bulk harness: bit-exact streaming, cycle model, and a harness that can fail."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.sim.bulk import build_bulk, run_bulk, run_harness

pytestmark = pytest.mark.sim

CFG = HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2)


@pytest.fixture(scope="module")
def bulk_result() -> dict:
    return run_bulk(CFG, "top", ops=10000, seed=2, coverage=False)


def test_bulk_bit_exact(bulk_result: dict) -> None:
    r = bulk_result
    assert r["block_ops"] >= 10000
    for name in ("stress", "stream", "isolated"):
        assert r[name]["done"] and r[name]["mismatches"] == 0, r[name]
        assert r[name]["checked"] == r["beats"]["o"]
    assert r["stress"]["cycles"] > r["stream"]["cycles"]  # gaps and backpressure really slowed it down


def test_bulk_cycle_model(bulk_result: dict) -> None:
    cm = bulk_result["cycle_model"]
    assert cm["checked"] and cm["transactions"] >= 5
    assert cm["ok_each_within_2"], cm
    assert cm["ok_run_within_1pct"], cm


def test_harness_fails_on_corrupted_expected_value(bulk_result: dict, tmp_path) -> None:
    import shutil
    from pathlib import Path

    exe, _ = build_bulk(CFG, "top")
    src = Path(bulk_result["slug"] and exe.parent.parent / "runs" / "bulk_top_2_10000")
    dst = tmp_path / "vec"
    shutil.copytree(src, dst)
    o = np.fromfile(dst / "o.bin", dtype="<u4")
    o[len(o) // 2] ^= 1
    o.tofile(dst / "o.bin")
    r = run_harness(exe, dst, 1000, 1000, 1)
    assert r["mismatches"] == 1 and r["returncode"] != 0


def test_damaged_cached_harness_is_rebuilt(bulk_result: dict) -> None:
    """A cached executable damaged after its build ("Exec format error") is rebuilt, not fatal forever;
    running a damaged one is a one-line ToolError naming it."""
    from pathlib import Path

    from hwq.errors import ToolError

    exe, _ = build_bulk(CFG, "top")
    vec = Path(exe.parent.parent / "runs" / "bulk_top_2_10000")
    good = exe.read_bytes()
    exe.write_bytes(b"\x7fELF garbage" + good[64:4096])
    with pytest.raises(ToolError, match="could not run"):
        run_harness(exe, vec, 1000, 1000, 1)
    again, _ = build_bulk(CFG, "top")
    assert again == exe and again.read_bytes()[:4] == b"\x7fELF"
    r = run_harness(again, vec, 1000, 1000, 2)
    assert r["done"] and r["mismatches"] == 0 and r["checked"] == bulk_result["beats"]["o"]
