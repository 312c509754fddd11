"""Arithmetic by constants without DSP blocks in the hwq RTL: canonical signed digits (:func:`csd_terms`,
the one CSD recoding), constant products as shift-adds, exact division by a constant as a reciprocal multiply
(:func:`reciprocal`, the one exhaustively checked reciprocal search), small long division and the ladder
scaler ``dot * m_T``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from amaranth.hdl import Array, Cat, Const, Value, signed

from .adders import Neg, pipe_tree_sum
from .pipe import Pipe

__all__ = [
    "LadderScaler",
    "csd_terms",
    "divmod_small",
    "floordiv_const",
    "floordiv_pipe",
    "mul_const",
    "reciprocal",
    "scaled_terms",
    "signed_bits",
]


def signed_bits(bound: int) -> int:
    """Bits of a two's complement integer holding every value in [-bound, bound]."""
    return int(bound).bit_length() + 1


def csd_terms(c: int) -> list[tuple[int, int]]:
    """Canonical signed digits of a positive integer: ``c == sum(sign << shift)`` over the returned
    ``(sign, shift)`` pairs (no two adjacent non-zero digits, so at most bits/2 + 1 terms)."""
    terms: list[tuple[int, int]] = []
    shift = 0
    c = int(c)
    while c:
        if c & 1:
            if c & 3 == 3 and c != 3 and c != 1:
                terms.append((-1, shift))
                c += 1
            else:
                terms.append((1, shift))
                c -= 1
        c >>= 1
        shift += 1
    return terms


def scaled_terms(v: Value, c: int) -> list:
    """Shifted copies of v (``Neg`` for the subtracted ones) whose sum is ``c * v`` (signed digits of c)."""
    if c == 0:
        return []
    sgn = -1 if c < 0 else 1
    out = []
    for sg, sh in csd_terms(abs(c)):
        t = v << sh if sh else v
        out.append(t if sg * sgn > 0 else Neg(t))
    return out


def mul_const(v: Value, c: int) -> Value:
    """``v * c`` for a constant integer c as shifts and adds (canonical signed digits): no DSP block."""
    v = Value.cast(v)
    c = int(c)
    if c == 0:
        return Const(0, signed(2))
    neg = c < 0
    terms = csd_terms(abs(c))
    vs = v.as_signed() if v.shape().signed else v
    acc = None
    for sgn, sh in terms:
        t = vs << sh if sh else vs
        if acc is None:
            acc = t if sgn > 0 else -t
        else:
            acc = acc + t if sgn > 0 else acc - t
    return -acc if neg else acc


