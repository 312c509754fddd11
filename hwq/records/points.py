"""The measured point: one kernel time or one count of simulated RTL cycles, as every performance reader
(roofline validation, host calibration, the explorer) takes it. Benchmark and simulation records carry
these points (:class:`hwq.records.KernelBench`, :class:`hwq.records.Sim`); the device catalog's own
measurements are points too (:class:`hwq.perf.devices.Measurement`, a point that names its file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hwq.errors import HwqError


@dataclass(frozen=True)
class RooflinePoint:
    """One measured point a roofline validation reads: a kernel's time on a K x M weight with ``batch``
    activation columns, or simulated RTL cycles. ``family``: ``hwq`` (the lattice kernel of config
    ``slug``), ``fp16``, ``fp32``, ``int8``, ``int4``, ``int2`` (dense or block-quantized peers), ``read``
    (a read-bandwidth loop over the weight bytes, no arithmetic) or ``rtl`` (cycles).

    ``threads`` is the thread count of a CPU kernel, ``nbytes`` the weight bytes it read, ``cpu_time_s`` the
    calling thread's CPU time (one thread only), ``cold`` whether the weights were out of the cache."""

    device: str
    kernel: str
    family: str
    k: int
    m: int
    batch: int
    time_s: float | None = None
    cycles: int | None = None
    slug: str = ""
    threads: int = 1
    nbytes: int | None = None
    cpu_time_s: float | None = None
    cold: bool = True

    FAMILIES: ClassVar[tuple[str, ...]] = ("hwq", "fp16", "fp32", "int8", "int4", "int2", "read", "rtl")

    def __post_init__(self) -> None:
        if self.family not in self.FAMILIES:
            raise HwqError(f"roofline point family {self.family!r} is not one of {', '.join(self.FAMILIES)}")
        if (self.time_s is None) == (self.cycles is None):
            raise HwqError("a roofline point records exactly one of time_s (a kernel) or cycles (RTL)")

