"""The space of ``hwq explore``: which configs to evaluate, read from a TOML file.

A space file names :class:`hwq.config.HwqConfig` fields and their values::

    search = "grid"            # grid (every combination) | random (``samples`` of them) | nsga2 (optuna)
    samples = 0                # random / nsga2: how many points (nsga2: trials)
    seed = 0
    stages = ["quality", "sim", "synth", "throughput", "kernel", "gpu"]
    baselines = ["int4_g128", "int3_g128", "int2_g128", "mxfp4", "nvfp4"]

    [settings]                 # stage settings (part of every stage's store key), see hwq.explore.stages
    quality_n = 6144

    [fields]                   # every point: a value, a list, or a range, crossed with each grid below
    dither = false
    lanes = [4, 8]

    [[grid]]                   # one grid: the cartesian product of its fields (and [fields])
    lattice = "D3"
    q = {from = 4, to = 8}     # integers 4..8 (``step`` optional; floats too)

Fields are passed to the config as they are: its own validation prunes invalid combinations, which are
reported with the config's message, never crashed on. A field name HwqConfig does not have is refused when
the file is read. Every config is built by :func:`make_config` and nothing else.
"""

from __future__ import annotations

import itertools
import math
import random
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from hwq.config import HwqConfig
from hwq.errors import HwqError

__all__ = ["DEFAULT_SPACE", "FULL_SPACE", "SEARCHES", "Invalid", "Point", "Space", "config_fields",
           "load_space", "make_config", "parse_space"]

SEARCHES = ("grid", "random", "nsga2")
#: the built-in spaces (package data)
DEFAULT_SPACE = "explore_default.toml"
FULL_SPACE = "explore_full.toml"
_TOP_KEYS = {"search", "samples", "seed", "stages", "baselines", "settings", "fields", "grid", "population"}
#: a grid larger than this is refused for ``search = "grid"`` (use random or nsga2)
MAX_GRID = 100_000


def make_config(fields: Mapping[str, Any]) -> HwqConfig:
    """The one place where ``hwq explore`` builds a config from a point's fields (its own validation
    applies; beta0 is tuned when the fields do not give it).

    Raises
    ------
    HwqError
        The config's message for an invalid combination (unknown field, bad value, overflow...).
    """
    return HwqConfig.from_dict(dict(fields), tune=True)


def config_fields() -> list[str]:
    """The field names a space may set (those of :class:`HwqConfig`)."""
    return [f.name for f in fields(HwqConfig) if f.init]


@dataclass(frozen=True)
class Point:
    """One point of the space: a config (``kind`` ``config``, named by its slug) or a baseline (``kind``
    ``baseline``, named by its baseline name)."""

    name: str
    kind: str
    fields: Mapping[str, Any]
    config: Mapping[str, Any] | None = None  # HwqConfig.to_dict() of a config point (beta0 resolved)

    def cfg(self) -> HwqConfig:
        if self.config is None:
            raise HwqError(f"point {self.name} is a baseline, not a config")
        return make_config(self.config)


@dataclass(frozen=True)
class Invalid:
    """A combination the config refused, with its message."""

    fields: Mapping[str, Any]
    error: str


@dataclass(frozen=True)
class Space:
    search: str
    samples: int
    seed: int
    stages: tuple[str, ...]
    baselines: tuple[str, ...]
    settings: Mapping[str, Any]
    common: Mapping[str, tuple[Any, ...]]
    grids: tuple[Mapping[str, tuple[Any, ...]], ...]
    population: int = 8
    source: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def combos(self) -> list[dict[str, Any]]:
        """Every field combination of the grids (each crossed with ``[fields]``), duplicates removed."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for g in self.grids or ({},):
            merged = {**self.common, **g}
            names = sorted(merged)
            for vals in itertools.product(*(merged[n] for n in names)):
                combo = dict(zip(names, vals))
                key = repr(sorted(combo.items()))
                if key not in seen:
                    seen.add(key)
                    out.append(combo)
        return out

    def size(self) -> int:
        total = 0
        for g in self.grids or ({},):
            merged = {**self.common, **g}
            total += math.prod(len(v) for v in merged.values())
        return total

    def points(self) -> tuple[list[Point], list[Invalid]]:
        """The config points to evaluate (grid: all; random: ``samples`` of them, seeded) and the invalid
        combinations with the config's message. nsga2 proposes its points itself (:mod:`hwq.explore.search`);
        here it gives none."""
        if self.search == "nsga2":
            return [], []
        if self.search == "grid" and self.size() > MAX_GRID:
            raise HwqError(f"the grid has {self.size()} combinations (> {MAX_GRID}): use search = \"random\" "
                           "or \"nsga2\" with samples = N")
        combos = self.combos()
        if self.search == "random" and self.samples < len(combos):
            combos = random.Random(self.seed).sample(combos, self.samples)
        return build_points(combos)


def build_points(combos: list[dict[str, Any]]) -> tuple[list[Point], list[Invalid]]:
    """Configs of ``combos`` through :func:`make_config`: valid points (one per distinct config) and the
    refused combinations."""
    pts: dict[str, Point] = {}
    bad: list[Invalid] = []
    for combo in combos:
        try:
            cfg = make_config(combo)
        except HwqError as e:
            bad.append(Invalid(fields=combo, error=str(e)))
            continue
        pts.setdefault(cfg.slug, Point(name=cfg.slug, kind="config", fields=combo, config=cfg.to_dict()))
    return list(pts.values()), bad


# ------------------------------------------------------------------------------------------------------
# reading
def _values(name: str, v: Any, where: str) -> tuple[Any, ...]:
    """A field's values: a scalar, a list, or a range table {from, to, step}."""
    if isinstance(v, list):
        if not v:
            raise HwqError(f"{where}: field {name!r} has an empty list of values")
        return tuple(v)
    if isinstance(v, dict):
        extra = set(v) - {"from", "to", "step"}
        if extra or not {"from", "to"} <= set(v):
            raise HwqError(f"{where}: field {name!r}: a range is {{from = A, to = B, step = S}} (step "
                           f"optional), got keys {', '.join(sorted(v))}")
        lo, hi, step = v["from"], v["to"], v.get("step", 1)
        nums = (lo, hi, step)
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in nums)
        if not numbers or step <= 0 or hi < lo:
            raise HwqError(f"{where}: field {name!r}: range needs numbers with from <= to and step > 0, got "
                           f"from = {lo!r}, to = {hi!r}, step = {step!r}")
        if all(isinstance(x, int) for x in nums):
            return tuple(range(lo, hi + 1, step))
        n = int(math.floor((hi - lo) / step + 1e-9)) + 1
        return tuple(round(lo + i * step, 12) for i in range(n))
    return (v,)


