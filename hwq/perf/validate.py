"""Prediction against measurement: every measured point of ``reports/bench`` and ``reports/sim`` (and the
catalog's own measured points) next to what the cost model predicts for it.

Simulated RTL cycles are compared with the cycle model of the simulated unit
(:func:`hwq.perf.fpga.rtl_cycles`); kernel times with the roofline of the device that ran them (dense
fp16/fp32/int8 and hwq kernels). The benchmarks of this machine (``hwq bench c``) are validated by the
calibrated host model instead (:mod:`hwq.perf.host_validate`).
"""

from __future__ import annotations

from typing import Any

from hwq.config import HwqConfig
from hwq.perf.cost import dense_cost, hwq_cost, predict
from hwq.perf.devices import Device
from hwq.perf.fpga import FPGA_UNIT, rtl_cycles

__all__ = ["DENSE", "validate"]


def _config_for(point: Any, cfg: HwqConfig) -> HwqConfig | None:
    if point.slug in ("", cfg.slug):
        return cfg
    return None


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
                skipped.append(
                    f"{p.file}: simulated cycles for config {p.slug}, whose fields were not recorded")
                continue
            from hwq.rtl.units import UNITS

            unit = p.kernel if p.kernel in UNITS else FPGA_UNIT
            pred = rtl_cycles(c, p.k, p.m, p.batch, unit)
            rows.append({"file": p.file, "device": "rtl-sim", "kernel": f"rtl {unit}", "k": p.k, "m": p.m,
                         "batch": p.batch, "measured": float(p.cycles), "predicted": float(pred),
                         "unit": "cycles",
                         "error": pred / p.cycles - 1.0, "bound": "cycles"})
            continue
        dev = match_device(p.device, devices)
        if dev is None or dev.key == "host":
            if host is not None and (p.device in ("host", "") or p.device.split(",")[0] in host_name()):
                dev = host
            else:
                skipped.append(
                    f"{p.file}: device {p.device!r} is not in the catalog (add it with --device-file)")
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
        rows.append({"file": p.file, "device": dev.key, "kernel": p.kernel, "k": p.k, "m": p.m,
                     "batch": p.batch, "measured": p.time_s, "predicted": pr.time, "unit": "s",
                     "error": pr.time / p.time_s - 1.0, "bound": pr.bound, "intensity": cost.intensity,
                     "ops": cost.ops})
    return rows, skipped


