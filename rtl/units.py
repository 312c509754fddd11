"""The registry of hwq RTL units: every unit's name (the Verilog module suffix) in one place, and what
each unit answers about itself -- its component class, its latency, whether it holds the pairwise LUT
(left out when that does not fit), whether it loads and rotates activations first (the GEMV tops), and
the native top an AXI4-Stream wrapper holds. :mod:`hwq.rtl.build`, :mod:`hwq.rtl.cycles` and the
testbenches look a unit up here instead of matching its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hwq.config import HwqConfig

__all__ = ["UNITS", "Unit", "unit"]


def _cls(module: str, name: str) -> Callable:
    """The unit class ``name`` of ``hwq.rtl.<module>`` (imported on first use: elaboration code is heavy)."""
    def get():
        import importlib

        return getattr(importlib.import_module(f"hwq.rtl.{module}"), name)
    return get


@dataclass(frozen=True)
class Unit:
    """One RTL unit.

    ``latency_of`` gives the latency without building the whole unit where a cheap probe exists (``None``:
    build the unit and read its ``latency``); ``pair_lut``: the unit holds the q**d x q**d pairwise
    table; ``gemv_top``: a GEMV top that rotates and buffers the activation vector before the weight stream
    (``encodes``: and encodes it); ``core``: the native unit an AXI4-Stream top wraps."""

    name: str
    cls: Callable[[], type]
    latency_of: Callable[[HwqConfig], int] | None = None
    pair_lut: bool = False
    gemv_top: bool = False
    encodes: bool = False
    core: str | None = None

    def make(self, cfg: HwqConfig):
        """The Amaranth component of this unit for ``cfg``."""
        return self.cls()(cfg)

    def latency(self, cfg: HwqConfig) -> int:
        """Cycles from an input transfer (the ``last`` beat for MAC units) to ``o.valid``."""
        if self.latency_of:
            return self.latency_of(cfg)
        from .probe import discard

        return discard(self.make(cfg)).latency  # built only to ask: never elaborated


def _mac_latency(cfg):
    from .mac import mac_latency

    return mac_latency(cfg)


def _top_latency(cfg):  # DequantMacTop: one register stage between the x buffer and the MAC
    return 1 + _mac_latency(cfg)


def _luttop_latency(cfg):  # LutTop: one register stage between the code buffer and the LutMac
    return 1 + _lut_latency(cfg)


def _int4_latency(cfg):
    from .int4 import int4_latency

    return int4_latency(cfg)


def _lut_latency(cfg):
    from .lut import lut_latency

    return lut_latency(cfg)


def _had_latency(cfg):
    from .hadamard import had_latency

    return had_latency(cfg)


#: every RTL unit, in the order ``hwq rtl`` emits them
UNITS: dict[str, Unit] = {u.name: u for u in [
    Unit("top", _cls("top", "DequantMacTop"), _top_latency, gemv_top=True),
    Unit("mac", _cls("mac", "DequantMac"), _mac_latency),
    Unit("had", _cls("hadamard", "Hadamard"), _had_latency),
    Unit("enc", _cls("encoder", "ActEncoder")),
    Unit("dec", _cls("decoder", "CodebookDecoder")),
    Unit("int4", _cls("int4", "Int4Mac"), _int4_latency),
    Unit("lut", _cls("lut", "LutMac"), _lut_latency, pair_lut=True),
    Unit("luttop", _cls("top", "LutTop"), _luttop_latency, pair_lut=True, gemv_top=True, encodes=True),
    Unit("top_axi", _cls("axi", "DequantMacAxi"), core="top"),
    Unit("luttop_axi", _cls("axi", "LutAxi"), pair_lut=True, core="luttop"),
]}


def unit(name: str) -> Unit:
    """The registry entry of a unit name (ValueError naming the known units otherwise)."""
    try:
        return UNITS[name]
    except KeyError:
        raise ValueError(f"unknown RTL unit {name!r}; known: {', '.join(UNITS)}") from None