def _fields(table: Any, where: str) -> dict[str, tuple[Any, ...]]:
    if not isinstance(table, dict):
        raise HwqError(f"{where} must be a table of config fields")
    known = config_fields()
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise HwqError(f"{where}: {', '.join(map(repr, unknown))} is not an HwqConfig field; fields: "
                       f"{', '.join(known)}")
    return {k: _values(k, v, where) for k, v in table.items()}


def _names(data: Mapping[str, Any], key: str, noun: str, allowed: list[str], source: str) -> list[str]:
    """The list of names under ``key`` (default: all of ``allowed``), each one of ``allowed``."""
    names = data.get(key, allowed)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise HwqError(f"{source}: {key} must be a list of {noun} names ({', '.join(allowed)})")
    bad = [n for n in names if n not in allowed]
    if bad:
        raise HwqError(f"{source}: unknown {noun}(s) {', '.join(map(repr, bad))}; {key}: "
                       f"{', '.join(allowed)}")
    return names


def parse_space(data: Mapping[str, Any], source: str = "space") -> Space:
    """A :class:`Space` from the parsed TOML ``data``; every problem is one :class:`HwqError` line naming
    ``source``."""
    from hwq.explore.baselines import BASELINES
    from hwq.explore.stages import STAGES

    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise HwqError(f"{source}: unknown key(s) {', '.join(unknown)}; a space has "
                       f"{', '.join(sorted(_TOP_KEYS))}")
    search = data.get("search", "grid")
    if search not in SEARCHES:
        raise HwqError(f"{source}: search = {search!r}; allowed: {', '.join(SEARCHES)}")
    ints = {}
    for k, dflt in (("samples", 0), ("seed", 0), ("population", 8)):
        v = data.get(k, dflt)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise HwqError(f"{source}: {k} = {v!r} must be an integer >= 0")
        ints[k] = v
    if search != "grid" and ints["samples"] < 1:
        raise HwqError(f"{source}: search = {search!r} needs samples = N (N >= 1 points to evaluate)")
    stages = _names(data, "stages", "stage", list(STAGES), source)
    for s in stages:
        for need in STAGES[s].needs:
            if need not in stages:
                raise HwqError(f"{source}: stage {s!r} needs stage {need!r}: add it to stages")
    bl = _names(data, "baselines", "baseline", list(BASELINES), source)
    from hwq.explore.stages import check_settings

    settings = check_settings(data.get("settings", {}), source)
    common = _fields(data.get("fields", {}), f"{source} [fields]")
    grids_raw = data.get("grid", [])
    if not isinstance(grids_raw, list):
        raise HwqError(f"{source}: grid must be an array of tables ([[grid]])")
    grids = tuple(_fields(g, f"{source} [[grid]] #{i + 1}") for i, g in enumerate(grids_raw))
    if not grids and not common:
        raise HwqError(f"{source}: no config fields: give [fields] and/or [[grid]] tables")
    return Space(search=search, samples=ints["samples"], seed=ints["seed"], stages=tuple(stages),
                 baselines=tuple(bl), settings=settings, common=common, grids=grids,
                 population=max(ints["population"], 2), source=source, raw=dict(data))


def load_space(path: str | Path | None = None) -> Space:
    """Read a space file (``None``: the built-in default space)."""
    if path is None:
        text = resources.files("hwq").joinpath("data", DEFAULT_SPACE).read_text()
        source = f"built-in space {DEFAULT_SPACE}"
    else:
        p = Path(path)
        if p.is_dir():
            raise HwqError(f"--space {p} is a folder, not a file: give a TOML space file")
        if not p.is_file():
            raise HwqError(f"--space {p} does not exist (see hwq/data/{DEFAULT_SPACE} for an example)")
        if p.suffix != ".toml":
            raise HwqError(f"--space {p} must be a .toml file")
        try:
            text = p.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise HwqError(f"--space {p} is not UTF-8 text (byte offset {e.start}): save it as UTF-8") \
                from None
        source = str(p)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise HwqError(f"{source} is not valid TOML: {e}") from None
    return parse_space(data, source)


def builtin_space_text(name: str) -> str:
    return resources.files("hwq").joinpath("data", name).read_text()
