"""The registry of the quantizer zoo: :data:`METHODS` maps a family name to a factory
``at_rate(rate, **options)`` that returns a quantizer aiming at a target rate (bits/entry before side
information); :func:`make` is the entry point.

Every method module imports :mod:`hwq.quant.base` only; this module imports the methods and registers
them (no method imports the registry back, so there is no import cycle)."""

from __future__ import annotations

from typing import Any, Callable

from hwq.errors import HwqError
from hwq.quant.base import Quantizer
from hwq.quant.baselines import Absmax, DitheredScalar, HadamardInt
from hwq.quant.blockfp import MXFP4, NVFP4, IntGroup
from hwq.quant.kashin import Kashin
from hwq.quant.nested import NestedLattice, NestQuant
from hwq.quant.timeshare import TimeShare
from hwq.quant.watersic import WaterSIC

__all__ = ["FIXED_RATE", "METHODS", "make", "method_names"]


def _lattice_factory(name: str, dither: bool) -> Callable[..., Quantizer]:
    def f(rate: float, **kw: Any) -> Quantizer:
        return NestedLattice.at_rate(rate, lattice=name, dither=kw.pop("dither", dither), **kw)
    return f



#: family name -> factory ``(rate, **options) -> Quantizer``
METHODS: dict[str, Callable[..., Quantizer]] = {
    "z": _lattice_factory("Z", True),
    "d3": _lattice_factory("D3", True),
    "d4": _lattice_factory("D4", True),
    "e8": _lattice_factory("E8", True),
    "nestquant": lambda rate=4.057, **kw: NestQuant.at_rate(rate, **kw),
    "timeshare": TimeShare.at_rate,
    "absmax": lambda rate, **kw: Absmax.at_rate(rate, **kw),
    "absmax_g64": lambda rate, **kw: Absmax.at_rate(rate, group=kw.pop("group", 64), **kw),
    "dithered": lambda rate, **kw: DitheredScalar.at_rate(rate, **kw),
    "hadamard_int": lambda rate, **kw: HadamardInt.at_rate(rate, **kw),
    "watersic": WaterSIC.at_rate,
    "kashin": Kashin.at_rate,
    # deployed fixed-rate formats (hwq.quant.blockfp; nominal rates in FIXED_RATE)
    "int4_g128": lambda rate, **kw: IntGroup.at_rate(rate, bits=4, group=128, **kw),
    "int3_g128": lambda rate, **kw: IntGroup.at_rate(rate, bits=3, group=128, **kw),
    "int2_g128": lambda rate, **kw: IntGroup.at_rate(rate, bits=2, group=128, **kw),
    "mxfp4": lambda rate, **kw: MXFP4.at_rate(rate, **kw),
    "nvfp4": lambda rate, **kw: NVFP4.at_rate(rate, **kw),
}


#: families whose rate is fixed by the format -> their nominal rate (``make(name)`` needs no rate)
FIXED_RATE: dict[str, float] = {"nestquant": 4.057, "int4_g128": 4.0, "int3_g128": 3.0, "int2_g128": 2.0,
                                "mxfp4": 4.0, "nvfp4": 4.0}


def method_names() -> list[str]:
    return list(METHODS)


def make(name: str, rate: float | None = None, **options: Any) -> Quantizer:
    """A quantizer of family ``name`` aiming at ``rate`` bits/entry (side information excluded).

    ``rate`` may be left out for the fixed-rate formats (nestquant, int*_g128, mxfp4, nvfp4), which then
    take their nominal rate.

    Raises
    ------
    HwqError
        Unknown family (the message lists them), a rate out of the family's range, or no rate for a
        family that needs one.
    """
    key = str(name).lower()
    if key not in METHODS:
        raise HwqError(f"unknown quantizer {name!r}; choose one of {', '.join(METHODS)}")
    if rate is None:
        if key not in FIXED_RATE:
            raise HwqError(f"quantizer {key!r} needs a target rate (bits/entry); only the fixed-rate formats "
                           f"{', '.join(FIXED_RATE)} take their nominal rate without one")
        rate = FIXED_RATE[key]
    return METHODS[key](rate, **options)
