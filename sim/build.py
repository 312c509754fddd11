"""Cached builds: Verilog from the RTL generator, cocotb/Verilator simulators and payload layouts.

Layout of the build folder (``hwq.sim.toolchain.build_root()``)::

    sim_build/<slug>/rtl_<unit>/        hwq.rtl.build.generate(only=[unit]) output (.v, manifest.json)
    sim_build/<slug>/cocotb_<unit>[_<variant>]/   cocotb Verilator build (Vtop, per unit, per variant)
    sim_build/<slug>/bulk_<unit>[_cov]/           native Verilator harness (see hwq.sim.bulk)

    sim_build/_runtime/<key>/           compiled Verilator runtime objects (verilated*.o), shared

Every build folder holds a ``.stamp`` with a hash of its inputs (Verilog text, flags, harness source);
a build whose stamp matches is reused, so one Verilator build serves every test of a session. A file lock
serialises concurrent builders of the same folder (pytest-xdist).

Build time is dominated by compiling Verilator's own runtime (``verilated.cpp``, ``verilated_vpi.cpp``,
``verilated_threads.cpp``: about 20 s of CPU per build), not by the model. :func:`shared_runtime` keeps one
compiled copy per set of runtime compile flags (:func:`runtime_key`; cocotb and plain bulk builds share
one) and drops it into each new build folder before ``make`` runs, which then finds the objects up to
date. The first builder of a key builds under that key's lock, so a concurrent builder (the other
pytest-xdist worker) waits and reuses its objects instead of compiling them a second time. cocotb builds
also mark only the top-level ports public (a Verilator control file) instead of cocotb's default
``--public-flat-rw`` on every signal, which would keep every internal net alive in the C++ model.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import re
import shutil
import time
import warnings
from pathlib import Path
from typing import Iterator

from hwq.config import HwqConfig
from hwq.errors import HwqError, ToolError
from hwq.locks import file_lock
from hwq.sim.payload import Layout
from hwq.sim.toolchain import VERILATOR_WARN_ARGS, build_root, ensure_verilator_env, fst_build_args

__all__ = ["slug_dir", "generate_rtl", "unit_module", "unit_layouts", "build_cocotb", "corrupt_rom_entry",
           "locked", "stamp_ok", "write_stamp", "digest", "runtime_key", "seed_runtime", "harvest_runtime",
           "shared_runtime", "rtl_sources_key", "COCOTB_MAKE_OPT"]

#: C++ optimisation of cocotb simulator builds (model at -O0: it compiles in a second or two and the
#: simulation speed is bound by cocotb's Python side, not by the model)
COCOTB_MAKE_OPT = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"
#: Verilator runtime objects that do not depend on the model (cocotb's verilator.o includes Vtop.h: not
# shared)
_RUNTIME_OBJ = re.compile(r"^verilated(_[a-z0-9_]+)?\.[od]$")


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Exclusive lock on ``folder/.lock`` (created; see :func:`hwq.locks.file_lock`)."""
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".lock", what=f"build folder {folder}"):
        yield


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stamp_ok(folder: Path, key: str, artefact: Path | None = None) -> bool:
    """True when ``folder/.stamp`` holds ``key`` and, with ``artefact``, the SHA-256 that file had when the
    stamp was written: a truncated or damaged executable ("Exec format error") fails the check and is
    rebuilt instead of failing every later run."""
    s = folder / ".stamp"
    try:
        lines = s.read_text().split()
    except (OSError, UnicodeDecodeError):
        return False
    if not lines or lines[0] != key:
        return False
    if artefact is None:
        return True
    return len(lines) > 1 and artefact.is_file() and lines[1] == _file_sha(artefact)


def write_stamp(folder: Path, key: str, artefact: Path | None = None) -> None:
    """Write the stamp last, after every output of the build (with the SHA-256 of ``artefact``)."""
    text = key + "\n" + (_file_sha(artefact) + "\n" if artefact is not None else "")
    tmp = folder / ".stamp.tmp"
    tmp.write_text(text)
    tmp.replace(folder / ".stamp")


def slug_dir(cfg: HwqConfig) -> Path:
    d = build_root() / cfg.slug
    d.mkdir(parents=True, exist_ok=True)
    return d


def rtl_sources_key() -> str:
    """Digest of the RTL generator's sources (``hwq.rtl/*.py``): cached results derived from them are
    invalid once it changes."""
    import hwq.rtl

    root = Path(hwq.rtl.__file__).resolve().parent
    files = sorted(root.glob("*.py"))
    return digest(*[f.name + f.read_text() for f in files])