def reciprocal(d: int, n_hi: int) -> tuple[int, int]:
    """(mult, s) with ``(n * mult) >> s == n // d`` for every integer n in [0, n_hi] (checked
    exhaustively)."""
    nv = np.arange(0, n_hi + 1, dtype=np.int64)
    s = max(1, n_hi.bit_length())
    while True:
        mult = -(-(1 << s) // d)
        if n_hi * mult < 2**62 and np.array_equal((nv * mult) >> s, nv // d):
            return mult, s
        s += 1
        if s > 60:
            raise ValueError(f"no exact reciprocal for division by {d} over [0, {n_hi}]")


def floordiv_const(v: Value, d: int, lo: int, hi: int) -> Value:
    """``floor(v / d)`` for a constant d > 0 and v known to lie in [lo, hi], exact, as a reciprocal
    multiply by a constant (shift-add) that is verified over the whole range at build time."""
    if d <= 0:
        raise ValueError("divisor must be positive")
    v = Value.cast(v)
    if d & (d - 1) == 0:
        return v >> (d.bit_length() - 1)
    off = -(-max(0, -lo) // d)
    n_hi = hi + off * d
    mult, s = reciprocal(d, n_hi)
    n = (v + off * d) if off else v
    nn = n.as_unsigned()[:max(1, n_hi.bit_length())]
    quot = mul_const(nn, mult) >> s
    return quot - off if off else quot


def floordiv_pipe(pipe: Pipe, num: Value, a: int, b: int, d: int, lo: int, hi: int, name: str = "fd"
                  ) -> tuple[Value, int]:
    """Registered ``floor((a * num + b) / d)`` for constants a, b, d > 0 and num known to lie in [lo, hi],
    exact, as a reciprocal multiply (shift-add terms in a pipelined adder tree, 2 levels per stage) that is
    verified over the whole range at build time. Returns (quotient, stages >= 1)."""
    num = Value.cast(num)
    vlo, vhi = a * lo + b, a * hi + b
    if d & (d - 1) == 0:
        terms = scaled_terms(num, a) + ([Const(b)] if b else [])
        v, st = pipe_tree_sum(pipe, terms, name=name)
        return v >> (d.bit_length() - 1), st
    off = -(-max(0, -vlo) // d)
    mult, s = reciprocal(d, vhi + off * d)
    # floor(mult (v + off d) / 2^s) - off = (mult a num + mult (b + off d) - off 2^s) >> s
    const = mult * (b + off * d) - (off << s)
    terms = scaled_terms(num, mult * a) + ([Const(const)] if const else [])
    v, st = pipe_tree_sum(pipe, terms, name=name)
    return v >> s, st


def divmod_small(v: Value, q: int, width: int, chunk: int = 3, pipe: Pipe | None = None,
                 chunks_per_stage: int = 2) -> tuple[Value, Value, int]:
    """Unsigned ``divmod(v, q)`` for a small constant q by chunked long division (no multiplier).

    Each step combines the running remainder with ``chunk`` new bits (a function of about six inputs);
    with ``pipe`` a register stage is inserted every ``chunks_per_stage`` steps.

    Returns
    -------
    (quotient, remainder, stages)
    """
    rb = max(1, (q - 1).bit_length())
    nchunks = -(-width // chunk)
    v = Value.cast(v)
    bits = Cat(v, Const(0, nchunks * chunk - width)) if nchunks * chunk > width else v[:width]
    rem: Value = Const(0, rb)
    qparts: list[Value] = []
    stages = 0
    pending = bits
    # one long-division step as two constant tables over the (remainder, chunk) bits: a LUT6 per output bit
    # (Yosys maps `//` and `%` by a constant to generic divider arithmetic: 92.7 MHz measured)
    tq = [Const((v // q) & ((1 << chunk) - 1), chunk) for v in range(1 << (chunk + rb))]
    tr = [Const((v % q) & ((1 << rb) - 1), rb) for v in range(1 << (chunk + rb))]
    for i in range(nchunks - 1, -1, -1):
        if i == nchunks - 1:
            # first step: the remainder is 0, so index by the chunk bits alone (a zero-padded index left
            # Verilog `casez` statements with unreachable items that Verilator -Wall reports as latches)
            nb = width - i * chunk   # real (not padding) bits of the top chunk
            cur = pending[i * chunk:i * chunk + nb]
            qparts.append(Array(tq[:1 << nb])[cur])
            rem = Array(tr[:1 << nb])[cur]
        else:
            cur = Cat(pending[i * chunk:(i + 1) * chunk], rem)
            qparts.append(Array(tq)[cur])
            rem = Array(tr)[cur]
        done = nchunks - i
        if pipe is not None and done % chunks_per_stage == 0 and i > 0:
            rem = pipe.reg(rem, "dmr")
            qparts = [pipe.reg(Cat(*reversed(qparts)), "dmq")]
            pending = pipe.reg(pending, "dmp")
            stages += 1
    quot = Cat(*reversed(qparts))
    return quot, rem, stages


class LadderScaler:
    """``dot * m_T`` for a ladder index T and the config's fixed-point multipliers ``m_t`` without a DSP
    block.

    Every multiplier is ``m_t = b_t << s_t`` with an odd base b_t; the few distinct bases are constant
    shift-add products of ``dot`` (a pipelined adder tree), then ``(dot * b_T) << s_T`` is selected by T.
    """

    def __init__(self, mults: Sequence[int], levels_per_stage: int = 1):
        self.mults = [int(v) for v in mults]
        self.levels_per_stage = levels_per_stage
        self.shifts = [(v & -v).bit_length() - 1 if v else 0 for v in self.mults]
        self.bases = sorted({v >> s for v, s in zip(self.mults, self.shifts) if v})

    def _tree_stages(self, n: int) -> int:
        if n <= 1:
            return 0
        levels = (n - 1).bit_length()
        return -(-levels // self.levels_per_stage)

    @property
    def stages(self) -> int:
        """Register stages from ``dot`` to the selected, registered term."""
        return max([self._tree_stages(len(csd_terms(b))) for b in self.bases] + [0]) + 1

    def build(self, pipe: Pipe, dot: Value, t: Value, name: str = "ls") -> Value:
        """``dot * mults[t]`` registered ``stages`` cycles after ``dot``/``t`` (t must be delayed
        alongside)."""
        dot = Value.cast(dot)
        st = self.stages - 1
        prods = {}
        for b in self.bases:
            terms = scaled_terms(dot, b)
            if len(terms) == 1 and not isinstance(terms[0], Neg):
                v, s = terms[0], 0
            else:
                v, s = pipe_tree_sum(pipe, terms, self.levels_per_stage, name=f"{name}b{b}_")
            prods[b] = pipe.delay(v, st - s, f"{name}a{b}_")
        td = pipe.delay(t, st, f"{name}t")
        zero = Const(0, signed(2))
        cands = [(prods[v >> s] << s if s else prods[v >> s]) if v else zero
                 for v, s in zip(self.mults, self.shifts)]
        n = 1 << max(1, Value.cast(t).shape().width)
        cands += [zero] * (n - len(cands))
        return pipe.reg(Array(cands)[td], f"{name}term")

