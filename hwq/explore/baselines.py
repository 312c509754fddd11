"""The baselines ``hwq explore`` puts on the same axes as the lattice configs: the deployed scalar formats
(absmax INT4/INT3/INT2 with group 128), the block floating-point formats GPUs decode in hardware (MXFP4,
NVFP4), the INT4 RTL unit (:mod:`hwq.rtl.int4`) as their hardware cost and ONNX Runtime ``MatMulNBits`` as
their CPU kernel speed.

This is the one list of them. A baseline's quantizer is the registry entry of its own name
(:data:`hwq.quant.registry.METHODS`) when the registry has it, else its ``fallback`` (the same format
through an older entry, e.g. ``absmax`` with ``group=128``), else the baseline's quality is reported
``n/a`` naming the missing quantizer: nothing is faked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from hwq.errors import HwqError

__all__ = ["BASELINES", "Baseline", "quantizer_for"]


@dataclass(frozen=True)
class Baseline:
    """One baseline point: ``name`` is its registry name, ``rate`` the bits/entry asked of the registry;
    ``rtl_unit`` the hwq RTL unit that implements it (its hardware cost), ``ort_kernel`` the
    :mod:`hwq.codegen.bench` kernel that times it on the CPU."""

    name: str
    label: str
    rate: float
    fallback: tuple[str, Mapping[str, Any]] | None = None
    rtl_unit: str | None = None
    ort_kernel: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        """What identifies the baseline in the store (and the front)."""
        method, opts = self.method()
        return {"baseline": self.name, "method": method, "rate": self.rate, "options": dict(opts),
                "rtl_unit": self.rtl_unit, "ort_kernel": self.ort_kernel}

    def method(self) -> tuple[str, Mapping[str, Any]]:
        """(registry name, options) used now: the baseline's own name if registered, else the fallback."""
        from hwq.quant.registry import METHODS

        if self.name in METHODS:
            return self.name, dict(self.options)
        if self.fallback is not None and self.fallback[0] in METHODS:
            return self.fallback[0], dict(self.fallback[1])
        return self.name, dict(self.options)


#: baseline name -> baseline (the names are the registry names the quantizer zoo uses for them)
BASELINES: dict[str, Baseline] = {b.name: b for b in (
    Baseline("int4_g128", "absmax INT4, group 128", 4, ("absmax", {"group": 128}), rtl_unit="int4",
             ort_kernel="ort_q4"),
    Baseline("int3_g128", "absmax INT3, group 128", 3, ("absmax", {"group": 128})),
    Baseline("int2_g128", "absmax INT2, group 128", 2, ("absmax", {"group": 128}), ort_kernel="ort_q2"),
    Baseline("mxfp4", "MXFP4 (e2m1, e8m0 scale per 32)", 4),
    Baseline("nvfp4", "NVFP4 (e2m1, e4m3 scale per 16, tensor scale)", 4),
)}


def quantizer_for(b: Baseline):
    """The registry quantizer of baseline ``b``.

    Raises
    ------
    HwqError
        The registry has neither the baseline's name nor its fallback (the message names both).
    """
    from hwq.quant.registry import METHODS, make

    method, opts = b.method()
    if method not in METHODS:
        raise HwqError(f"quantizer {b.name!r} is not in hwq.quant.registry.METHODS in this hwq")
    return make(method, b.rate, **opts)
