"""Roofline model: bytes and operations of an hwq kernel, predicted time, speedup over fp16, the RTL unit.

For one weight matrix W (K x M) multiplied by B activation columns (B = batch for decode, batch x seq_len
for prefill), the kernel moves

* weights: per column, the packed codes ``packed_bytes(nb, code_bits)``, the packed ladder indices
  ``packed_bytes(nb, ladder_bits)`` and ``ceil(side_bits / 8)`` bytes of norm, nb = K_pad / d, where K_pad is K
  padded to a multiple of lcm(d, hadamard) (what :func:`hwq.matmul.encode_matrix` needs) -- exactly the
  sizes of :class:`hwq.container.EncodedMatrix`;
* activations: ``act_bytes`` per entry (fp16 in, 2 bytes, by default) and outputs ``out_bytes`` per entry;

and performs 2 K M B operations (a multiply-add counts 2) plus decode work. Weight-only: each weight is
decoded once per call (a table read and a ladder scaling, 2 ops, amortised over the batch, as a kernel that
dequantizes a tile into registers and then runs fp16/int8 MMA does) and the activations pass through the
Hadamard (log2 h adds per entry). Both-quantized: one LUT read, two multiplies and an add per block pair, and
the activation encoder (log2 h + 4 ops per entry). All ops run at the peak of one compute data type (fp16 by
default on GPUs), a simplification that is exact for the memory-bound decode case the model is built for. The predicted time is the roofline
``max(bytes / bandwidth, ops / peak)``; bandwidth is the measured one where a measurement exists
(:mod:`hwq.perf.devices`), else the datasheet's. The fp16 baseline moves 2 bytes per weight with the same
activations and outputs. Attention over the KV cache is not modelled (linear layers only).

For an FPGA the compute roof is the RTL unit: ``lanes`` blocks per cycle at the achieved Fmax from
``reports/synth/`` (or the board's assumed clock, labelled as such, when no synthesis report exists).

Measured results (``reports/bench/*.json``, ``reports/sim/*.json``) are parsed by
:func:`hwq.perf.devices.load_measurements` and compared with these predictions point by point
(:func:`validate`); a point that was not measured is never filled in.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.perf.devices import Device, synth_reports
from hwq.errors import HwqError
from hwq.perf.models import Model, Workload
from hwq.packing import packed_bytes
from hwq.records import Roofline, Stamp, from_dict

__all__ = ["KernelCost", "Prediction", "hwq_cost", "dense_cost", "predict", "rtl_unit",
           "layer_rows", "model_summary", "speedup_vs_batch", "MODES"]

MODES = ("weight-only", "both")


@dataclass(frozen=True)
class KernelCost:
    """Traffic and work of one kernel call on a K x M weight matrix with ``batch`` activation columns."""

    label: str
    k: int
    m: int
    batch: int
    weight_bytes: int
    act_bytes: float
    out_bytes: float
    ops: float
    macs: int

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.act_bytes + self.out_bytes

    @property
    def intensity(self) -> float:
        """Arithmetic intensity, ops per byte moved."""
        return self.ops / self.bytes

    @property
    def bits_per_weight(self) -> float:
        """Weight bits per original entry (side information and padding included)."""
        return 8.0 * self.weight_bytes / (self.k * self.m)


@dataclass(frozen=True)
class Prediction:
    """Roofline prediction of one kernel on one device."""

    cost: KernelCost
    device: str
    dtype: str
    bandwidth: float
    peak: float
    t_memory: float
    t_compute: float

    @property
    def time(self) -> float:
        return max(self.t_memory, self.t_compute)

    @property
    def bound(self) -> str:
        return "memory" if self.t_memory >= self.t_compute else "compute"

    @property
    def attained(self) -> float:
        """Ops/s the roofline allows at this intensity."""
        return self.cost.ops / self.time


def _check_shape(k: int, m: int, batch: int) -> None:
    for name, v in (("K", k), ("M", m), ("batch", batch)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise HwqError(f"{name} must be a positive integer, got {v!r}")


def hwq_weight_bytes(cfg: HwqConfig, k: int, m: int) -> int:
    """Bytes of an encoded K x M weight matrix (codes + ladder + norms), as the container stores them."""
    nb = cfg.padded_k(k) // cfg.dim
    per_col = packed_bytes(nb, cfg.code_bits) + packed_bytes(nb, cfg.ladder_bits) + -(-cfg.side_bits // 8)
    return m * per_col


def hwq_cost(cfg: HwqConfig, k: int, m: int, batch: int, *, act_bytes: float = 2.0, out_bytes: float = 2.0,
             mode: str = "weight-only", fpga: bool = False) -> KernelCost:
    """Bytes and ops of an hwq kernel (see the module docstring for what is counted).

    Parameters
    ----------
    cfg : HwqConfig
    k, m : int
        Weight shape W (K x M).
    batch : int
        Activation columns.
    act_bytes, out_bytes : float
        Bytes per activation / output entry (fp16: 2).
    mode : {"weight-only", "both"}
    fpga : bool
        Count only the multiply-adds (the RTL pipeline decodes and scales in the same cycle).

    Raises
    ------
    HwqError
        Non-positive shape or unknown mode.
    """
    _check_shape(k, m, batch)
    if mode not in MODES:
        raise HwqError(f"mode {mode!r} is unknown; allowed: {', '.join(MODES)}")
    kp = cfg.padded_k(k)
    nb = kp // cfg.dim
    macs = k * m * batch
    if fpga:
        ops = 2.0 * kp * m * batch
    elif mode == "weight-only":
        ops = 2.0 * kp * m * batch + 2.0 * m * kp + batch * kp * cfg.hadamard_log2
    else:
        ops = 4.0 * m * nb * batch + batch * kp * (cfg.hadamard_log2 + 4)
    return KernelCost(label=cfg.slug, k=k, m=m, batch=batch, weight_bytes=hwq_weight_bytes(cfg, k, m),
                      act_bytes=act_bytes * k * batch, out_bytes=out_bytes * m * batch, ops=ops, macs=macs)


def dense_cost(k: int, m: int, batch: int, *, weight_bits: float = 16, act_bytes: float = 2.0,
               out_bytes: float = 2.0, label: str = "fp16") -> KernelCost:
    """Bytes and ops of a dense GEMV/GEMM with ``weight_bits`` per weight (the fp16 baseline by default)."""
    _check_shape(k, m, batch)
    return KernelCost(label=label, k=k, m=m, batch=batch, weight_bytes=int(math.ceil(k * m * weight_bits / 8)),
                      act_bytes=act_bytes * k * batch, out_bytes=out_bytes * m * batch, ops=2.0 * k * m * batch,
                      macs=k * m * batch)


def predict(cost: KernelCost, device: Device, dtype: str | None = None) -> Prediction:
    """Roofline time of ``cost`` on ``device`` at the peak of ``dtype`` (device default when None)."""
    dtype = dtype or device.default_dtype()
    peak = device.peak_for(dtype)
    bw = device.bw
    if not bw > 0:
        raise HwqError(f"device {device.key!r} has no bandwidth; give bandwidth_gbs in its catalog entry")
    return Prediction(cost=cost, device=device.key, dtype=dtype, bandwidth=bw, peak=peak,
                      t_memory=cost.bytes / bw, t_compute=cost.ops / peak)


# ------------------------------------------------------------------------------------------------------
# the RTL unit on an FPGA board
def rtl_unit(cfg: HwqConfig, device: Device, reports_dir: str | Path = "reports",
             extra: list[dict[str, Any]] = ()) -> dict[str, Any]:
    """Throughput of the hwq RTL dequant-MAC unit on an FPGA board.

    The unit consumes ``lanes`` blocks (d weights each) per cycle. Fmax is the achieved clock of a
    synthesis report for this config slug and the board's family (``reports/synth/*.json``); without one
    the board's catalog clock is used and ``fmax_source`` says it is an assumption.

    Returns
    -------
    dict
        ``fmax_hz``, ``fmax_source``, ``lanes``, ``blocks_per_s``, ``macs_per_s``, ``weight_bytes_per_s``
        (what the unit would need to stay busy), ``board_bandwidth``, ``bound`` ("memory"/"compute"),
        ``synth`` (the matched report or None; ``extra`` records are searched after ``reports/synth``) and
        ``device`` (a copy of ``device`` whose ``rtl`` peak is the
        unit's ops/s, for :func:`predict`).
    """
    if device.kind != "fpga":
        raise HwqError(f"device {device.key!r} is a {device.kind}, not an FPGA board; the RTL unit model needs one")
    family = "ecp5" if "ecp5" in device.key else ("xilinx" if "u280" in device.key else device.key)
    found = None
    for rec in [*synth_reports(reports_dir), *extra]:  # the MAC unit (or a record without a unit name)
        if rec.get("slug") == cfg.slug and str(rec.get("target", family)).lower() in (family, "") \
                and rec.get("unit", "mac") in ("mac", "top") and isinstance(rec.get("fmax_mhz"), (int, float)):
            found = rec
    if found is not None:
        fmax = float(found["fmax_mhz"]) * 1e6
        source = f"achieved Fmax from {found['file']}"
    elif device.clock_hz:
        fmax = device.clock_hz
        source = (f"ASSUMED {fmax / 1e6:.0f} MHz board clock: no synthesis report for {cfg.slug} under "
                  f"{Path(reports_dir) / 'synth'} (run `hwq synth --config FILE --target {family}`)")
    else:
        raise HwqError(f"no synthesis report for {cfg.slug} and no clock_mhz for {device.key!r}; run hwq synth")
    blocks = cfg.lanes * fmax
    need = blocks * cfg.block_bits / 8.0
    dev = replace(device, peak={**device.peak, "rtl": 2.0 * blocks * cfg.dim})
    return {"fmax_hz": fmax, "fmax_source": source, "lanes": cfg.lanes, "blocks_per_s": blocks,
            "macs_per_s": blocks * cfg.dim, "weight_bytes_per_s": need, "board_bandwidth": device.bw,
            "bound": "memory" if need > device.bw else "compute", "synth": found, "device": dev}


# ------------------------------------------------------------------------------------------------------
# model-level tables
def _pair(cfg: HwqConfig, device: Device, k: int, m: int, tokens: int, dtype: str | None, mode: str,
          act_bytes: float, out_bytes: float) -> tuple[Prediction, Prediction]:
    fpga = device.kind == "fpga"
    hq = hwq_cost(cfg, k, m, tokens, act_bytes=act_bytes, out_bytes=out_bytes, mode=mode, fpga=fpga)
    fp = dense_cost(k, m, tokens, act_bytes=act_bytes, out_bytes=out_bytes)
    return predict(hq, device, dtype), predict(fp, device, dtype)


def layer_rows(cfg: HwqConfig, model: Model, device: Device, workload: Workload, *, dtype: str | None = None,
               mode: str = "weight-only", act_bytes: float = 2.0, out_bytes: float = 2.0) -> list[dict[str, Any]]:
    """One row per distinct linear layer: bytes, intensity, predicted times (hwq and fp16), speedup, bound."""
    rows = []
    for lin, mult in model.all_linears():
        ph, pf = _pair(cfg, device, lin.k, lin.m, workload.tokens, dtype, mode, act_bytes, out_bytes)
        rows.append({
            "layer": lin.name, "k": lin.k, "m": lin.m, "per_token": mult, "tokens": workload.tokens,
            "bits_per_weight": ph.cost.bits_per_weight, "bytes_hwq": ph.cost.bytes, "bytes_fp16": pf.cost.bytes,
            "ops_hwq": ph.cost.ops, "intensity_hwq": ph.cost.intensity, "intensity_fp16": pf.cost.intensity,
            "t_hwq_s": ph.time, "t_fp16_s": pf.time, "speedup": pf.time / ph.time,
            "bound_hwq": ph.bound, "bound_fp16": pf.bound, "dtype": ph.dtype,
        })
    return rows


def model_summary(rows: list[dict[str, Any]], workload: Workload, device: Device, dtype: str) -> dict[str, Any]:
    """Per-step and per-token time, tokens/s and speedup for the whole model (linear layers only)."""
    t_h = sum(r["t_hwq_s"] * r["per_token"] for r in rows)
    t_f = sum(r["t_fp16_s"] * r["per_token"] for r in rows)
    w_h = sum(r["bytes_hwq"] * r["per_token"] for r in rows)
    params = sum(r["k"] * r["m"] * r["per_token"] for r in rows)
    b_eff = sum(r["bits_per_weight"] * r["k"] * r["m"] * r["per_token"] for r in rows) / params
    tokens = workload.tokens
    return {
        "step_time_hwq_s": t_h, "step_time_fp16_s": t_f, "tokens_per_step": tokens,
        "time_per_token_hwq_s": t_h / tokens, "time_per_token_fp16_s": t_f / tokens,
        "tokens_per_s_hwq": tokens / t_h, "tokens_per_s_fp16": tokens / t_f, "speedup": t_f / t_h,
        "ideal_speedup": 16.0 / b_eff, "bits_per_weight": b_eff, "bytes_per_step_hwq": w_h,
        "params": params, "ridge_ops_per_byte": device.ridge(dtype),
        "bandwidth": device.bw, "bandwidth_source": device.bw_label, "peak": device.peak_for(dtype),
    }


def speedup_vs_batch(cfg: HwqConfig, model: Model, device: Device, batches: list[int], *,
                     dtype: str | None = None, mode: str = "weight-only") -> list[dict[str, Any]]:
    """Model-level decode speedup over fp16 for each batch size."""
    dtype = dtype or device.default_dtype()
    out = []
    for b in batches:
        wl = Workload(key=f"decode-b{b}", phase="decode", batch=b)
        s = model_summary(layer_rows(cfg, model, device, wl, dtype=dtype, mode=mode), wl, device, dtype)
        out.append({"batch": b, "speedup": s["speedup"], "tokens_per_s_hwq": s["tokens_per_s_hwq"],
                    "tokens_per_s_fp16": s["tokens_per_s_fp16"], "ideal_speedup": s["ideal_speedup"]})
    return out


# ------------------------------------------------------------------------------------------------------
# validation against measured points
def _config_for(point: Any, cfg: HwqConfig) -> HwqConfig | None:
    if point.config:
        try:
            return HwqConfig.from_dict(point.config)
        except HwqError:
            return None
    if point.slug in (None, cfg.slug):
        return cfg
    return None


def rtl_cycles(cfg: HwqConfig, k: int, m: int, batch: int = 1) -> int:
    """Predicted cycles of the RTL MAC unit for ``batch`` K x M matrix-vector products.

    Uses the RTL layer's analytic model :func:`hwq.rtl.cycles.gemv_cycles` (row groups x beats + latency)
    when it is installed, else the throughput bound ceil(M / lanes) * (K / d) per product.
    """
    try:
        from hwq.rtl.cycles import gemv_cycles
    except ImportError:
        return -(-m // cfg.lanes) * (cfg.padded_k(k) // cfg.dim) * batch
    return gemv_cycles(cfg, m, k if k % cfg.dim == 0 else cfg.padded_k(k)) * batch


DENSE = {"fp16": (16, 2.0), "fp32": (32, 4.0), "int8": (8, 1.0)}  # family -> (weight bits, activation bytes)


def validate(points: list[Any], cfg: HwqConfig, devices: dict[str, Device], host: Device | None = None,
             ) -> tuple[list[dict[str, Any]], list[str]]:
    """Prediction error for every measured point (bench times and simulated cycles).

    Parameters
    ----------
    points : list of hwq.perf.devices.Measurement
    cfg : HwqConfig
        The config of the report (hwq points recorded with another slug and no config are skipped).
    devices : dict
        The catalog (recorded device names are mapped with ``match`` substrings).
    host : Device, optional
        The measured ``host`` entry used for points recorded on this machine (C benchmarks).

    Returns
    -------
    (rows, skipped)
        rows: file, device, kernel, k, m, batch, measured, predicted, unit, error (predicted/measured - 1),
        bound. skipped: why the other points could not be predicted.
    """
    from hwq.perf.devices import host_name, match_device

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for p in points:
        c = _config_for(p, cfg)
        if p.family == "rtl":
            if c is None:
                skipped.append(f"{p.file}: simulated cycles for config {p.slug}, whose fields were not recorded")
                continue
            pred = rtl_cycles(c, p.k, p.m, p.batch)
            rows.append({"file": p.file, "device": "rtl-sim", "kernel": "rtl", "k": p.k, "m": p.m, "batch": p.batch,
                         "measured": p.cycles, "predicted": float(pred), "unit": "cycles",
                         "error": pred / p.cycles - 1.0, "bound": "cycles"})
            continue
        dev = match_device(p.device, devices)
        if dev is None or dev.key == "host":
            if host is not None and (p.device in ("host", "") or p.device.split(",")[0] in host_name()):
                dev = host
            else:
                skipped.append(f"{p.file}: device {p.device!r} is not in the catalog (add it with --device-file)")
                continue
        if p.family == "hwq":
            if c is None:
                skipped.append(f"{p.file}: hwq kernel of config {p.slug} whose fields were not recorded")
                continue
            cost = hwq_cost(c, p.k, p.m, p.batch)
            dtype = "fp16"
        elif p.family not in DENSE:
            skipped.append(f"{p.file}: {p.kernel} ({p.family}) has no model on this roofline (dense fp16, "
                           "fp32, int8 and hwq kernels only)")
            continue
        else:
            bits, ab = DENSE[p.family]
            cost = dense_cost(p.k, p.m, p.batch, weight_bits=bits, act_bytes=ab, out_bytes=max(ab, 2.0),
                              label=p.family)
            dtype = p.family
        if dtype not in dev.peak:
            dtype = dev.default_dtype()
        pr = predict(cost, dev, dtype)
        rows.append({"file": p.file, "device": dev.key, "kernel": p.kernel, "k": p.k, "m": p.m, "batch": p.batch,
                     "measured": p.time_s, "predicted": pr.time, "unit": "s", "error": pr.time / p.time_s - 1.0,
                     "bound": pr.bound, "intensity": cost.intensity, "ops": cost.ops})
    return rows, skipped


# ------------------------------------------------------------------------------------------------------
# charts (matplotlib, Agg canvas: no display, no global pyplot state)
def _save(fig: Any, stem: Path) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, dpi=110, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg]


def plot_roofline(device: Device, dtype: str, preds: list[tuple[str, Prediction]], stem: Path,
                  measured: list[tuple[str, float, float]] = (), title: str = "") -> list[Path]:
    """Log-log roofline: roofs of every dtype of ``device``, predicted points, measured points.

    ``preds`` are (label, prediction); ``measured`` are (label, intensity, attained ops/s).
    """
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.2))
    ax = fig.add_subplot(1, 1, 1)
    xs = np.logspace(-2, 4, 300)
    for name, peak in sorted(device.peak.items(), key=lambda kv: -kv[1]):
        style = "-" if name == dtype else ":"
        ax.loglog(xs, np.minimum(peak, device.bw * xs), style, lw=2 if name == dtype else 1,
                  label=f"{name} roof {peak / 1e12:.4g} TOP/s")
    if device.bandwidth_measured and device.bandwidth and abs(device.bandwidth - device.bw) > 1:
        peak = device.peak_for(dtype)
        ax.loglog(xs, np.minimum(peak, device.bandwidth * xs), "--", color="gray", lw=1,
                  label=f"datasheet {device.bandwidth / 1e9:.0f} GB/s")
    ridge = device.ridge(dtype)
    ax.axvline(ridge, color="gray", lw=0.6)
    ax.annotate(f"ridge {ridge:.0f} op/B", (ridge, device.peak_for(dtype)), fontsize=8,
                xytext=(4, -12), textcoords="offset points")
    markers = {"hwq": "o", "fp16": "s"}
    for label, p in preds:
        kind = "fp16" if label.startswith("fp16") else "hwq"
        ax.loglog([p.cost.intensity], [p.attained], markers[kind], ms=6,
                  color="tab:red" if kind == "hwq" else "tab:blue", alpha=0.8)
    ax.plot([], [], "o", color="tab:red", label="hwq (predicted)")
    ax.plot([], [], "s", color="tab:blue", label="fp16 (predicted)")
    if measured:
        ax.loglog([m[1] for m in measured], [m[2] for m in measured], "kx", ms=8, label="measured")
    ax.set_xlabel("arithmetic intensity (ops / byte)")
    ax.set_ylabel("attainable ops/s")
    ax.set_title(title or f"roofline: {device.name}", fontsize=10)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, stem)


def plot_speedup(curve: list[dict[str, Any]], stem: Path, title: str,
                 measured: list[tuple[int, float]] = ()) -> list[Path]:
    """Speedup over fp16 against batch (log x), with the ideal 16 / b_eff line and measured points."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    b = [r["batch"] for r in curve]
    ax.semilogx(b, [r["speedup"] for r in curve], "o-", color="tab:red", label="predicted (model, decode)")
    ax.axhline(curve[0]["ideal_speedup"], ls="--", color="gray",
               label=f"ideal 16/b_eff = {curve[0]['ideal_speedup']:.2f}")
    ax.axhline(1.0, color="black", lw=0.6)
    if measured:
        ax.semilogx([m[0] for m in measured], [m[1] for m in measured], "kx", ms=8, label="measured (one shape)")
    ax.set_xlabel("batch (sequences decoded together)")
    ax.set_ylabel("speedup over fp16")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, stem)


