"""Throw-away elaboratables built only to count a unit's pipeline stages (its latency), never elaborated.

Amaranth warns (``UnusedElaboratable``) when an elaboratable is garbage-collected without having been
elaborated. Amaranth 0.5 has no public per-object switch for that warning: its only public one is the
file-wide ``# amaranth: UnusedElaboratable=no`` comment, which would also hide a real mistake anywhere in
the unit's module (amaranth-lang/amaranth#436 discusses a scoped linter interface; none exists). So this
one helper sets Amaranth's private flag ``_MustUse__silence`` on the probe objects, and nothing else in
hwq touches it: if a later Amaranth renames the flag, only :func:`discard` changes.
"""

from __future__ import annotations

from amaranth.hdl import Module

__all__ = ["discard", "probe_module"]


def discard(*objs):
    """Mark elaboratables (a probe Module, a probe ROM) as deliberately never elaborated; returns the
    first."""
    for obj in objs:
        if obj is not None:
            obj._MustUse__silence = True
    return objs[0] if objs else None


def probe_module() -> Module:
    """A Module that only counts pipeline stages (no unused-elaboratable warning when it is dropped)."""
    return discard(Module())
