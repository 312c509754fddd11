"""The roofline cost model: bytes and operations of an hwq kernel, predicted time, speedup over fp16.

For one weight matrix W (K x M) multiplied by B activation columns (B = batch for decode, batch x seq_len
for prefill), the kernel moves

* weights: per column, the packed codes ``packed_bytes(nb, code_bits)``, the packed ladder indices
  ``packed_bytes(nb, ladder_bits)`` and ``ceil(side_bits / 8)`` bytes of norm, nb = K_pad / d, where K_pad is
  K padded to a multiple of lcm(d, hadamard) (what :func:`hwq.matmul.encode_matrix` needs) -- exactly the
  sizes of :class:`hwq.container.EncodedMatrix`;
* activations: ``act_bytes`` per entry (fp16 in, 2 bytes, by default) and outputs ``out_bytes`` per entry;

and performs 2 K M B operations (a multiply-add counts 2) plus decode work. Weight-only: each weight is
decoded once per call (a table read and a ladder scaling, 2 ops, amortised over the batch, as a kernel that
dequantizes a tile into registers and then runs fp16/int8 MMA does) and the activations pass through the
Hadamard (log2 h adds per entry). Both-quantized: one LUT read, two multiplies and an add per block pair, and
the activation encoder (log2 h + 4 ops per entry). All ops run at the peak of one compute data type (fp16
by default on GPUs), a simplification that is exact for the memory-bound decode case the model is built for.
The predicted time is the roofline ``max(bytes / bandwidth, ops / peak)``; bandwidth is the measured one
where a measurement exists (:mod:`hwq.perf.devices`), else the datasheet's. The fp16 baseline moves 2 bytes
per weight with the same activations and outputs. Attention over the KV cache is not modelled (linear layers
only).

For an FPGA the compute time is the RTL unit's exact cycle count (activation load included) at the achieved
Fmax (:mod:`hwq.perf.fpga`). The CPU of this machine has its own calibrated model
(:mod:`hwq.perf.host_roofs`).

Measured results (``reports/bench/*.json``, ``reports/sim/*.json``) are compared with these predictions
point by point in :mod:`hwq.perf.validate`; a point that was not measured is never filled in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.packing import packed_bytes
from hwq.perf.devices import Device
from hwq.perf.models import Model, Workload

__all__ = ["KernelCost", "Prediction", "hwq_cost", "dense_cost", "hwq_weight_bytes", "predict", "layer_rows",
           "model_summary", "speedup_vs_batch", "pair", "MODES"]

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
    return KernelCost(label=label, k=k, m=m, batch=batch,
                      weight_bytes=int(math.ceil(k * m * weight_bits / 8)),
                      act_bytes=act_bytes * k * batch, out_bytes=out_bytes * m * batch,
                      ops=2.0 * k * m * batch, macs=k * m * batch)


def predict(cost: KernelCost, device: Device, dtype: str | None = None) -> Prediction:
    """Roofline time of ``cost`` on ``device`` at the peak of ``dtype`` (device default when None)."""
    dtype = dtype or device.default_dtype()
    peak = device.peak_for(dtype)
    bw = device.bw
    if not bw > 0:
        raise HwqError(f"device {device.key!r} has no bandwidth; give bandwidth_gbs in its catalog entry")
    return Prediction(cost=cost, device=device.key, dtype=dtype, bandwidth=bw, peak=peak,
                      t_memory=cost.bytes / bw, t_compute=cost.ops / peak)


def pair(cfg: HwqConfig, device: Device, k: int, m: int, tokens: int, dtype: str | None, mode: str,
         act_bytes: float = 2.0, out_bytes: float = 2.0) -> tuple[Prediction, Prediction]:
    """(hwq, fp16) predictions of one K x M layer with ``tokens`` activation columns. On an FPGA (a device
    returned by :func:`hwq.perf.fpga.rtl_unit`) both run on the RTL unit's cycle model, the fp16 baseline as
    the same unit streaming 16-bit weights."""
    fpga = device.kind == "fpga"
    hq = hwq_cost(cfg, k, m, tokens, act_bytes=act_bytes, out_bytes=out_bytes, mode=mode, fpga=fpga)
    fp = dense_cost(k, m, tokens, act_bytes=act_bytes, out_bytes=out_bytes)
    if fpga and device.clock_hz and "rtl" in device.peak:
        from hwq.perf.fpga import predict_rtl

        return predict_rtl(hq, device, cfg), predict_rtl(fp, device, cfg)
    return predict(hq, device, dtype), predict(fp, device, dtype)


def layer_rows(cfg: HwqConfig, model: Model, device: Device, workload: Workload, *,
               dtype: str | None = None, mode: str = "weight-only", act_bytes: float = 2.0,
               out_bytes: float = 2.0) -> list[dict[str, Any]]:
    """One row per distinct linear layer: bytes, intensity, predicted times (hwq and fp16), speedup, bound."""
    rows = []
    for lin, mult in model.all_linears():
        ph, pf = pair(cfg, device, lin.k, lin.m, workload.tokens, dtype, mode, act_bytes, out_bytes)
        rows.append({
            "layer": lin.name, "k": lin.k, "m": lin.m, "per_token": mult, "tokens": workload.tokens,
            "bits_per_weight": ph.cost.bits_per_weight, "bytes_hwq": ph.cost.bytes,
            "bytes_fp16": pf.cost.bytes, "ops_hwq": ph.cost.ops, "intensity_hwq": ph.cost.intensity,
            "intensity_fp16": pf.cost.intensity,
            "t_hwq_s": ph.time, "t_fp16_s": pf.time, "speedup": pf.time / ph.time,
            "bound_hwq": ph.bound, "bound_fp16": pf.bound, "dtype": ph.dtype,
        })
    return rows


def model_summary(rows: list[dict[str, Any]], workload: Workload, device: Device,
                  dtype: str) -> dict[str, Any]:
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


