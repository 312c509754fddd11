"""Records of the kernels: benchmarks, exact checks, encode throughput, and the roofline studies that
read their measured points."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hwq.errors import HwqError
from hwq.records.envelope import Record, Stamp, _decode, _encode, _legacy_stamp, iso_date
from hwq.records.points import RooflinePoint


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