def generate_rtl(cfg: HwqConfig, unit: str) -> dict:
    """Verilog and manifest of one unit of ``cfg`` (``hwq.rtl.build.generate(..., only=[unit])``), cached by
    slug, unit and the content of the RTL sources. Returns the manifest dict with ``"dir"`` added.

    Raises
    ------
    HwqError
        The config cannot be built (the RTL generator names the limit), or the unit does not exist for it.
    """
    from hwq.rtl.build import generate

    out = slug_dir(cfg) / f"rtl_{unit}"
    key = digest(cfg.to_json(), unit, rtl_sources_key())
    with locked(out):
        man_path = out / "manifest.json"
        if not (stamp_ok(out, key) and man_path.is_file()):
            for f in out.glob("*.v"):
                f.unlink()
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                # generate(only=[unit]) constructs every unit and elaborates one: Amaranth warns
                # (UnusedElaboratable) about the others when they are collected
                warnings.simplefilter("ignore")
                generate(cfg, out, only=[unit])
                gc.collect()
            (out / "generate_seconds.txt").write_text(f"{time.perf_counter() - t0:.2f}\n")
            write_stamp(out, key)
        manifest = json.loads(man_path.read_text())
    manifest["dir"] = str(out)
    _unit_entry(manifest, unit)
    return manifest


def _unit_entry(manifest: dict, unit: str) -> dict:
    units = manifest.get("units", {})
    if unit not in units:
        raise HwqError(f"the RTL manifest of {manifest.get('slug')} has no unit {unit!r} (units: "
                       f"{', '.join(units)}); {manifest.get('notes', '')}".rstrip("; "))
    return units[unit]


def unit_module(manifest: dict, unit: str) -> tuple[str, Path]:
    """(Verilog module name, file) of a unit."""
    ent = _unit_entry(manifest, unit)
    module = ent.get("module") or (manifest["slug"] if unit == "top" else f"{manifest['slug']}_{unit}")
    path = Path(manifest["dir"]) / ent.get("file", f"{module}.v")
    if not path.is_file():
        raise HwqError(f"Verilog file {path} of unit {unit!r} is missing; regenerate with `hwq rtl`")
    return module, path


def unit_layouts(manifest: dict, unit: str) -> dict[str, Layout]:
    """Payload layouts ``port -> Layout`` of a unit from the manifest."""
    ent = _unit_entry(manifest, unit)
    out = {}
    for port, desc in ent["ports"].items():
        if isinstance(desc, dict) and "fields" in desc:
            out[port] = Layout(desc["fields"], desc.get("payload_bits"))
    return out