# ------------------------------------------------------------------------------------------------------
# the host: roofs calibrated now (hwq.perf.host_roofs), one model per backend, validated against hwq bench c
HOST_BASELINE = "numpy_fp32"
HOST_LAYER_THREADS = 1


def _host_bytes(cfg: HwqConfig, kernel: str, bpw: float, k: int, m: int) -> float:
    """Weight bytes a host kernel reads for a K x M matrix (bytes per stored entry from the calibration)."""
    if kernel.startswith("hwq_"):
        return bpw * cfg.padded_k(k) * m
    if kernel == "e8_exact":
        return bpw * HwqConfig(lattice="E8", q=7).padded_k(k) * m
    return bpw * k * m


def _host_study(cfg: HwqConfig, dev: Device, mdl: Model, wl: Workload, kbench: list[Any],
                build_dir: str | Path, log: Any, kernels: tuple[str, ...] | None = None,
                threads: tuple[int, ...] = (1, 2),
                ) -> tuple[Device, list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Calibrate the host now, predict the model's layers per kernel and validate against hwq bench c."""
    from hwq.perf.devices import host_name
    from hwq.perf.host_roofs import COLD_SHAPE, calibrate, predict_time, summary_line
    from hwq.perf.host_roofs import validate as host_validate

    tokens = wl.tokens
    if tokens > 64:
        raise HwqError(f"the host model covers batches up to 64 (hwq bench c's range); workload {wl.key!r} "
                       "has "
                       f"{tokens} tokens per step: use --workload decode or --batch N with N <= 64")
    roofs = calibrate(cfg, build_dir, batches=tuple(sorted({1, 4, 8, tokens})), threads=threads, log=log,
                      kernels=kernels)
    for kern in ("hwq_exact", HOST_BASELINE):
        if (kern, tokens, HOST_LAYER_THREADS) not in roofs.kernels:
            raise HwqError(f"the host calibration has no {kern} kernel; the host study needs it")
    # bytes per stored entry, per kernel (from the calibration's own byte counts)
    bpw = {}
    kc = COLD_SHAPE[0]
    for (kern, _, _), r in roofs.kernels.items():
        store_k = cfg.padded_k(kc) if kern.startswith("hwq_") else (
            HwqConfig(lattice="E8", q=7).padded_k(kc) if kern == "e8_exact" else kc)
        bpw[kern] = r.bytes_per_weight * kc / store_k

    def pred(kern: str, k: int, m: int, t: int) -> tuple[float, str, float]:
        nb = _host_bytes(cfg, kern, bpw[kern], k, m)
        time_s, bound = predict_time(roofs, kern, k, nb, tokens, t)
        return time_s, bound, nb

    rows = []
    for lin, mult in mdl.all_linears():
        th, bh, nbh = pred("hwq_exact", lin.k, lin.m, HOST_LAYER_THREADS)
        tf, bf, nbf = pred(HOST_BASELINE, lin.k, lin.m, HOST_LAYER_THREADS)
        cost = hwq_cost(cfg, lin.k, lin.m, tokens)
        rows.append({"layer": lin.name, "k": lin.k, "m": lin.m, "per_token": mult, "tokens": tokens,
                     "bits_per_weight": 8.0 * nbh / (lin.k * lin.m), "bytes_hwq": nbh, "bytes_fp16": nbf,
                     "ops_hwq": cost.ops, "intensity_hwq": cost.ops / nbh, "intensity_fp16": cost.ops / nbf,
                     "t_hwq_s": th, "t_fp16_s": tf, "speedup": tf / th, "bound_hwq": bh, "bound_fp16": bf,
                     "dtype": "host-model"})
    table = []
    for kern in sorted({k for k, _, _ in roofs.kernels}):
        for t in sorted(roofs.bandwidth):
            if (kern, tokens, t) not in roofs.kernels:
                continue
            step = sum(pred(kern, lin.k, lin.m, t)[0] * mult for lin, mult in mdl.all_linears())
            base = sum(pred(HOST_BASELINE, lin.k, lin.m, t)[0] * mult for lin, mult in mdl.all_linears())
            q4 = (sum(pred("ort_q4", lin.k, lin.m, t)[0] * mult for lin, mult in mdl.all_linears())
                  if ("ort_q4", tokens, t) in roofs.kernels else None)
            table.append({"kernel": kern, "threads": t, "step_s": step, "tokens_per_s": tokens / step,
                          "speedup_vs_numpy_fp32": base / step,
                          "speedup_vs_ort_q4": q4 / step if q4 else None,
                          "validated": any(p.kernel == kern for _, rec in kbench for p in rec.points)})
    val_rows, val_skipped = host_validate(roofs, kbench)
    if not kbench:
        val_skipped.append("no hwq bench c record under reports/bench: run `hwq bench c`; every host "
                           "prediction "
                           "here is not validated")
    r1 = roofs.kernels[("hwq_exact", tokens, HOST_LAYER_THREADS)]
    bw1 = roofs.bandwidth[HOST_LAYER_THREADS]
    peak = r1.rate * 2.0 * tokens / bpw["hwq_exact"]  # hwq exact's cache-resident rate as ops/s
    load = ", ".join(f"{v:.2f}" for v in roofs.load_average)
    note = (f"calibrated now ({roofs.seconds:.1f} s, load {load}): "
            f"read bandwidth " + ", ".join(f"{bw / 1e9:.1f} GB/s at {t} thread{'s' if t > 1 else ''}"
                                           for t, bw in sorted(roofs.bandwidth.items())))
    dev = replace(dev, name=f"{host_name()} (calibrated now)", bandwidth=bw1, bandwidth_measured=bw1,
                  peak={"host-model": peak}, note=note)
    summary = model_summary(rows, wl, dev, "host-model")
    summary["baseline"] = "numpy fp32 (OpenBLAS): this CPU has no fp16 GEMV"
    summary["layer_threads"] = HOST_LAYER_THREADS
    host_doc = {"roofs": roofs.to_dict(), "kernels": table, "baseline": HOST_BASELINE,
                "layer_threads": HOST_LAYER_THREADS, "summary_line": summary_line(val_rows),
                "validation_rows": val_rows, "validation_skipped": val_skipped,
                "bench_files": [f"bench/{f.name}" for f, _ in kbench]}
    return dev, rows, summary, host_doc


def plot_host_validation(rows: list[dict[str, Any]], stem: Path, title: str) -> list[Path]:
    """Predicted against measured time of every host point (log-log), the +-15 % band shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    pts = [r for r in rows if r["device"] == "host"]
    if pts:
        lo = min(min(r["measured"], r["predicted"]) for r in pts) / 1.5
        hi = max(max(r["measured"], r["predicted"]) for r in pts) * 1.5
        ax.loglog([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.fill_between([lo, hi], [lo * 0.85, hi * 0.85], [lo * 1.15, hi * 1.15], color="0.85",
                        label="+-15 %")
        for kern in sorted({r["kernel"] for r in pts}):
            sel = [r for r in pts if r["kernel"] == kern]
            ax.loglog([r["measured"] for r in sel], [r["predicted"] for r in sel], "o", ms=4,
                      label=kern, alpha=0.8)
    ax.set_xlabel("measured (s, min of interleaved rounds)")
    ax.set_ylabel("predicted by the calibrated host model (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, stem)


# ------------------------------------------------------------------------------------------------------
# one roofline study: tables, charts, JSON and Markdown under reports/roofline/
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def run_roofline(cfg: HwqConfig, device: str = "h100", model: str = "llama3-8b", workload: str = "decode", *,
                 batch: int | None = None, out_dir: str | Path = "reports/roofline",
                 reports_dir: str | Path = "reports", device_file: str | Path | None = None,
                 model_file: str | Path | None = None, dtype: str | None = None, mode: str = "weight-only",
                 plots: bool = True, synth_extra: list[dict[str, Any]] = (),
                 build_dir: str | Path = "build/codegen_c", log: Any = None,
                 host_kernels: tuple[str, ...] | None = None, host_threads: tuple[int, ...] = (1, 2),
                 ) -> dict[str, Any]:
    """Predict one (device, model, workload, config) point, validate against measurements, write reports.

    Writes ``<device>_<model>_<workload>_<slug>.json`` and ``.md`` under ``out_dir``, and with ``plots``
    the roofline chart and the speedup-vs-batch chart (PNG and SVG each).

    Returns
    -------
    dict
        The :class:`hwq.records.Roofline` record as written (its JSON envelope: ``stamp``, ``device``,
        ``model``, ``workload``, ``summary``, ``layers``, ``rtl``, ``validation``, ``host``, ``files``);
        file names in it are relative (``bench/x.json``, the study's own files by name).
    """
    from hwq.perf.devices import get_device, load_devices, load_measurements, match_device
    from hwq.perf.models import get_model, get_workload

    from hwq.perf.host_roofs import load_kernel_bench

    is_host = device.lower() == "host"
    dev = get_device(device, device_file, measure=not is_host)
    mdl = get_model(model, model_file)
    wl = get_workload(workload, model_file, batch)
    rtl = host_doc = None
    if dev.kind == "fpga":
        rtl = rtl_unit(cfg, dev, reports_dir, synth_extra)
        dev, dtype = rtl.pop("device"), "rtl"
    kbench = load_kernel_bench(reports_dir)  # hwq bench c records: validated by the host model only
    if is_host:
        dev, rows, summary, host_doc = _host_study(cfg, dev, mdl, wl, kbench, build_dir, log, host_kernels,
                                                   host_threads)
        dtype, curve = "host-model", []
    else:
        dtype = dtype or dev.default_dtype()
        dev.peak_for(dtype)
        rows = layer_rows(cfg, mdl, dev, wl, dtype=dtype, mode=mode)
        summary = model_summary(rows, wl, dev, dtype)
        curve = speedup_vs_batch(cfg, mdl, dev, list(BATCHES), dtype=dtype, mode=mode)
    devices = load_devices(device_file)
    points, unread = load_measurements(reports_dir)
    kb_files = {f"bench/{f.name}" for f, _ in kbench}
    points = [p for p in points if p.file not in kb_files]
    unread = [u for u in unread if not any(u.startswith(f) for f in kb_files)]
    points = [p for d in devices.values() for p in d.measured] + points  # catalog points (with sources)
    on_host = [p for p in points if p.family != "rtl" and getattr(match_device(p.device, devices), "key", "host")
               == "host"]
    if is_host:
        host = None  # the calibrated host model below replaces the generic roofline for this machine
        if on_host:
            unread.append(f"{len(on_host)} host points from other files than hwq bench c records are not "
                          "compared (the host model covers the kernels of hwq bench c)")
        points = [p for p in points if p not in on_host]
    else:
        host = get_device("host", device_file) if on_host else None  # measured only when a point needs it
    val_rows, val_skipped = validate(points, cfg, devices, host)
    if is_host:
        val_rows = host_doc.pop("validation_rows") + val_rows
        val_skipped = host_doc.pop("validation_skipped") + val_skipped
    elif kbench:
        val_skipped.append("hwq bench c records (measured on this machine) are compared in the host study "
                           "(hwq roofline --device host)")
    # this study's device only (simulated cycles belong to FPGA studies); other devices have their own studies
    others = sorted({r["device"] for r in val_rows if r["device"] != dev.key and r["unit"] == "s"})
    val_rows = [r for r in val_rows if r["device"] == dev.key or (r["unit"] == "cycles" and dev.kind == "fpga")]
    if others:
        val_skipped.append(f"points measured on {', '.join(others)} are compared in the studies of those devices")
    stem = f"{dev.key}_{mdl.key}_{wl.key}_{cfg.slug}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    if plots and is_host:
        files += plot_host_validation(val_rows, out / f"{stem}_validation",
                                      f"host model vs hwq bench c ({dev.name})")
    elif plots:
        preds = []
        for lin, _ in mdl.all_linears():
            ph, pf = _pair(cfg, dev, lin.k, lin.m, wl.tokens, dtype, mode, 2.0, 2.0)
            preds += [(cfg.slug, ph), ("fp16", pf)]
        meas = []
        meas = [(r["kernel"], r["intensity"], r["ops"] / r["measured"]) for r in val_rows
                if r["device"] == dev.key and r["unit"] == "s"]
        title = f"{mdl.name}, {wl.key} (B={wl.tokens}), {cfg.slug} on {dev.name}"
        files += plot_roofline(dev, dtype, preds, out / f"{stem}_roofline", meas, title)
        files += plot_speedup(curve, out / f"{stem}_speedup", f"{mdl.name} decode on {dev.name}: {cfg.slug}")
    rec = Roofline(
        stamp=Stamp.now(cfg),
        config=cfg.to_dict(),
        device={"key": dev.key, "name": dev.name, "kind": dev.kind, "bandwidth": dev.bw,
                "bandwidth_source": dev.bw_label, "bandwidth_datasheet": dev.bandwidth,
                "peak": dev.peak, "dtype": dtype, "source": dev.source, "note": dev.note},
        model={"key": mdl.key, "name": mdl.name, "layers": mdl.layers, "params": mdl.params},
        workload={"key": wl.key, "phase": wl.phase, "batch": wl.batch, "seq_len": wl.seq_len,
                  "tokens": wl.tokens},
        mode=mode, summary=summary, layers=tuple(rows), speedup_vs_batch=tuple(curve),
        rtl={k: v for k, v in rtl.items() if k != "synth"} if rtl else None,
        validation={"rows": val_rows, "skipped": val_skipped + unread},
        host=host_doc,
        files=tuple(p.name for p in [*files, out / f"{stem}.json", out / f"{stem}.md"]),
    )
    # numpy scalars (the calibration's arithmetic) become plain JSON numbers
    doc = json.loads(json.dumps(rec.to_dict(), default=float))
    rec = from_dict(doc, f"{stem}.json", Roofline)
    rec.save(out / f"{stem}.json")
    (out / f"{stem}.md").write_text(format_markdown(doc))
    return doc


def _si(x: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
                          (1e-6, "µ"), (1e-9, "n")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def format_table(doc: dict[str, Any]) -> str:
    """The per-layer table as fixed-width text (what ``hwq roofline`` prints)."""
    base = "numpy fp32" if doc.get("host") else "fp16"
    head = ["layer", "K", "M", "x/token", "bits/w", "hwq time", f"{base} time", "speedup", "bound", "op/B"]
    lines = [head]
    for r in doc["layers"]:
        lines.append([r["layer"], str(r["k"]), str(r["m"]), str(r["per_token"]), f"{r['bits_per_weight']:.3f}",
                      _si(r["t_hwq_s"], "s"), _si(r["t_fp16_s"], "s"), f"{r['speedup']:.2f}x", r["bound_hwq"],
                      f"{r['intensity_hwq']:.3g}"])
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
                     for row in lines)


def format_summary(doc: dict[str, Any]) -> str:
    s, d, w = doc["summary"], doc["device"], doc["workload"]
    base = "numpy fp32" if doc.get("host") else "fp16"
    out = [f"{doc['model']['name']} on {d['name']} ({d['bandwidth'] / 1e9:.4g} GB/s {d['bandwidth_source']}, "
           f"{d['dtype']} {d['peak'][d['dtype']] / 1e12:.4g} TOP/s, ridge {s['ridge_ops_per_byte']:.1f} op/B), "
           f"{w['phase']} batch {w['batch']} x seq {w['seq_len']}, config {doc['stamp']['slug']}:",
           f"  weights {s['bits_per_weight']:.3f} bits/entry (ideal speedup 16/b = {s['ideal_speedup']:.2f}x)",
           f"  time per step hwq {_si(s['step_time_hwq_s'], 's')}  {base} {_si(s['step_time_fp16_s'], 's')}  "
           f"-> speedup {s['speedup']:.2f}x",
           f"  tokens/s hwq {s['tokens_per_s_hwq']:.4g}  {base} {s['tokens_per_s_fp16']:.4g}"]
    h = doc.get("host")
    if h:
        out[0] = (f"{doc['model']['name']} on {d['name']}, {w['phase']} batch {w['batch']} x seq "
                  f"{w['seq_len']}, "
                  f"config {doc['stamp']['slug']}; {d['note']}")
        out.append(f"  (layers at {h['layer_threads']} thread: hwq exact vs numpy fp32; all kernels below)")
        for r in h["kernels"]:
            vs = f", {r['speedup_vs_ort_q4']:.2f}x ORT 4-bit" if r["speedup_vs_ort_q4"] else ""
            out.append(f"  {r['kernel']:<11} {r['threads']}T: {_si(r['step_s'], 's')}/step, "
                       f"{r['speedup_vs_numpy_fp32']:.2f}x numpy fp32{vs}"
                       + ("" if r["validated"] else "  (not validated: no bench point)"))
        out.append(f"  validation: {h['summary_line']}")
        return "\n".join(out)
    if d.get("kind") == "gpu":
        out.append("  model: memory bandwidth and the dtype's peak (the SMs' decode throughput is not measured "
                   "separately: run `hwq bench cuda` on the device to validate)")
    if doc.get("rtl"):
        r = doc["rtl"]
        out.append(f"  RTL unit: {r['lanes']} lanes x {r['fmax_hz'] / 1e6:.1f} MHz ({r['fmax_source']}); needs "
                   f"{_si(r['weight_bytes_per_s'], 'B/s')} of weights vs board {_si(r['board_bandwidth'], 'B/s')}: "
                   f"{r['bound']}-bound")
    v = doc["validation"]
    if v["rows"]:
        errs = [abs(r["error"]) for r in v["rows"]]
        mem = [abs(r["error"]) for r in v["rows"] if r["bound"] == "memory"]
        out.append(f"  validation: {len(errs)} measured points, median |error| {statistics.median(errs):.1%}, "
                   f"max {max(errs):.1%}" + (f"; memory-bound points: median {statistics.median(mem):.1%}"
                                              if mem else ""))
    else:
        out.append(f"  validation: no measured points for {d['key']} (catalog, reports/bench, reports/sim): "
                   "these predictions are NOT VALIDATED")
    return "\n".join(out)


def _host_markdown(doc: dict[str, Any]) -> list[str]:
    """The host study's roofs (calibrated now) and its per-kernel predictions."""
    h = doc["host"]
    ro = h["roofs"]
    md = ["", "## Host roofs, calibrated now", "",
          f"{ro['machine']}; calibration took {ro['seconds']:.1f} s at load average "
          f"{', '.join(f'{v:.2f}' for v in ro['load_average'])}. Read bandwidth (AVX-512 read loop, 64 MiB, "
          "cold): " + ", ".join(f"{float(v) / 1e9:.1f} GB/s at {t} thread(s)"
                                  for t, v in ro["bandwidth"].items())
          + ".", "",
          "Model per kernel, batch and threads: t = t0 + c K + max(W/BW, W/R) + (1 - overlap) "
          "min(W/BW, W/R), "
          "W the weight bytes read, BW the read bandwidth, R the kernel's throughput on cache-resident "
          "weights "
          "(see `hwq/perf/host_roofs.py`).", "",
          "| kernel | batch | threads | t0 | c x 4096 rows | R (cache-resident) | overlap | bytes/weight |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in ro["kernels"]:
        md.append(f"| {r['kernel']} | {r['batch']} | {r['threads']} | {_si(r['t0_s'], 's')} | "
                  f"{_si(r['per_k_s'] * 4096, 's')} | {r['rate_bytes_per_s'] / 1e9:.2f} GB/s | "
                  f"{r['overlap']:.2f} | "
                  f"{r['bytes_per_weight']:.3f} |")
    if ro["notes"]:
        md += ["", "Notes: " + "; ".join(ro["notes"])]
    md += ["", f"## Predicted per kernel ({doc['model']['name']}, {doc['workload']['key']}, linear layers)",
           "",
           "| kernel | threads | time per step | tokens/s | vs numpy fp32 | vs ORT 4-bit | validated |",
           "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in h["kernels"]:
        vs = f"{r['speedup_vs_ort_q4']:.2f}x" if r["speedup_vs_ort_q4"] else "-"
        md.append(f"| {r['kernel']} | {r['threads']} | {_si(r['step_s'], 's')} | {r['tokens_per_s']:.4g} | "
                  f"{r['speedup_vs_numpy_fp32']:.2f}x | {vs} | "
                  f"{'yes (bench points below)' if r['validated'] else 'not validated'} |")
    return md


def format_markdown(doc: dict[str, Any]) -> str:
    """Markdown report of one roofline study."""
    st = doc["stamp"]
    md = [f"# Roofline: {doc['model']['name']} on {doc['device']['name']}", "",
          f"config `{st['slug']}`, hwq {st['hwq_version']}, {st['date']}, machine: {st['machine']}", "",
          "```", format_summary(doc), "```", "",
          f"| layer | K | M | per token | bits/w | hwq | {'numpy fp32' if doc.get('host') else 'fp16'} | "
          "speedup | bound |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in doc["layers"]:
        md.append(f"| {r['layer']} | {r['k']} | {r['m']} | {r['per_token']} | {r['bits_per_weight']:.3f} | "
                  f"{_si(r['t_hwq_s'], 's')} | {_si(r['t_fp16_s'], 's')} | {r['speedup']:.2f}x | {r['bound_hwq']} |")
    if doc["speedup_vs_batch"]:
        md += ["", "## Speedup vs batch (decode)", "", "| batch | speedup | tokens/s hwq | tokens/s fp16 |",
               "| ---: | ---: | ---: | ---: |"]
        md += [f"| {r['batch']} | {r['speedup']:.2f}x | {r['tokens_per_s_hwq']:.4g} | "
               f"{r['tokens_per_s_fp16']:.4g} |" for r in doc["speedup_vs_batch"]]
    h = doc.get("host")
    if h:
        md += _host_markdown(doc)
    md += ["", "## Validation against measurements", ""]
    v = doc["validation"]
    if h:
        md += [f"{h['summary_line']} (aim: every point within 15 %).", "",
               "| kernel | K x N | batch | threads | measured (min) | predicted | error | error vs CPU time "
               "| bound |",
               "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
        for r in v["rows"]:
            if r["device"] == "host":
                ec = f"{r['error_cpu']:+.1%}" if r.get("error_cpu") is not None else "-"
                md.append(f"| {r['kernel']} | {r['k']}x{r['m']} | {r['batch']} | {r['threads']} | "
                          f"{_si(r['measured'], 's')} | {_si(r['predicted'], 's')} | {r['error']:+.1%}"
                          f"{'' if abs(r['error']) <= 0.15 else ' (miss)'} | {ec} | {r['bound']} |")
        md += ["", "error: predicted over the measured minimum wall time, minus 1. error vs CPU time "
               "(1 thread): the same against the calling thread's CPU time, which preemption on a loaded "
               "machine does not "
               "inflate."]
        v = {"rows": [r for r in v["rows"] if r["device"] != "host"], "skipped": v["skipped"]}
        if v["rows"]:
            md += ["", "Other points:", ""]
    if v["rows"]:
        md += ["| source | device | kernel | K | M | batch | measured | predicted | error |",
               "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in v["rows"]:
            unit = r["unit"]
            fmt = (lambda x: _si(x, "s")) if unit == "s" else (lambda x: f"{x:.0f} cyc")
            md.append(f"| {Path(r['file']).name} | {r['device']} | {r['kernel']} | {r['k']} | {r['m']} | "
                      f"{r['batch']} | {fmt(r['measured'])} | {fmt(r['predicted'])} | {r['error']:+.1%} |")
    elif not h:
        md.append("No measured points: these predictions are not validated (run `hwq bench c`, the CUDA "
                  "benchmark script, or `hwq sim`).")
    if v["skipped"]:
        md += ["", "Not compared: " + "; ".join(v["skipped"])]
    return "\n".join(md) + "\n"
