"""Native Verilator bulk harness: millions of block operations, bit-exact, plus cycle counts and coverage.

The harness is C++ rendered from ``harness/bulk.cpp.j2`` for one unit (its stream ports and payload widths
come from the RTL manifest) and built with ``verilator --cc --exe --build``. Golden vectors are generated
by :mod:`hwq.stimulus` (the hwq reference model) and written as ``<port>.bin`` (packed payload words) and
``<port>.tx`` (transaction boundaries); the harness streams them through the unit, compares every output
payload bit for bit and measures, per transaction (one GEMV for the top level), the cycles from its first
input transfer to its last output transfer (inclusive, as ``hwq.rtl.cycles.gemv_cycles`` counts).

A run has three passes over the same vectors: random idle gaps and backpressure (stress), full rate back to
back (speed), and full rate one transaction at a time (isolated: cycle model check, every GEMV within +-2
cycles, the whole run within +-1%). With coverage, the harness is a coverage build (Verilator
``--coverage-line --coverage-toggle``) and the stress pass's counts are summarised per kind.
"""

from __future__ import annotations

import gc
import json
import re
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from hwq.config import HwqConfig
from hwq.errors import HwqError, ToolError
from hwq.locks import file_lock
from hwq.procs import run_tool
from hwq.sim.build import (digest, generate_rtl, locked, runtime_key, shared_runtime, slug_dir, stamp_ok,
                           unit_layouts, unit_module, write_stamp)
from hwq.sim.payload import Layout, pack_words
from hwq.sim.toolchain import VERILATOR_WARN_ARGS, verilator_env, verilator_root
from hwq.stimulus import UNITS, Vectors, concat, make_vectors

__all__ = ["render_harness", "build_bulk", "write_vectors", "bulk_vectors", "run_harness", "run_bulk",
           "parse_coverage"]

_HARNESS_DIR = Path(__file__).resolve().parent / "harness"
#: Verilator and C++ optimisation per build flavour. "quick" keeps Verilator's own optimisations (they make
#: the C++ smaller, hence faster to compile) and compiles at -O1; "fast" is for the longest runs.
#: Coverage builds always use "cover": the instrumented C++ is several times larger and -O0 compiles it about
#: 2.7x faster than -O1 (measured on the default config).
_OPT = {"quick": ["-MAKEFLAGS", "OPT_FAST=-O1 OPT_SLOW=-O0 OPT_GLOBAL=-O0"],
        "fast": ["-O3", "-MAKEFLAGS", "OPT_FAST=-O2 OPT_SLOW=-O1 OPT_GLOBAL=-O2"],
        "cover": ["-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"]}


