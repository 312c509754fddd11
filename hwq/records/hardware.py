"""Records of the hardware: FPGA and ASIC synthesis runs, placement-seed studies, simulations."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hwq.errors import HwqError
from hwq.records.envelope import Record, Stamp, _legacy_stamp
from hwq.records.points import RooflinePoint


# ------------------------------------------------------------------------------------------------------
# rows: typed parts of records (not records themselves: no envelope of their own)
@dataclass(frozen=True)
class SynthRun:
    """One synthesis + place-and-route run of one unit: the figures readers use, the rest in ``detail``."""

    slug: str
    module: str
    target: str
    device: str
    luts: int
    ffs: int
    brams: int
    dsps: int
    fmax_mhz: float | None
    target_mhz: float
    latency: int | None
    seed: int
    detail: Mapping[str, Any] = field(default_factory=dict)
    cache_key: Mapping[str, Any] | None = None
    unit: str = ""  # the hwq.rtl.build unit ("mac", "had"...); every run hwq synth writes names it
    lanes: int | None = None

    CORE: ClassVar[tuple[str, ...]] = ("slug", "module", "unit", "lanes", "target", "device", "luts", "ffs",
                                       "brams", "dsps", "fmax_mhz", "target_mhz", "latency", "seed")

    @classmethod
    def from_report(cls, rep: Mapping[str, Any]) -> SynthRun:
        """The run of the flat report dict :mod:`hwq.rtl.synth` builds (its other keys go to ``detail``)."""
        try:
            core = {k: rep[k] for k in cls.CORE}
        except KeyError as e:
            raise HwqError(f"synthesis report of {rep.get('module')!r} lacks {e}") from None
        rest = {k: v for k, v in rep.items() if k not in core and k != "cache_key"}
        return cls(**core, detail=rest, cache_key=rep.get("cache_key"))


@dataclass(frozen=True)
class AsicRun:
    """One standard-cell synthesis (Yosys + Liberty) and OpenSTA timing of one unit: the figures readers use,
    the rest (cells, paths, fanouts, constraints, library) in ``detail``."""

    slug: str
    module: str
    unit: str
    lanes: int
    latency: int | None
    library: str
    area_um2: float
    ffs: int
    cell_count: int
    buffers: int
    worst_path_ns: float
    fmax_mhz: float
    detail: Mapping[str, Any] = field(default_factory=dict)
    cache_key: Mapping[str, Any] | None = None

    CORE: ClassVar[tuple[str, ...]] = ("slug", "module", "unit", "lanes", "latency", "area_um2", "ffs",
                                       "cell_count", "buffers", "worst_path_ns", "fmax_mhz")

    @classmethod
    def from_report(cls, rep: Mapping[str, Any]) -> AsicRun:
        """The run of the flat report dict :mod:`hwq.rtl.asic` builds (its other keys go to ``detail``)."""
        try:
            core = {k: rep[k] for k in cls.CORE}
            library = str(rep["liberty"]["name"])
        except (KeyError, TypeError) as e:
            raise HwqError(f"ASIC report of {rep.get('module')!r} lacks {e}") from None
        rest = {k: v for k, v in rep.items() if k not in core and k != "cache_key"}
        return cls(**core, library=library, detail=rest, cache_key=rep.get("cache_key"))


@dataclass(frozen=True)
class SeedRow:
    """Fmax of one RTL version of a unit under several nextpnr placement seeds (``fmax_mhz_by_seed``: seed
    -> MHz)."""

    rtl: str
    luts: int
    ffs: int
    latency: int
    fmax_mhz_by_seed: Mapping[str, float]



# ------------------------------------------------------------------------------------------------------
# records
@dataclass(frozen=True)
class Synth(Record):
    """Synthesis results (one run, a sweep or a seed study) of one target."""

    KIND: ClassVar[str] = "synth"
    COMMAND: ClassVar[str] = "hwq synth --config FILE --target ecp5"
    ROWS: ClassVar[str] = "runs"

    target: str
    runs: tuple[SynthRun, ...]

    @classmethod
    def from_legacy(cls, data: Any) -> Synth:
        """The list of per-run dicts ``hwq synth`` wrote before records (tool string in each run)."""
        runs = data if isinstance(data, list) else [data]
        if not runs or not all(isinstance(r, dict) and "module" in r for r in runs):
            raise HwqError("not a legacy synthesis report (expected a list of runs with 'module')")
        typed = [SynthRun.from_report({k: v for k, v in r.items() if k != "tools"}) for r in runs]
        tools = {"yosys+nextpnr": str(runs[0]["tools"])} if "tools" in runs[0] else {}
        slugs = {r.slug for r in typed}
        stamp = _legacy_stamp(None, tools=tools, slug=slugs.pop() if len(slugs) == 1 else "")
        return cls(stamp=stamp, target=typed[0].target, runs=tuple(typed))


@dataclass(frozen=True)
class SynthAsic(Record):
    """ASIC synthesis results (one run or a sweep) against one standard-cell library."""

    KIND: ClassVar[str] = "synth-asic"
    COMMAND: ClassVar[str] = "hwq synth --config FILE --target asic"
    ROWS: ClassVar[str] = "runs"

    library: str
    runs: tuple[AsicRun, ...]


@dataclass(frozen=True)
class SynthSeeds(Record):
    """A placement-seed study of one unit on one FPGA target (the spread of nextpnr's Fmax)."""

    KIND: ClassVar[str] = "synth-seeds"
    COMMAND: ClassVar[str] = "hwq synth --config FILE --target ecp5 --seed N   (one run per seed)"

    target: str
    unit: str
    rows: tuple[SeedRow, ...]


@dataclass(frozen=True)
class Sim(Record):
    """A simulation run: cocotb tests and the bulk Verilator run of one config."""

    KIND: ClassVar[str] = "sim"
    COMMAND: ClassVar[str] = "hwq sim --config FILE --bulk 10000"
    ROWS: ClassVar[str] = ""

    seed: int
    passed: bool
    strict_cycles: bool
    seconds: float
    summary: Mapping[str, Any]
    cocotb: Mapping[str, Any]
    bulk: Mapping[str, Any] | None
    points: tuple[RooflinePoint, ...] = ()
    simulator: str = "verilator"

    def failures(self) -> list[str]:
        """What failed, one line each: cocotb units and tests, then the bulk run (empty when all passed)."""
        out = []
        for unit, res in self.cocotb.items():
            if res.get("passed") is False:
                bad = [t for t in res.get("tests", []) if t.get("passed") is False]
                out += [f"{unit} test {t['name']!r}: {t.get('message')}" for t in bad]
                if not bad:
                    out.append(f"{unit}: {res.get('error') or 'failed'}")
        if self.bulk is not None and not self.bulk.get("bit_exact", True):
            out.append(f"bulk run: not bit-exact ({self.summary.get('bulk_mismatches')} mismatches)")
        return out

    @classmethod
    def from_legacy(cls, data: Any, stamp: Stamp | None = None) -> Sim:
        """The dict ``run_sim`` returns (and ``hwq sim`` wrote before records), stamped ``stamp`` (default:
        what the legacy file recorded); the bulk run's cycle-model check (cycles of one K x M transaction, as
        measured) becomes the record's RTL point."""
        try:
            bulk = data.get("bulk")
            cm = (bulk or {}).get("cycle_model") or {}
            pts = (RooflinePoint(device="rtl", kernel=str(bulk.get("unit", "top")), family="rtl", k=cm["K"],
                                 m=cm["M"], batch=1, cycles=cm["measured_min"], slug=data["slug"]),) \
                if {"K", "M", "measured_min"} <= set(cm) else ()
            stamp = stamp or _legacy_stamp(data.get("config"), slug=data["slug"])
            return cls(stamp=stamp, seed=data["seed"],
                       passed=data["passed"], strict_cycles=data.get("strict_cycles", False),
                       seconds=data.get("seconds", 0.0), summary=data.get("summary", {}),
                       cocotb=data.get("cocotb", {}), bulk=bulk, points=pts,
                       simulator=data.get("simulator", "verilator"))
        except (KeyError, AttributeError, TypeError) as e:
            raise HwqError(f"not a legacy simulation report (missing {e})") from None


@dataclass(frozen=True)
class SimMatrix(Record):
    """``hwq sim --all``: the summary of each config of the matrix (its own ``sim`` record is next to it)."""

    KIND: ClassVar[str] = "sim-matrix"
    COMMAND: ClassVar[str] = "hwq sim --all --out reports/sim/matrix"

    seconds: float
    rows: tuple[Mapping[str, Any], ...]

    def failed(self) -> list[str]:
        """Slugs of the configs that did not pass."""
        return [str(r["slug"]) for r in self.rows if not r["passed"]]
