"""hwq.sim.build: a damaged cached cocotb simulator is rebuilt (the stamp records the executable's
SHA-256)."""

from __future__ import annotations

import pytest
from hwq.sim.build import build_cocotb, generate_rtl, slug_dir, stamp_ok, unit_module

from hwq.config import HwqConfig

CFG = HwqConfig(lattice="D3", q=6, hadamard=16, lanes=2)  # test_sim_cocotb's config: its build is reused


@pytest.mark.sim
@pytest.mark.slow
def test_damaged_cocotb_simulator_is_rebuilt() -> None:
    module, vfile = unit_module(generate_rtl(CFG, "top"), "top")
    folder = slug_dir(CFG) / "cocotb_top"
    build_cocotb(module, vfile, folder)
    exe = folder / module
    good = exe.read_bytes()
    stamp = (folder / ".stamp").read_text().split()[0]
    assert stamp_ok(folder, stamp, exe)
    exe.write_bytes(good[: len(good) // 3])  # truncated: "Exec format error" or a crash on every run
    assert not stamp_ok(folder, stamp, exe)
    build_cocotb(module, vfile, folder)
    assert stamp_ok(folder, stamp, exe) and len(exe.read_bytes()) > len(good) // 3