def corrupt_rom_entry(src: Path, dst: Path, index: int | None = None, memory: str | None = None) -> dict:
    """Copy a Verilog file and flip bit 0 of one ROM initialisation entry (``mem[i] = N'h...;``).

    Used only to prove that the benches catch a wrong table entry. Returns which entry was changed.

    Raises
    ------
    HwqError
        The file has no initialised memory.
    """
    text = src.read_text()
    pat = re.compile(r"^(\s*)([\w$\\.]+)\[(\d+)\] = (\d+)'h([0-9a-fA-F_]+);", re.M)
    hits = [m for m in pat.finditer(text) if memory is None or m.group(2) == memory]
    if not hits:
        raise HwqError(f"{src} has no initialised memory to corrupt")
    if index is not None:
        sel = [m for m in hits if int(m.group(3)) == index]
        if not sel:
            raise HwqError(f"{src} has no memory entry [{index}]")
        hit = sel[0]
    else:
        hit = hits[len(hits) // 2]
    width = int(hit.group(4))
    old = int(hit.group(5).replace("_", ""), 16)
    new = old ^ 1
    digits = (width + 3) // 4
    repl = f"{hit.group(1)}{hit.group(2)}[{hit.group(3)}] = {width}'h{new:0{digits}x};"
    dst.write_text(text[:hit.start()] + repl + text[hit.end():])
    return {"memory": hit.group(2), "index": int(hit.group(3)), "old": old, "new": new}


def runtime_key(opt_global: str, coverage: bool = False, trace: bool = False) -> str:
    """Key of a runtime-object cache entry: Verilator root and version plus everything that changes how
    the runtime is compiled (``OPT_GLOBAL``, ``VM_COVERAGE``, ``VM_TRACE*``). Model flags do not matter:
    the runtime does not include the model's headers."""
    from hwq.sim.toolchain import verilator_root, verilator_version

    return digest(str(verilator_root()), verilator_version(), opt_global, f"cov={int(coverage)}",
                  f"trace={int(trace)}")


def _runtime_dir(key: str) -> Path:
    return build_root() / "_runtime" / key


def seed_runtime(obj_dir: Path, key: str) -> int:
    """Copy cached Verilator runtime objects (``verilated*.o`` and their ``.d``) into ``obj_dir`` before a
    build; returns how many objects were copied (0 when the cache has none yet).

    ``verilated.mk`` makes the runtime objects depend on ``<prefix>.mk``, which Verilator rewrites on every
    run just before make starts; the copies are therefore dated one day ahead so that make finds them up to
    date (it notes the future timestamps in the build log, which is harmless: the folder is never made
    again, a changed input gives a fresh folder).
    """
    src = _runtime_dir(key)
    if not src.is_dir():
        return 0
    obj_dir.mkdir(parents=True, exist_ok=True)
    ahead = time.time() + 86400
    n = 0
    for f in src.iterdir():
        if _RUNTIME_OBJ.match(f.name):
            dst = obj_dir / f.name
            shutil.copyfile(f, dst)
            os.utime(dst, (ahead, ahead))
            n += f.suffix == ".o"
    return n


def _harvest(obj_dir: Path, dst: Path) -> None:
    for f in obj_dir.iterdir():
        if _RUNTIME_OBJ.match(f.name) and not (dst / f.name).is_file():
            tmp = dst / (f.name + ".tmp")
            shutil.copy2(f, tmp)
            tmp.replace(dst / f.name)  # atomic: a reader never sees half a file


def harvest_runtime(obj_dir: Path, key: str) -> None:
    """After a successful build, add its runtime objects that the cache lacks (cocotb builds have
    ``verilated_vpi.o``, bulk builds do not)."""
    dst = _runtime_dir(key)
    with locked(dst):
        _harvest(obj_dir, dst)


@contextlib.contextmanager
def shared_runtime(obj_dir: Path, key: str) -> Iterator[int]:
    """Around one Verilator build in ``obj_dir``: seed cached runtime objects, build, harvest.

    Yields the number of runtime objects seeded. When the cache is empty, the build runs while holding the
    key's lock, so concurrent builders of the same key wait for it and then reuse its objects.
    """
    dst = _runtime_dir(key)
    with locked(dst):
        n = seed_runtime(obj_dir, key)
        if n == 0:
            yield 0
            _harvest(obj_dir, dst)
            return
    yield n
    harvest_runtime(obj_dir, key)


@contextlib.contextmanager
def _env(**changes: str) -> Iterator[None]:
    """Temporarily set environment variables (the cocotb runner copies ``os.environ`` when it runs)."""
    saved = {k: os.environ.get(k) for k in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _ports_vlt(module: str) -> str:
    """Verilator control file: only the top-level ports are visible to cocotb (VPI)."""
    pats = ("clk", "rst", "*__valid", "*__ready", "*__payload",
            "aclk", "aresetn", "*_tdata", "*_tvalid", "*_tready", "*_tlast")  # AXI4-Stream tops (hwq.rtl.axi)
    return "`verilator_config\n" + "".join(f'public_flat_rw -module "{module}" -var "{p}"\n' for p in pats)


def build_cocotb(module: str, verilog: Path, folder: Path, waves: bool = False, coverage: bool = False
                 ) -> Path:
    """Build (or reuse) a cocotb Verilator simulator of ``module`` in ``folder``; returns ``folder``.

    Only the top-level ports are public (see module docstring); the Verilator runtime objects come from
    the shared cache when it has them.
    """
    from cocotb_tools.runner import get_runner

    ensure_verilator_env()
    args = list(VERILATOR_WARN_ARGS) + ["--no-public-flat-rw"]
    if waves:
        args += ["--trace-fst", "--trace-structs", *fst_build_args()]
    if coverage:
        args += ["--coverage-line", "--coverage-toggle"]
    vlt_text = _ports_vlt(module)
    key = digest(verilog.read_text(), module, " ".join(args), str(waves), vlt_text, COCOTB_MAKE_OPT)
    rt_key = runtime_key(COCOTB_MAKE_OPT.split("OPT_GLOBAL=")[1], coverage, waves)
    with locked(folder):
        if stamp_ok(folder, key, folder / module):
            return folder
        for child in folder.iterdir():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        vlt = folder / "ports.vlt"
        vlt.write_text(vlt_text)
        runner = get_runner("verilator")
        log = folder / "build.log"
        t0 = time.perf_counter()
        with shared_runtime(folder, rt_key) as seeded:
            try:
                with _env(MAKEFLAGS=os.environ.get("MAKEFLAGS", "") + " " + COCOTB_MAKE_OPT):
                    runner.build(sources=[vlt, verilog], hdl_toplevel=module, build_dir=folder,
                                 build_args=args, waves=waves, log_file=log)
            except (RuntimeError, SystemExit) as e:
                raise ToolError("verilator", f"build of {module} failed ({e})", str(log)) from None
        (folder / "build_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f} (runtime objects "
                                                  f"{'reused' if seeded else 'compiled'})\n")
        write_stamp(folder, key, folder / module)
    return folder
