"""The baselines ``hwq explore`` puts on the same axes as the lattice configs: the deployed scalar formats
(absmax INT4/INT3/INT2 with group 128), the block floating-point formats GPUs decode in hardware (MXFP4,
NVFP4), the INT4 RTL unit (:mod:`hwq.rtl.int4`) as their hardware cost and ONNX Runtime ``MatMulNBits`` as
their CPU kernel speed.

This is the one list of them. A baseline's quantizer is the registry entry of its own name
(:data:`hwq.quant.registry.METHODS`, the formats of :mod:`hwq.quant.blockfp`), asked for its nominal rate
(:data:`hwq.quant.registry.FIXED_RATE`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from hwq.errors import HwqError

__all__ = ["BASELINES", "Baseline", "quantizer_for"]


@dataclass(frozen=True)
class Baseline:
    """One baseline point: ``name`` is its registry name (its rate is the registry's nominal rate);
    ``rtl_unit`` the hwq RTL unit that implements it (its hardware cost), ``ort_kernel`` the
    :mod:`hwq.codegen.bench` kernel that times it on the CPU."""

    name: str
    label: str
    rtl_unit: str | None = None
    ort_kernel: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """What identifies the baseline in the store (and the front)."""
        method, opts = self.method()
        return {"baseline": self.name, "method": method, "rate": self.rate, "options": dict(opts),
                "rtl_unit": self.rtl_unit, "ort_kernel": self.ort_kernel}

    @property
    def rate(self) -> float:
        """The format's nominal bits/entry (the registry's table)."""
        from hwq.quant.registry import FIXED_RATE

        return FIXED_RATE[self.name]

    def method(self) -> tuple[str, Mapping[str, Any]]:
        """(registry name, options)."""
        return self.name, dict(self.options)


#: baseline name -> baseline (the names are the registry names the quantizer zoo uses for them)
BASELINES: dict[str, Baseline] = {b.name: b for b in (
    Baseline("int4_g128", "absmax INT4, group 128", rtl_unit="int4", ort_kernel="ort_q4"),
    Baseline("int3_g128", "absmax INT3, group 128"),
    Baseline("int2_g128", "absmax INT2, group 128", ort_kernel="ort_q2"),
    Baseline("mxfp4", "MXFP4 (e2m1, e8m0 scale per 32)"),
    Baseline("nvfp4", "NVFP4 (e2m1, e4m3 scale per 16, tensor scale)"),
)}


def quantizer_for(b: Baseline):
    """The registry quantizer of baseline ``b``.

    Raises
    ------
    HwqError
        The registry does not hold the baseline's name.
    """
    from hwq.quant.registry import METHODS, make

    method, opts = b.method()
    if method not in METHODS:
        raise HwqError(f"quantizer {b.name!r} is not in hwq.quant.registry.METHODS in this hwq")
    return make(method, b.rate, **opts)
