"""The RTL unit on an FPGA board: its clock (from synthesis or the board), and its time from the cycle model.

The FPGA's compute roof is the hwq RTL unit, not a MAC count: a GEMV on the ``top`` unit (the one the board
runs) first rotates and buffers the activation vector (K / h Hadamard segments, then K buffer writes), then
streams ceil(M / lanes) x (K / d) weight beats, then drains its pipeline. :func:`rtl_cycles` takes that count
from the RTL layer's analytic cycle model :func:`hwq.rtl.cycles.gemv_cycles`, which the Verilator simulation
checks cycle for cycle; :func:`predict_rtl` divides it by the achieved Fmax (or the board's assumed clock,
labelled as such) and takes the roofline's max with the board's memory time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.cost import KernelCost, Prediction
from hwq.perf.devices import Device, synth_reports

__all__ = ["FPGA_UNIT", "predict_rtl", "rtl_cycles", "rtl_unit"]

FPGA_UNIT = "top"  # the unit a board runs: Hadamard + activation buffer + dequant-MAC lanes


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
        raise HwqError(f"device {device.key!r} is a {device.kind}, not an FPGA board; the RTL unit model "
                       "needs one")
    family = "ecp5" if "ecp5" in device.key else ("xilinx" if "u280" in device.key else device.key)
    found = None
    for rec in [*synth_reports(reports_dir), *extra]:  # the MAC unit (or a record without a unit name)
        if rec.get("slug") == cfg.slug and str(rec.get("target", family)).lower() in (family, "") \
                and rec.get("unit", "mac") in ("mac", "top") \
                and isinstance(rec.get("fmax_mhz"), (int, float)):
            found = rec
    if found is not None:
        fmax = float(found["fmax_mhz"]) * 1e6
        source = f"achieved Fmax from {found['file']}"
    elif device.clock_hz:
        fmax = device.clock_hz
        source = (f"ASSUMED {fmax / 1e6:.0f} MHz board clock: no synthesis report for {cfg.slug} under "
                  f"{Path(reports_dir) / 'synth'} (run `hwq synth --config FILE --target {family}`)")
    else:
        raise HwqError(f"no synthesis report for {cfg.slug} and no clock_mhz for {device.key!r}; run hwq "
                       "synth")
    blocks = cfg.lanes * fmax
    need = blocks * cfg.block_bits / 8.0
    dev = replace(device, peak={**device.peak, "rtl": 2.0 * blocks * cfg.dim}, clock_hz=fmax)
    return {"fmax_hz": fmax, "fmax_source": source, "lanes": cfg.lanes, "blocks_per_s": blocks,
            "macs_per_s": blocks * cfg.dim, "weight_bytes_per_s": need, "board_bandwidth": device.bw,
            "bound": "memory" if need > device.bw else "compute", "synth": found, "device": dev}




def rtl_cycles(cfg: HwqConfig, k: int, m: int, batch: int = 1, unit: str = FPGA_UNIT) -> int:
    """Cycles of the RTL ``unit`` for ``batch`` K x M matrix-vector products (one after the other).

    :func:`hwq.rtl.cycles.gemv_cycles` of the unit; K is padded to what the encoder needs (a multiple of
    lcm(d, h)) unless it already is a multiple of d (a simulated shape is used as simulated).
    """
    from hwq.rtl.cycles import gemv_cycles

    aligned = k % cfg.dim == 0 and (k % cfg.hadamard == 0 or unit not in ("top", "luttop"))
    kk = k if aligned else cfg.padded_k(k)
    try:
        return gemv_cycles(cfg, m, kk, unit) * batch
    except ValueError as e:
        raise HwqError(f"no cycle model for RTL unit {unit!r} at K={k}, M={m}: {e}") from None


def predict_rtl(cost: KernelCost, device: Device, cfg: HwqConfig, unit: str = FPGA_UNIT) -> Prediction:
    """Roofline time of ``cost`` on the RTL unit of ``device`` (a copy returned by :func:`rtl_unit`, whose
    ``clock_hz`` is the unit's Fmax): max(board memory time, unit cycles / Fmax)."""
    if not device.clock_hz or not device.bw > 0:
        raise HwqError(f"device {device.key!r} needs a clock and a bandwidth for the RTL model "
                       "(see rtl_unit)")
    cycles = rtl_cycles(cfg, cost.k, cost.m, cost.batch, unit)
    return Prediction(cost=cost, device=device.key, dtype="rtl", bandwidth=device.bw,
                      peak=device.peak.get("rtl", cost.ops * device.clock_hz / cycles),
                      t_memory=cost.bytes / device.bw, t_compute=cycles / device.clock_hz)