def render_harness(module: str, layouts: dict[str, Layout], unit: str, coverage: bool = False) -> str:
    """C++ source of the bulk harness for a unit with the given payload layouts."""
    env = Environment(loader=FileSystemLoader(str(_HARNESS_DIR)), undefined=StrictUndefined, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    ins, outs = UNITS[unit]

    def port(name: str) -> dict:
        lay = layouts[name]
        rem = lay.width % 32
        # Verilator escapes "__" in port names as "___05F"
        cpp = {sig: f"{name}__{sig}".replace("__", "___05F") for sig in ("valid", "ready", "payload")}
        return {"name": name, "words": lay.words, "width": lay.width, **cpp,
                "top_mask": f"0x{((1 << rem) - 1) if rem else 0xFFFFFFFF:08x}"}

    return env.get_template("bulk.cpp.j2").render(module=module, vclass="Vdut", exe="Vharness",
                                                   inputs=[port(p) for p in ins],
                                                   outputs=[port(p) for p in outs], coverage=coverage)


def build_bulk(cfg: HwqConfig, unit: str = "top", coverage: bool = False, jobs: int = 2, opt: str = "quick"
               ) -> tuple[Path, dict]:
    """Build (or reuse) the native harness; returns (executable, manifest).

    ``opt = "quick"`` compiles the Verilated model at -O1 (short build; plenty for 10^6 block operations),
    ``"fast"`` at -O2 with Verilator -O3 for the longest runs. The Verilator runtime objects come from the
    shared cache of :func:`hwq.sim.build.shared_runtime` when it has them.
    """
    if opt not in ("quick", "fast"):
        raise HwqError(f"opt must be 'quick' or 'fast', got {opt!r}")
    if coverage:
        opt = "cover"
    manifest = generate_rtl(cfg, unit)
    module, vfile = unit_module(manifest, unit)
    layouts = unit_layouts(manifest, unit)
    src = render_harness(module, layouts, unit, coverage)
    folder = slug_dir(cfg) / f"bulk_{unit}{'_cov' if coverage else ''}_{opt}"
    args = ["--cc", "--exe", "--build", "-j", str(jobs), "--top-module", module, "--prefix", "Vdut",
            "--x-assign", "fast", "--x-initial", "fast", "--noassert", "-o", "Vharness", *VERILATOR_WARN_ARGS,
            *_OPT[opt]]
    if coverage:
        args += ["--coverage-line", "--coverage-toggle"]
    key = digest(src, vfile.read_text(), " ".join(args))
    exe = folder / "Vharness"
    with locked(folder):
        if stamp_ok(folder, key, exe):
            return exe, manifest
        for child in folder.iterdir():
            if child.name != ".lock":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        (folder / "harness.cpp").write_text(src)
        rt_key = runtime_key(_OPT[opt][-1].split("OPT_GLOBAL=")[1], coverage)
        cmd = [str(verilator_root() / "bin" / "verilator"), *args, "-Mdir", str(folder / "obj"),
               str(folder / "harness.cpp"), str(vfile)]
        t0 = time.perf_counter()
        with shared_runtime(folder / "obj", rt_key) as seeded:
            run_tool(cmd, folder, folder / "build.log", tool="verilator", env=verilator_env())
            built = folder / "obj" / "Vharness"
            if not built.is_file():
                raise ToolError("verilator", f"build of the {module} harness made no executable {built}",
                                str(folder / "build.log"))
        shutil.copy2(built, exe)
        (folder / "build_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f} (runtime objects "
                                                  f"{'reused' if seeded else 'compiled'})\n")
        write_stamp(folder, key, exe)
    return exe, manifest


def write_vectors(vec: Vectors, layouts: dict[str, Layout], folder: Path) -> None:
    """``<port>.bin`` and ``<port>.tx`` for every stream port (see module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    for port, fields in vec.beats.items():
        words = pack_words(layouts[port], fields, vec.n_beats(port))
        words.astype("<u4").tofile(folder / f"{port}.bin")
        vec.tx[port].astype("<u4").tofile(folder / f"{port}.tx")


def bulk_shape(cfg: HwqConfig) -> tuple[int, int]:
    """(M, K) of the GEMVs the top-level bulk run streams: 4 row groups, about 256 blocks per row."""
    step = cfg.k_step
    k = min(cfg.max_k // step * step, step * max(1, -(-256 * cfg.dim // step)))
    return 4 * cfg.lanes, k


def bulk_vectors(cfg: HwqConfig, unit: str, ops: int, seed: int) -> Vectors:
    """Vectors with at least ``ops`` checked block operations, generated by the reference model in chunks."""
    parts: list[Vectors] = []
    total, i = 0, 0
    while total < ops:
        if unit == "top":
            m, k = bulk_shape(cfg)
            per = m * (k // cfg.dim)
            n_vec = max(1, min(64, -(-(ops - total) // per)))
            v = make_vectors("top", cfg, seed * 7919 + i, n_vec=n_vec, m=m, k=k, extremes=(i == 0))
        elif unit in ("mac", "lut", "int4"):
            n_tx = max(1, min(4096, -(-(ops - total) // (cfg.lanes * 32))))
            v = make_vectors(unit, cfg, seed * 7919 + i, n_tx=n_tx, max_len=64)
        elif unit == "had":
            v = make_vectors(unit, cfg, seed * 7919 + i, n_vec=max(1, min(512, (ops - total) // 4)))
        elif unit == "enc":
            v = make_vectors(unit, cfg, seed * 7919 + i, n_vec=max(1, min(256, (ops - total) // 32 + 1)))
        else:
            v = make_vectors(unit, cfg, seed * 7919 + i, n=max(1, min(1 << 16, ops - total)))
        parts.append(v)
        total += v.ops
        i += 1
    return concat(parts)


def run_harness(exe: Path, folder: Path, p_valid: int = 1000, p_ready: int = 1000, seed: int = 1,
                max_cycles: int | None = None, coverage_file: Path | None = None, timeout: float = 1800,
                isolate: bool = False) -> dict:
    """Run the harness on the vectors in ``folder``; returns its JSON summary plus wall time and spans."""
    if max_cycles is None:
        beats = sum((folder / f"{p}").stat().st_size for p in [f.name for f in folder.glob("*.bin")])
        max_cycles = 64 * beats + 100000
    cmd = [str(exe), str(folder), str(p_valid), str(p_ready), str(seed), str(max_cycles), str(int(isolate))]
    if coverage_file is not None:
        cmd.append(str(coverage_file))
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    except OSError as e:  # e.g. "Exec format error": a damaged executable
        raise ToolError("bulk harness", f"{exe} could not run ({e.strerror or e}); delete {exe.parent} to "
                        "rebuild it") from None
    wall = time.perf_counter() - t0
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise HwqError(f"harness {exe} produced no summary (status {res.returncode}): {res.stderr[-2000:]}") \
            from None
    out["returncode"] = res.returncode
    out["stderr"] = res.stderr[-4000:]
    out["seconds"] = wall
    spans = folder / "spans.bin"
    out["spans"] = np.fromfile(spans, dtype="<u8").astype(np.int64) if spans.is_file() else np.zeros(0,
                                                                                                     np.int64)
    return out


def parse_coverage(path: Path, module_prefix: str | None = None) -> dict:
    """Summarise a Verilator ``coverage.dat``: covered/total points per kind (line, branch, toggle, ...)."""
    kinds: dict[str, list[int]] = {}
    pat = re.compile(r"^C '(.*)' (\d+)$")
    for line in path.read_text(errors="replace").splitlines():
        m = pat.match(line)
        if not m:
            continue
        fields = dict(kv.split("\x02", 1) for kv in m.group(1).split("\x01") if "\x02" in kv)
        page = fields.get("page", "")
        kind = page.split("/", 1)[0].removeprefix("v_")
        if module_prefix and module_prefix not in page and module_prefix not in fields.get("h", "top"):
            continue
        c = kinds.setdefault(kind, [0, 0])
        c[1] += 1
        c[0] += int(m.group(2)) > 0
    return {k: {"covered": v[0], "total": v[1], "percent": round(100.0 * v[0] / v[1], 2) if v[1] else None}
            for k, v in sorted(kinds.items())}


def run_bulk(cfg: HwqConfig, unit: str = "top", ops: int = 10000, seed: int = 1, coverage: bool = True,
             p_valid: int = 800, p_ready: int = 700, jobs: int = 2, opt: str = "quick") -> dict:
    """Build (cached), generate vectors, run the stress, streaming and isolated passes, and coverage.

    Parameters
    ----------
    cfg : HwqConfig
    unit : str
        RTL unit streamed (default the top level).
    ops : int
        Block operations to check at least (one lane x one block).
    seed : int
        Vector and traffic seed.
    coverage : bool
        Build the harness with Verilator line and toggle coverage (``--coverage-line --coverage-toggle``, -O0)
        and collect the coverage of the stress pass; every pass then runs on that instrumented build.
    p_valid, p_ready : int
        Per-mille input-valid and output-ready probabilities of the stress pass.
    opt : {"quick", "fast"}
        C++ optimisation of the Verilated model (build time versus speed).

    Returns
    -------
    dict
        Figures of every pass (``stress``: random gaps and backpressure; ``stream``: full rate, back to back;
        ``isolated``: full rate, one transaction at a time), ``cycle_model``, ``coverage``, ``bit_exact``
        (every output of every pass equal to the reference, every pass complete) and ``passed``
        (``bit_exact`` and the cycle-model check).
    """
    if ops < 1:
        raise HwqError(f"bulk ops must be a positive count of block operations, got {ops}")
    t0 = time.perf_counter()
    # with coverage, one instrumented build serves every pass (a second, plain build would cost more than
    # the passes themselves); the speed figures are then those of the instrumented model
    exe, manifest = build_bulk(cfg, unit, coverage=coverage, jobs=jobs, opt=opt)
    t_build = time.perf_counter() - t0
    layouts = unit_layouts(manifest, unit)
    t1 = time.perf_counter()
    vec = bulk_vectors(cfg, unit, ops, seed)
    folder = slug_dir(cfg) / "runs" / f"bulk_{unit}_{seed}_{ops}"
    with file_lock(folder.parent / f"{folder.name}.lock", what=f"run folder {folder}"):
        return _run_passes(cfg, unit, seed, vec, layouts, folder, exe, coverage, opt, p_valid, p_ready, t0,
                           t_build, t1)


def _run_passes(cfg: HwqConfig, unit: str, seed: int, vec: Vectors, layouts: dict, folder: Path, exe: Path,
                coverage: bool, opt: str, p_valid: int, p_ready: int, t0: float, t_build: float, t1: float
                ) -> dict:
    """The three harness passes in ``folder`` (the caller holds its lock)."""
    if folder.exists():
        shutil.rmtree(folder)
    write_vectors(vec, layouts, folder)
    t_vec = time.perf_counter() - t1
    beats = {p: vec.n_beats(p) for p in vec.tx}
    result: dict = {"unit": unit, "slug": cfg.slug, "seed": seed, "block_ops": vec.ops,
                    "transactions": vec.n_tx, "beats": beats, "opt": "cover" if coverage else opt,
                    "instrumented": bool(coverage),
                    "seconds": {"build": round(t_build, 2), "vectors": round(t_vec, 2)}}
    cov_file = folder / "coverage.dat" if coverage else None
    runs = {"stress": run_harness(exe, folder, p_valid, p_ready, seed, coverage_file=cov_file),
            "stream": run_harness(exe, folder, 1000, 1000, seed),
            "isolated": run_harness(exe, folder, 1000, 1000, seed, isolate=True)}
    passed = True
    for name, r in runs.items():
        result[name] = {k: r[k] for k in ("done", "cycles", "checked", "mismatches", "returncode")}
        result[name]["seconds"] = round(r["seconds"], 3)
        result[name]["cycles_per_s"] = round(r["cycles"] / max(r["seconds"], 1e-9))
        result[name]["block_ops_per_min"] = round(vec.ops / max(r["seconds"], 1e-9) * 60)
        if r["mismatches"] or not r["done"]:
            result[name]["errors"] = r["stderr"]
        passed = passed and r["done"] and r["mismatches"] == 0 and r["returncode"] == 0
    result["stream"]["cycles_per_transaction"] = round(runs["stream"]["cycles"] / max(1, vec.n_tx), 1)
    result["cycle_model"] = _cycle_check(cfg, unit, vec, runs["isolated"]["spans"])
    if coverage:
        result["coverage"] = parse_coverage(cov_file) if cov_file.is_file() else {}
        result["coverage_file"] = str(cov_file)
    result["bit_exact"] = bool(passed)
    result["passed"] = bool(passed and result["cycle_model"].get("ok", True))
    result["seconds"]["total"] = round(time.perf_counter() - t0, 2)
    return result


def model_cycles(cfg: HwqConfig, m: int, k: int, unit: str) -> int:
    """``hwq.rtl.cycles.gemv_cycles`` (Amaranth's UnusedElaboratable warnings of its probe units silenced).

    For the top level that function elaborates every RTL unit of the config (about 20 s), so results are
    cached in ``<slug dir>/cycle_model.json``, keyed by the content of the RTL sources, unit, M and K.
    """
    from hwq.rtl import cycles
    from hwq.sim.build import rtl_sources_key

    key = f"{rtl_sources_key()}:{unit}:{m}:{k}"
    folder = slug_dir(cfg)
    cache = folder / "cycle_model.json"
    with locked(folder / "cycle_model"):
        known = json.loads(cache.read_text()) if cache.is_file() else {}
        if key in known:
            return int(known[key])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = int(cycles.gemv_cycles(cfg, m, k, unit=unit))
            gc.collect()
        known[key] = out
        tmp = cache.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=0))
        tmp.replace(cache)
    return out


def _cycle_check(cfg: HwqConfig, unit: str, vec: Vectors, spans: np.ndarray) -> dict:
    """Compare isolated full-rate per-transaction spans with ``hwq.rtl.cycles.gemv_cycles``: every GEMV
    within +-2 cycles and the sum over the run within +-1 %."""
    if unit not in ("top", "mac", "lut", "int4") or spans.size == 0:
        return {"checked": False}
    if unit == "top":
        m, k = vec.meta.get("M"), vec.meta.get("K")
        model = np.full(spans.size, model_cycles(cfg, m, k, "top"), dtype=np.int64)
    else:  # one transaction = one row group of nb beats: gemv_cycles(M = lanes, K = nb * d)
        nb = np.diff(vec.tx["i"])
        per = {int(n): model_cycles(cfg, cfg.lanes, int(n) * cfg.dim, unit) for n in set(nb.tolist())}
        model = np.array([per[int(n)] for n in nb], dtype=np.int64)
        m = k = None
    dev = spans - model
    ok_each = bool(np.all(np.abs(dev) <= 2))
    ok_run = abs(int(spans.sum()) - int(model.sum())) <= 0.01 * int(model.sum())
    return {"checked": True, "M": m, "K": k, "model_min": int(model.min()), "model_max": int(model.max()),
            "measured_min": int(spans.min()), "measured_max": int(spans.max()),
            "max_abs_dev": int(np.max(np.abs(dev))), "transactions": int(spans.size),
            "sum_measured": int(spans.sum()), "sum_model": int(model.sum()),
            "ok_each_within_2": ok_each, "ok_run_within_1pct": bool(ok_run), "ok": ok_each and bool(ok_run)}
