"""Icarus Verilog as the second simulator of the cocotb benches (``hwq sim --simulator icarus``).

The Verilog hwq generates (Amaranth -> Yosys ``write_verilog``) is plain Verilog-2001; running the same cocotb
benches under Icarus shows it does not depend on Verilator's dialect (Verilator is a cycle-based 2-state
compiler, Icarus an event-driven 4-state interpreter: X propagation, initial blocks and event ordering
differ). Icarus is slow (an interpreter), so it runs short benches only; the bulk harness stays on Verilator.

Builds are cached like the Verilator ones (:mod:`hwq.sim.build`): ``sim_build/<slug>/icarus_<unit>/`` with a
``.stamp`` of the Verilog text and the compile flags.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import time
from pathlib import Path

from hwq.sim.build import digest, locked, stamp_ok, write_stamp

from hwq.errors import HwqError

__all__ = ["SIMULATORS", "build_icarus", "icarus_version", "require_icarus"]

#: simulators the cocotb benches run on
SIMULATORS = ("verilator", "icarus")

_MISSING = ("Icarus Verilog not found (`iverilog`/`vvp` not on PATH): install the Debian package iverilog "
            "(apt-get install iverilog), or use --simulator verilator")


@functools.cache
def icarus_version() -> str | None:
    """``"11.0"`` style version of the ``iverilog`` on PATH, or None when it (or ``vvp``) is missing."""
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        return None
    out = subprocess.run([exe, "-V"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()[:1]
    words = first[0].split() if first else []
    return words[3] if len(words) > 3 and words[:3] == ["Icarus", "Verilog", "version"] else "unknown"


def require_icarus() -> str:
    """The Icarus version; raises :class:`HwqError` naming the Debian package when it is missing."""
    v = icarus_version()
    if v is None:
        raise HwqError(_MISSING)
    return v


def build_icarus(module: str, verilog: Path, folder: Path) -> Path:
    """Compile (or reuse) a cocotb Icarus simulation of ``module`` in ``folder``; returns ``folder``."""
    from cocotb_tools.runner import get_runner

    version = require_icarus()
    key = digest(verilog.read_text(), module, version, "timescale=1ns/1ps")
    with locked(folder):
        if stamp_ok(folder, key) and (folder / "sim.vvp").is_file():
            return folder
        for child in folder.iterdir():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        log = folder / "build.log"
        t0 = time.perf_counter()
        try:
            get_runner("icarus").build(sources=[verilog], hdl_toplevel=module, build_dir=folder,
                                       timescale=("1ns", "1ps"), log_file=log)
        except (RuntimeError, SystemExit) as e:
            tail = log.read_text()[-3000:] if log.is_file() else ""
            raise HwqError(f"Icarus build of {module} failed ({e}); log {log}:\n{tail}") from None
        (folder / "build_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}\n")
        write_stamp(folder, key)
    return folder
