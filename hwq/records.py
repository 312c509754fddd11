"""Typed result records: one frozen dataclass per kind of result hwq writes to disk.

Every result file is a JSON *envelope*::

    {"kind": "<kind>", "schema": <int>, "stamp": {...}, ...the record's own fields}

``stamp`` (:class:`Stamp`) says what produced the result: hwq version, config slug and hash, tool versions,
date (ISO-8601 UTC) and machine. It is built in one place, :meth:`Stamp.now`. ``schema`` is the version of
the record's field list; a reader refuses a file of another schema or an unknown kind with one line naming
the file and the command that regenerates it, and never guesses a key: every field is declared here with
its type, a missing or unknown field is an error.

:data:`KINDS` maps each kind (``synth``, ``sim``, ``kernel-bench``, ``kernel-check``, ``encode-bench``,
``eval-paper``, ``eval-rd``, ``eval-watersic``, ``eval-model``, ``roofline``, ``flow``, ``explore-stage``,
``explore-front``) to its class; each
class names the command that writes it (``COMMAND``). :class:`RooflinePoint`, :class:`SynthRun` and
:class:`FlowStage` are typed rows inside records.

Rows that vary by experiment (a table of a sweep, a tool's cell counts) are kept as mappings inside a
typed field; the fields a reader acts on (pass/fail, Fmax, the measured points of a roofline validation)
are typed. ``from_legacy`` reads the pre-record JSON of the kinds whose files are still committed in that
form, so that their owners can convert them by regenerating or by a one-off conversion keeping the figures.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hwq.errors import HwqError

__all__ = [
    "KINDS",
    "AsicRun",
    "EncodeBench",
    "EvalModel",
    "EvalPaper",
    "EvalRd",
    "EvalWatersic",
    "ExploreFront",
    "ExploreStage",
    "Flow",
    "FlowStage",
    "KernelBench",
    "KernelCheck",
    "Record",
    "Roofline",
    "RooflinePoint",
    "SeedRow",
    "Sim",
    "SimMatrix",
    "Stamp",
    "Synth",
    "SynthAsic",
    "SynthRun",
    "SynthSeeds",
    "from_dict",
    "iso_date",
    "load",
    "load_any",
    "machine",
    "save",
]

R = TypeVar("R", bound="Record")
NOT_RECORDED = "not recorded"


# ------------------------------------------------------------------------------------------------------
# the stamp
def iso_date(when: datetime.datetime | None = None) -> str:
    """ISO-8601 UTC to the second, e.g. ``2026-12-02T05:10:48Z``."""
    when = when or datetime.datetime.now(datetime.UTC)
    return when.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def machine() -> str:
    """This machine in a few words: CPU model and core count (the one description every stamp uses)."""
    from hwq.perf.devices import host_name

    return host_name()


def _base_tools() -> dict[str, str]:
    import numpy

    return {"python": platform.python_version(), "numpy": numpy.__version__}


@dataclass(frozen=True)
class Stamp:
    """What produced a result. ``slug``/``config_hash`` are empty when a record covers several configs
    (its rows then name theirs); ``tools`` maps each tool that shaped the result to its version."""

    hwq_version: str
    slug: str
    config_hash: str
    tools: Mapping[str, str]
    date: str
    machine: str

    @classmethod
    def now(cls, cfg: Any = None, tools: Mapping[str, str] | None = None) -> Stamp:
        """The stamp of a result produced now, on this machine, from ``cfg`` (an :class:`HwqConfig` or None).

        ``tools`` adds to (or overrides) the versions always recorded: Python and numpy.
        """
        from hwq import __version__

        return cls(hwq_version=__version__, slug=cfg.slug if cfg is not None else "",
                   config_hash=cfg.hash if cfg is not None else "", tools={**_base_tools(), **(tools or {})},
                   date=iso_date(), machine=machine())

    def line(self) -> str:
        """One human line: ``config X, hwq V, DATE, MACHINE``."""
        cfg = f"config `{self.slug}`, " if self.slug else ""
        return f"{cfg}hwq {self.hwq_version}, {self.date}, {self.machine}"


# ------------------------------------------------------------------------------------------------------
# rows: typed parts of records (not records themselves: no envelope of their own)
@dataclass(frozen=True)
class RooflinePoint:
    """One measured point a roofline validation reads: a kernel's time on a K x M weight with ``batch``
    activation columns, or simulated RTL cycles. ``family``: ``hwq`` (the lattice kernel of config
    ``slug``), ``fp16``, ``fp32``, ``int8``, ``int4``, ``int2`` (dense or block-quantized peers), ``read``
    (a read-bandwidth loop over the weight bytes, no arithmetic) or ``rtl`` (cycles).

    ``threads`` is the thread count of a CPU kernel, ``nbytes`` the weight bytes it read, ``cpu_time_s`` the
    calling thread's CPU time (one thread only), ``cold`` whether the weights were out of the cache."""

    device: str
    kernel: str
    family: str
    k: int
    m: int
    batch: int
    time_s: float | None = None
    cycles: int | None = None
    slug: str = ""
    threads: int = 1
    nbytes: int | None = None
    cpu_time_s: float | None = None
    cold: bool = True

    FAMILIES: ClassVar[tuple[str, ...]] = ("hwq", "fp16", "fp32", "int8", "int4", "int2", "read", "rtl")

    def __post_init__(self) -> None:
        if self.family not in self.FAMILIES:
            raise HwqError(f"roofline point family {self.family!r} is not one of {', '.join(self.FAMILIES)}")
        if (self.time_s is None) == (self.cycles is None):
            raise HwqError("a roofline point records exactly one of time_s (a kernel) or cycles (RTL)")


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


