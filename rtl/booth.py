"""Radix-4 Booth partial products of a small variable multiplier times a shared activation: no DSP block."""

from __future__ import annotations

from amaranth.hdl import Array, Const, Mux, Value, signed

from .pipe import Pipe

__all__ = ["booth_multiples", "booth_pps"]


def booth_multiples(pipe: Pipe, x: Value, name: str = "bm") -> tuple[Value, Value, Value]:
    """Registered ``(x, -x, 3x)`` of a signed value: the shared operands of :func:`booth_pps` (one stage;
    computed once per activation element and shared by every lane)."""
    x = Value.cast(x)
    return pipe.reg(x, f"{name}p"), pipe.reg(-x, f"{name}n"), pipe.reg((x << 1) + x, f"{name}t")


def booth_pps(c: Value, xm: tuple[Value, Value, Value]) -> list[Value]:
    """Partial products of ``c * x`` for a small multiplier c (signed or unsigned) from the shared
    ``(x, -x, 3x)`` of :func:`booth_multiples`: c is cut into 2-bit digits, unsigned ones select
    ``{0, x, 2x, 3x}`` and the signed top digit ``{0, x, -2x, -x}`` (a 1-bit signed top digit ``{0, -x}``),
    each a 4-way multiplexer (one LUT5 per bit on ECP5) shifted by 2k; ``sum(booth_pps(c, xm)) == c * x``.
    No DSP block and no adder before the adder tree."""
    c = Value.cast(c)
    xp, xn, x3 = xm
    w = c.shape().width
    sg = c.shape().signed
    zero = Const(0, signed(2))
    out = []
    for k in range(0, w, 2):
        dig = c[k:k + 2]
        top = k + 2 >= w
        if top and sg and len(dig) == 1:
            pp = Mux(dig[0], xn, zero)
        elif top and sg:
            pp = Array([zero, xp, xn << 1, xn])[dig]
        elif len(dig) == 1:
            pp = Mux(dig[0], xp, zero)
        else:
            pp = Array([zero, xp, xp << 1, x3])[dig]
        out.append(pp << k if k else pp)
    return out

