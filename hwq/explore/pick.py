"""``hwq explore --pick 'bits<=3.5,luts<=8000' --out my.toml``: choose a config from a front and write it as
the TOML file ``hwq flow --config`` reads.

An expression is comma-separated conditions ``METRIC OP NUMBER`` (OP: ``<=``, ``>=``, ``<``, ``>``, ``==``)
over the metrics of :data:`METRICS`. Among the config points (baselines are not configs) that passed every
stage they ran and meet every condition, the one with the lowest distortion D is chosen (ties: fewer bits).
"""

from __future__ import annotations

import math
import operator
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.explore.space import make_config
from hwq.records import ExploreFront, load

__all__ = ["METRICS", "Condition", "choose", "load_front", "parse_pick", "pick"]

#: metric name -> (row key, meaning)
METRICS: dict[str, tuple[str, str]] = {
    "bits": ("bits", "bits per weight actually stored"),
    "d": ("D", "matrix-product distortion D"),
    "ratio": ("ratio", "D / Gamma(R)"),
    "luts": ("luts", "ECP5 LUTs of the MAC at the point's lanes (per-lane LUTs x lanes)"),
    "luts_per_lane": ("luts_per_lane", "ECP5 LUTs per MAC lane"),
    "fmax": ("fmax_mhz", "ECP5 Fmax (MHz)"),
    "asic_area": ("asic_um2_per_lane", "ASIC (OSU018, pre-layout) area per MAC lane (um^2)"),
    "asic_fmax": ("asic_fmax_mhz", "ASIC (OSU018, pre-layout) clock (MHz)"),
    "gws": ("weights_per_s", "FPGA weights per second / 1e9"),
    "kernel_ms": ("kernel_ms", "C GEMV time (ms)"),
    "vs_ort": ("kernel_vs_ort", "C GEMV speed over ORT 4-bit"),
    "gpu": ("gpu_speedup", "predicted H100 speed-up over fp16"),
    "minilm": ("minilm_dist", "MiniLM weight-only layer distortion (mean)"),
}
_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "==": operator.eq,
                                                   "<": operator.lt, ">": operator.gt}
_COND = re.compile(r"^\s*([A-Za-z_]+)\s*(<=|>=|==|<|>)\s*([-+0-9.eE]+)\s*$")

Condition = tuple[str, str, float]


def parse_pick(expr: str) -> list[Condition]:
    """The conditions of ``expr``; a bad one is refused in one line naming it and the metrics."""
    if not isinstance(expr, str) or not expr.strip():
        raise HwqError("--pick needs conditions like 'bits<=3.5,luts<=8000'")
    out = []
    for part in expr.split(","):
        m = _COND.match(part)
        if not m:
            raise HwqError(f"--pick condition {part.strip()!r} is not METRIC OP NUMBER (OP: <=, >=, <, >, "
                           "==), e.g. 'bits<=3.5,luts<=8000'")
        name, op, num = m.group(1).lower(), m.group(2), m.group(3)
        if name not in METRICS:
            raise HwqError(f"--pick metric {m.group(1)!r} is unknown; metrics: {', '.join(METRICS)}")
        try:
            val = float(num)
        except ValueError:
            raise HwqError(f"--pick condition {part.strip()!r}: {num!r} is not a number") from None
        if not math.isfinite(val):
            raise HwqError(f"--pick condition {part.strip()!r}: the number must be finite")
        out.append((name, op, val))
    return out


def _value(row: Mapping[str, Any], name: str) -> float | None:
    v = row.get(METRICS[name][0])
    if v is None:
        return None
    return v / 1e9 if name == "gws" else float(v)


def choose(rows: Sequence[Mapping[str, Any]], conds: Sequence[Condition]) -> Mapping[str, Any]:
    """The chosen row (see the module docstring); none meeting the conditions is one HwqError line."""
    cand = [r for r in rows if r["kind"] == "config" and r["ok"] and r.get("D") is not None
            and all((v := _value(r, n)) is not None and _OPS[op](v, x) for n, op, x in conds)]
    if not cand:
        text = ",".join(f"{n}{op}{x:g}" for n, op, x in conds)
        raise HwqError(f"--pick {text!r}: no config of the front meets every condition (configs with the "
                       f"metric measured: {sum(1 for r in rows if r['kind'] == 'config')}); loosen a "
                       "condition")
    return min(cand, key=lambda r: (r["D"], r["bits"]))


def load_front(path: str | Path) -> ExploreFront:
    """The front record at ``path`` (a ``front.json`` or the folder holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "front.json"
    if not p.is_file():
        raise HwqError(f"--front {path}: no front.json there; run `hwq explore --out DIR` first")
    return load(p, ExploreFront)


def pick(front: ExploreFront, expr: str) -> tuple[HwqConfig, Mapping[str, Any]]:
    """(config, its row) chosen from ``front`` by ``expr``."""
    row = choose(front.points, parse_pick(expr))
    cfg = make_config(row["config"] or row["fields"])
    if cfg.slug != row["name"]:
        raise HwqError(f"the front's point {row['name']} rebuilds as {cfg.slug} with this hwq: rerun hwq "
                       "explore")
    return cfg, row
