"""Adder trees of the hwq RTL: a balanced sum (combinational or with a register stage every few adder
levels) whose terms may be marked :class:`Neg` (subtracted in the first adder level)."""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.hdl import Value

from .pipe import Pipe

__all__ = ["Neg", "pipe_tree_sum", "tree_sum"]


class Neg:
    """A term to subtract in :func:`tree_sum` / :func:`pipe_tree_sum` (paired with a positive term as
    ``a - b`` in the first adder level instead of costing a negation level of its own)."""

    def __init__(self, value):
        self.value = Value.cast(value)


def _first_level(terms: Sequence) -> list[Value]:
    """Combine the terms pairwise (positive with negative where possible): one adder level."""
    pos = [t for t in terms if not isinstance(t, Neg)]
    neg = [t.value for t in terms if isinstance(t, Neg)]
    out = [a - b for a, b in zip(pos, neg)]
    pos, neg = pos[len(out):], neg[len(out):]
    out += [pos[i] + pos[i + 1] for i in range(0, len(pos) - 1, 2)] + ([pos[-1]] if len(pos) % 2 else [])
    out += [-(neg[i] + neg[i + 1]) for i in range(0, len(neg) - 1, 2)] + ([-neg[-1]] if len(neg) % 2 else [])
    return out


def tree_sum(values: Sequence[Value]) -> Value:
    """Balanced adder tree."""
    vals = list(values)
    if any(isinstance(v, Neg) for v in vals):
        vals = _first_level(vals) if len(vals) > 1 else [-vals[0].value]
    while len(vals) > 1:
        nxt = [vals[i] + vals[i + 1] for i in range(0, len(vals) - 1, 2)]
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
    return vals[0]


def pipe_tree_sum(pipe: Pipe, values: Sequence[Value], levels_per_stage: int = 1, first: int | None = None,
                  name: str = "ts") -> tuple[Value, int]:
    """Balanced adder tree with a register stage every ``levels_per_stage`` adder levels (``first`` levels
    in the first stage, e.g. 1 when the inputs come from a multiplexer). The result is always registered.

    Returns
    -------
    (sum, stages)
    """
    vals = list(values)
    stages, lvl = 0, 0
    budget = levels_per_stage if first is None else first
    if len(vals) == 1:
        v = vals[0]
        return pipe.reg(-v.value if isinstance(v, Neg) else v, name), 1
    while len(vals) > 1:
        if any(isinstance(v, Neg) for v in vals):
            nxt = _first_level(vals)
        else:
            nxt = [vals[i] + vals[i + 1] for i in range(0, len(vals) - 1, 2)]
            if len(vals) % 2:
                nxt.append(vals[-1])
        vals = nxt
        lvl += 1
        if lvl == budget or len(vals) == 1:
            vals = pipe.regs(vals, f"{name}{stages}_")
            stages, lvl, budget = stages + 1, 0, levels_per_stage
    return vals[0], stages