@dataclass(frozen=True)
class FlowStage:
    """One stage of ``hwq flow``: ``status`` is ``ok``, ``failed`` or ``skipped``."""

    stage: str
    status: str
    seconds: float
    result: Mapping[str, Any] | None = None
    error: str | None = None
    traceback: str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("ok", "failed", "skipped"):
            raise HwqError(f"flow stage status {self.status!r} is not ok, failed or skipped")


# ------------------------------------------------------------------------------------------------------
# records
@dataclass(frozen=True)
class Record:
    """Base of every record: ``KIND`` and ``SCHEMA`` identify the field list, ``COMMAND`` regenerates it,
    ``ROWS`` names the field holding the record's table (for the report page; empty: no table)."""

    KIND: ClassVar[str] = ""
    SCHEMA: ClassVar[int] = 1
    COMMAND: ClassVar[str] = ""
    ROWS: ClassVar[str] = "rows"

    stamp: Stamp

    def to_dict(self) -> dict[str, Any]:
        """The on-disk envelope: kind, schema, stamp, then the fields in declaration order."""
        body = {f.name: _encode(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "stamp"}
        return {"kind": self.KIND, "schema": self.SCHEMA, "stamp": _encode(self.stamp), **body}

    def save(self, path: str | Path) -> Path:
        return save(self, path)

    def table(self) -> list[Mapping[str, Any]]:
        """The record's table as plain mappings (empty when it has none)."""
        if not self.ROWS:
            return []
        return [_encode(r) for r in getattr(self, self.ROWS)]

    def slugs(self) -> list[str]:
        """The config(s) the result is about: the stamp's, else those its rows name."""
        if self.stamp.slug:
            return [self.stamp.slug]
        return list(dict.fromkeys(str(r["slug"]) for r in self.table() if r.get("slug") not in (None, "", "-")))


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


@dataclass(frozen=True)
class KernelBench(Record):
    """A kernel benchmark (``backend`` ``c`` or ``cuda``): measured points plus the full table.

    ``points`` are the typed measurements readers act on (one per timed row, its minimum time); ``rows``
    the benchmark's own table; ``checks`` the output checks run before timing (``ok``: all passed);
    ``quick`` marks a short run (cache-resident shapes); ``read_bandwidth_gbps`` the run's read bandwidth
    per thread count (C backend; keys are thread counts as strings); ``detail`` the settings, load and
    notes of the run; ``calibration`` the host roofs measured inside the run's own rounds, one row per case
    and kernel (k, m, batch, threads, kernel and :meth:`hwq.perf.host_roofs.KernelRoof.to_dict`'s fields)."""

    KIND: ClassVar[str] = "kernel-bench"
    COMMAND: ClassVar[str] = "hwq bench c   (CUDA: python -m hwq.codegen.gpu_bench on an NVIDIA GPU)"

    backend: str
    device: str
    ok: bool
    points: tuple[RooflinePoint, ...]
    rows: tuple[Mapping[str, Any], ...]
    detail: Mapping[str, Any] = field(default_factory=dict)
    quick: bool = False
    checks: tuple[Mapping[str, Any], ...] = ()
    read_bandwidth_gbps: Mapping[str, float] = field(default_factory=dict)
    calibration: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_legacy(cls, data: Any) -> KernelBench:
        """The dict ``hwq bench c`` wrote before records (its own ``stamp``, ``rows``, ``checks``, settings
        and load at the top level), converted by :func:`hwq.codegen.bench.bench_record`: figures unchanged,
        the BLAS library by file name."""
        need = {"stamp", "rows", "checks", "read_bandwidth_gbps"}
        if not isinstance(data, dict) or not need <= set(data) or "points" in data:
            raise HwqError("not a pre-record C benchmark report (expected stamp, rows, checks and "
                           "read_bandwidth_gbps, no points)")
        from hwq.codegen.bench import bench_record

        st = data["stamp"]
        try:
            stamp = Stamp(hwq_version=st["hwq_version"], slug=st["slug"], config_hash=st["config_hash"],
                          tools=dict(st["tools"]), date=iso_date(datetime.datetime.fromisoformat(st["date"])),
                          machine=st["machine"])
        except (KeyError, TypeError, ValueError) as e:
            raise HwqError(f"not a pre-record C benchmark report (stamp: {e})") from None
        return bench_record({k: v for k, v in data.items() if k not in ("kind", "schema", "stamp")}, stamp)


@dataclass(frozen=True)
class KernelCheck(Record):
    """The exact check of compiled kernels against the reference model: one entry per case."""

    KIND: ClassVar[str] = "kernel-check"
    COMMAND: ClassVar[str] = "hwq codegen --target c --check"
    ROWS: ClassVar[str] = "cases"

    backend: str
    ok: bool
    cases: tuple[Mapping[str, Any], ...]
    detail: Mapping[str, Any] = field(default_factory=dict)

    def failures(self) -> list[str]:
        """One line per failed case: its name, or its fields (kernel, ISA, batch...) when it has none."""
        return [str(c["name"]) if "name" in c else ", ".join(f"{k} {v}" for k, v in c.items() if k != "ok")
                for c in self.cases if not c.get("ok", False)]

    @classmethod
    def from_legacy(cls, data: Any, backend: str = "c") -> KernelCheck:
        """The dict :func:`hwq.codegen.check.check_c` returns (``ok``, ``cases``, ``slug``...)."""
        if not isinstance(data, dict) or not isinstance(data.get("ok"), bool) or "cases" not in data:
            raise HwqError("not a kernel check result (expected 'ok' and 'cases')")
        rest = {k: v for k, v in data.items() if k not in ("ok", "cases", "slug")}
        return cls(stamp=_legacy_stamp(None, slug=str(data.get("slug", ""))), backend=backend, ok=data["ok"],
                   cases=tuple(data["cases"]), detail=rest)


@dataclass(frozen=True)
class EncodeBench(Record):
    """Encode/decode throughput of the reference model, numpy fp32 matmul of the same matrix for scale."""

    KIND: ClassVar[str] = "encode-bench"
    COMMAND: ClassVar[str] = "hwq bench encode"

    n: int
    cols: int
    input_MB: float
    threads: int
    numpy_matmul_fp32_s: float
    numpy_matmul_GFLOPs: float
    rows: tuple[Mapping[str, Any], ...]
    limits: str


@dataclass(frozen=True)
class EvalPaper(Record):
    """The paper's table: product distortion of each scheme at the target rate, with the checks."""

    KIND: ClassVar[str] = "eval-paper"
    COMMAND: ClassVar[str] = "hwq eval paper"

    n: int
    cols: int
    seed: int
    target_rate: float
    rows: tuple[Mapping[str, Any], ...]
    checks: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EvalRd(Record):
    """The rate-distortion sweep of every method on iid Gaussian matrices."""

    KIND: ClassVar[str] = "eval-rd"
    COMMAND: ClassVar[str] = "hwq eval rd"

    n: int
    cols: int
    seed: int
    seconds: float
    rows: tuple[Mapping[str, Any], ...]
    skipped: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EvalWatersic(Record):
    """WaterSIC (and its peers) against the Gaussian waterfilling bound."""

    KIND: ClassVar[str] = "eval-watersic"
    COMMAND: ClassVar[str] = "hwq eval rd"

    seed: int
    rows: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class EvalModel(Record):
    """A real model's linear layers quantized with each method; ``verdict`` is the printed conclusion."""

    KIND: ClassVar[str] = "eval-model"
    COMMAND: ClassVar[str] = "hwq eval model minilm"

    model: str
    meta: Mapping[str, Any]
    rows: tuple[Mapping[str, Any], ...]
    layers: Mapping[str, Any]
    kashin: Mapping[str, Any]
    verdict: tuple[str, ...]


@dataclass(frozen=True)
class Roofline(Record):
    """A roofline study: one device, model and workload; validation against measured points. ``host``: the
    host study of ``--device host`` (its roofs calibrated on the spot, the per-kernel predictions), else
    None; ``files``: the study's files by name (in the folder of the record)."""

    KIND: ClassVar[str] = "roofline"
    COMMAND: ClassVar[str] = "hwq roofline --device DEV --model MODEL --config FILE"
    ROWS: ClassVar[str] = "layers"

    config: Mapping[str, Any]
    device: Mapping[str, Any]
    model: Mapping[str, Any]
    workload: Mapping[str, Any]
    mode: str
    summary: Mapping[str, Any]
    layers: tuple[Mapping[str, Any], ...]
    speedup_vs_batch: tuple[Mapping[str, Any], ...]
    rtl: Mapping[str, Any] | None
    validation: Mapping[str, Any]
    files: tuple[str, ...] = ()
    host: Mapping[str, Any] | None = None

    @classmethod
    def from_legacy(cls, data: Any) -> Roofline:
        """The ``{"kind": "hwq-roofline", "stamp": {slug, hwq_version, date, machine}, ...}`` document."""
        if not isinstance(data, dict) or data.get("kind") != "hwq-roofline":
            raise HwqError("not a legacy roofline document (kind 'hwq-roofline')")
        st = data["stamp"]
        stamp = _legacy_stamp(data["config"], slug=st["slug"], hwq_version=st["hwq_version"], date=st["date"],
                              machine=st["machine"])
        names = [f.name for f in dataclasses.fields(cls) if f.name != "stamp"]
        body = {k: data[k] for k in names if k in data}
        body["files"] = [Path(str(p)).name for p in data.get("files", ())]
        return _decode({"stamp": _encode(stamp), **body}, cls, "legacy roofline document")


@dataclass(frozen=True)
class Flow(Record):
    """``hwq flow``: the stages run on one config; paths are relative to the flow's work folder."""

    KIND: ClassVar[str] = "flow"
    COMMAND: ClassVar[str] = "hwq flow --config FILE"
    ROWS: ClassVar[str] = "stages"

    config: Mapping[str, Any]
    seconds: float
    stages: tuple[FlowStage, ...]

    def failed(self) -> FlowStage | None:
        return next((s for s in self.stages if s.status == "failed"), None)


@dataclass(frozen=True)
class ExploreStage(Record):
    """One stage of ``hwq explore`` on one point (a config or a baseline): the content-addressed unit of its
    store. ``status``: ``ok``, ``n/a`` (the point cannot have this stage; ``reason`` says why) or ``failed``
    (``reason`` holds the error line). ``key`` is the store address (point identity + stage + stage version +
    tool versions + settings); ``values`` the stage's figures (named in :mod:`hwq.explore.stages`)."""

    KIND: ClassVar[str] = "explore-stage"
    COMMAND: ClassVar[str] = "hwq explore --space FILE --out DIR"
    ROWS: ClassVar[str] = ""

    point: str
    stage: str
    version: int
    key: str
    status: str
    seconds: float
    node: str
    values: Mapping[str, Any]
    config: Mapping[str, Any] | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("ok", "n/a", "failed"):
            raise HwqError(f"explore stage status {self.status!r} is not ok, n/a or failed")


@dataclass(frozen=True)
class ExploreFront(Record):
    """``hwq explore``: every point's objectives, the Pareto fronts, the pruned points, the measured stage
    times and the cost projection of the full space, and what the front recommends."""

    KIND: ClassVar[str] = "explore-front"
    COMMAND: ClassVar[str] = "hwq explore --space FILE --out DIR"
    ROWS: ClassVar[str] = "points"

    space: Mapping[str, Any]
    points: tuple[Mapping[str, Any], ...]
    invalid: tuple[Mapping[str, Any], ...]
    fronts: Mapping[str, Any]
    stage_seconds: Mapping[str, Any]
    projection: Mapping[str, Any]
    recommendation: tuple[str, ...]
    seconds: float
    nodes: tuple[str, ...]
    counts: Mapping[str, Any]


KINDS: dict[str, type[Record]] = {c.KIND: c for c in (
    Synth, SynthAsic, SynthSeeds, Sim, SimMatrix, KernelBench, KernelCheck, EncodeBench, EvalPaper, EvalRd,
    EvalWatersic, EvalModel, Roofline, Flow, ExploreStage, ExploreFront)}


# ------------------------------------------------------------------------------------------------------
# reading and writing
def save(record: Record, path: str | Path) -> Path:
    """Write ``record`` as its JSON envelope (one field a line block, newline at the end)."""
    if type(record) not in KINDS.values():
        raise HwqError(f"{type(record).__name__} is not a record kind ({', '.join(KINDS)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record.to_dict(), indent=1) + "\n")
    return path


def from_dict(data: Any, where: str = "record", expect: type[R] | None = None) -> Record:
    """The record held by an envelope dict; ``expect`` restricts the kind. Errors name ``where``."""
    if not isinstance(data, dict) or "kind" not in data or "schema" not in data:
        raise HwqError(f"{where}: not an hwq record (no kind/schema envelope); regenerate it with the command "
                       "that wrote it")
    kind = data["kind"]
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise HwqError(f"{where}: unknown record kind {kind!r}; this hwq reads {', '.join(KINDS)}")
    if expect is not None and cls is not expect:
        raise HwqError(f"{where}: a record of kind {kind!r} where kind {expect.KIND!r} was expected")
    if data["schema"] != cls.SCHEMA:
        raise HwqError(f"{where}: {kind} record schema {data['schema']!r}, this hwq reads schema {cls.SCHEMA}; "
                       f"regenerate it with `{cls.COMMAND}`")
    body = {k: v for k, v in data.items() if k not in ("kind", "schema")}
    return _decode(body, cls, where)


def load(path: str | Path, cls: type[R]) -> R:
    """Read a record of kind ``cls`` from ``path``; anything else raises one :class:`HwqError` line."""
    return from_dict(_read(path), str(path), cls)  # type: ignore[return-value]


def load_any(path: str | Path) -> Record:
    """Read a record of any known kind from ``path``."""
    return from_dict(_read(path), str(path))


def _read(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HwqError(f"{path}: no such record file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HwqError(f"{path}: unreadable record ({e})") from None


# ------------------------------------------------------------------------------------------------------
# typed encode/decode: JSON values <-> the declared field types
def _encode(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _encode(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Mapping):
        return {str(k): _encode(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_encode(x) for x in v]
    if isinstance(v, Path):
        return v.as_posix()
    return v


_SCALARS = {str: "a string", bool: "true/false", int: "an integer", float: "a number"}


def _decode(v: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return v
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if v is None and type(None) in args:
            return None
        return _decode(v, next(a for a in args if a is not type(None)), where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, dict):
            raise HwqError(f"{where}: expected an object ({tp.__name__}), got {type(v).__name__}")
        hints = typing.get_type_hints(tp)
        flds = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(v) - set(flds))
        if unknown:
            raise HwqError(f"{where}: unknown field(s) {', '.join(unknown)} in {tp.__name__}")
        missing = [n for n, f in flds.items() if n not in v and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise HwqError(f"{where}: {tp.__name__} lacks field(s) {', '.join(missing)}")
        return tp(**{n: _decode(x, hints[n], f"{where}: {n}") for n, x in v.items()})
    if origin is tuple:
        if not isinstance(v, list):
            raise HwqError(f"{where}: expected a list, got {type(v).__name__}")
        (item, *_) = typing.get_args(tp)
        return tuple(_decode(x, item, where) for x in v)
    if origin is Mapping or tp is Mapping:
        if not isinstance(v, dict):
            raise HwqError(f"{where}: expected an object, got {type(v).__name__}")
        return v
    if tp in _SCALARS:
        ok = isinstance(v, tp) and not (tp is not bool and isinstance(v, bool))
        if tp is float and isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        if not ok:
            raise HwqError(f"{where}: expected {_SCALARS[tp]}, got {json.dumps(v)[:60]}")
        return v
    raise HwqError(f"{where}: no decoder for {tp!r}")  # a programming error in this module


# ------------------------------------------------------------------------------------------------------
# legacy stamps (one-off conversion of pre-record JSON)
def _legacy_stamp(config: Any, *, slug: str = "", tools: Mapping[str, str] | None = None,
                  hwq_version: str = NOT_RECORDED, date: str = NOT_RECORDED, machine: str = NOT_RECORDED) -> Stamp:
    """A stamp for a legacy file: what it recorded, ``not recorded`` for the rest (never today's values)."""
    chash = ""
    if isinstance(config, dict):
        from hwq.config import HwqConfig

        chash = HwqConfig.from_dict(config).hash
    return Stamp(hwq_version=hwq_version, slug=slug, config_hash=chash, tools=dict(tools or {}),
                 date=legacy_date(date), machine=machine)


def legacy_date(text: str) -> str:
    """``2026-11-22 11:56 UTC`` (the pre-record format) as ISO-8601; other text is kept as is."""
    try:
        return iso_date(datetime.datetime.strptime(text, "%Y-%m-%d %H:%M UTC").replace(
            tzinfo=datetime.UTC))
    except (TypeError, ValueError):
        return text
