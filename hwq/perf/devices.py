"""Device catalog of the roofline model: memory bandwidth, peak compute per data type, FPGA resources.

The catalog is data (``hwq/data/devices.toml``), extendable with a user TOML file of the same schema
(``hwq roofline --device-file FILE``). Bandwidths are in GB/s and compute in TOP/s (1e12 ops/s) in the
file; :class:`Device` stores SI units (bytes/s, ops/s).

Two rules keep the numbers honest:

* ``bandwidth_measured`` is set only where a measurement was made (the H100 figures of SPEC section 7, or
  the short copy benchmark of the ``host`` entry, run by :func:`measure_host`); otherwise it is ``None``
  and the roofline uses the datasheet value, saying so.
* FPGA resources come from the catalog (datasheet) and, for the achieved clock and the used cells, from
  the synthesis reports under ``reports/synth/`` when they exist (:func:`synth_reports`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
import tomllib
from dataclasses import dataclass, field, fields, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from hwq.errors import HwqError
from hwq.records import RooflinePoint

__all__ = ["Device", "load_devices", "get_device", "measure_host", "host_name", "synth_reports",
           "match_device", "Measurement", "load_measurements"]

_KINDS = ("gpu", "cpu", "soc", "fpga")


@dataclass(frozen=True)
class Device:
    """One machine of the roofline model.

    Attributes
    ----------
    key : str
        Catalog name (``h100-sxm``).
    name : str
        Human-readable name.
    kind : {"gpu", "cpu", "soc", "fpga"}
    bandwidth : float
        Datasheet memory bandwidth, bytes/s.
    bandwidth_measured : float or None
        Measured bandwidth, bytes/s, only where a measurement was made.
    peak : dict
        Peak compute per data type (``fp16``, ``int8``, ...), ops/s (a MAC counts as 2 ops).
    clock_hz : float or None
        Fabric clock assumed for FPGA designs when no synthesis report gives the achieved Fmax.
    resources : dict
        FPGA resources (LUTs, DSPs, BRAM) from the datasheet.
    match : tuple of str
        Substrings of recorded device names (benchmark JSON) that map to this entry.
    source, note : str
        Where the numbers come from.
    """

    key: str
    name: str
    kind: str
    bandwidth: float
    bandwidth_measured: float | None = None
    peak: dict[str, float] = field(default_factory=dict)
    clock_hz: float | None = None
    resources: dict[str, int] = field(default_factory=dict)
    match: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    source: str = ""
    note: str = ""
    measured: tuple[Measurement, ...] = ()

    @property
    def bw(self) -> float:
        """Bandwidth the model uses: measured where known, else the datasheet."""
        return self.bandwidth_measured if self.bandwidth_measured else self.bandwidth

    @property
    def bw_label(self) -> str:
        return "measured" if self.bandwidth_measured else "datasheet"

    def peak_for(self, dtype: str) -> float:
        """Peak ops/s for a data type; HwqError naming the ones the device has."""
        if dtype not in self.peak:
            have = ", ".join(sorted(self.peak)) or "none"
            raise HwqError(f"device {self.key!r} has no peak compute for dtype {dtype!r} (it has: {have}); "
                           f"pass --compute-dtype with one of those or add it to a --device-file")
        return self.peak[dtype]

    def default_dtype(self) -> str:
        """fp16 where the device has it (GPU dequantize -> fp16 MMA), else fp32, else the first listed."""
        for d in ("fp16", "fp32", "int8"):
            if d in self.peak:
                return d
        if not self.peak:
            raise HwqError(f"device {self.key!r} lists no peak compute; add peak_tops to its catalog entry")
        return next(iter(self.peak))

    def ridge(self, dtype: str) -> float:
        """Ridge point (ops/byte) where the bandwidth roof meets the compute roof."""
        return self.peak_for(dtype) / self.bw


def _num(entry: dict[str, Any], key: str, where: str, required: bool = False) -> float | None:
    v = entry.get(key)
    if v is None:
        if required:
            raise HwqError(f"{where}: missing field {key!r} (a number in the units of the catalog header)")
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
        raise HwqError(f"{where}: field {key!r} = {v!r} must be a positive number")
    return float(v)


#: keys a device entry / a ``measured`` point may have (a user device file is checked against them)
DEVICE_KEYS = frozenset({"aliases", "bandwidth_gbs", "bandwidth_measured_gbs", "bandwidth_measured_note",
                         "clock_mhz", "kind", "match", "measure", "measured", "name", "peak_tops",
                         "resources", "source"})
MEASURED_KEYS = frozenset({"batch", "family", "k", "kernel", "m", "source", "time_us"})


def catalog_families() -> tuple[str, ...]:
    """The ``family`` a catalog ``measured`` entry may give: the number formats of
    :attr:`hwq.records.RooflinePoint.FAMILIES` except ``hwq`` (a lattice kernel needs its config, which only a
    benchmark record carries), ``rtl`` and ``read``."""
    return tuple(f for f in RooflinePoint.FAMILIES if f not in ("hwq", "rtl", "read"))


def _check_keys(entry: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise HwqError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: "
                       f"{', '.join(sorted(allowed))}")


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    v = entry.get(key, ())
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        raise HwqError(f"{where}: {key} must be a list of strings, got {v!r}")
    return tuple(v)


def _parse_device(key: str, entry: dict[str, Any], origin: str, strict: bool = True) -> Device | None:
    where = f"device {key!r} in {origin}"
    if not isinstance(entry, dict):
        raise HwqError(f"{where} must be a table, got {type(entry).__name__}")
    if strict:
        _check_keys(entry, DEVICE_KEYS, where)
    measured = entry.get("measured", ())
    if not isinstance(measured, (list, tuple)):
        raise HwqError(f"{where}: measured must be a list of tables (kernel, family, k, m, batch, time_us)")
    if strict:
        for r in measured:
            if isinstance(r, dict):
                _check_keys(r, MEASURED_KEYS, where + " measured entry")
    kind = entry.get("kind", "gpu")
    if kind not in _KINDS:
        raise HwqError(f"{where}: kind = {kind!r}; allowed: {', '.join(_KINDS)}")
    peak_raw = entry.get("peak_tops", {})
    if not isinstance(peak_raw, dict):
        raise HwqError(f"{where}: peak_tops must be a table like {{ fp16 = 989.0 }}")
    peak = {str(k): _num(peak_raw, k, where + " peak_tops") * 1e12 for k in peak_raw}
    measure = bool(entry.get("measure", False))
    bw = _num(entry, "bandwidth_gbs", where, required=not measure)
    bwm = _num(entry, "bandwidth_measured_gbs", where)
    clock = _num(entry, "clock_mhz", where)
    res = entry.get("resources", {})
    if not isinstance(res, dict) or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                                            for v in res.values()):
        raise HwqError(f"{where}: resources must be a table of non-negative integers like {{ luts = 84000 }}")
    return Device(
        key=key, name=str(entry.get("name", key)), kind=kind, bandwidth=(bw or 0.0) * 1e9,
        bandwidth_measured=bwm * 1e9 if bwm else None, peak=peak, clock_hz=clock * 1e6 if clock else None,
        resources={str(k): int(v) for k, v in res.items()}, match=_strings(entry, "match", where),
        aliases=_strings(entry, "aliases", where), source=str(entry.get("source", "")),
        note=str(entry.get("bandwidth_measured_note", "")),
        measured=tuple(_catalog_point(key, r, where) for r in measured),
    )


def _catalog_point(key: str, r: Any, where: str) -> Measurement:
    """A kernel time recorded in the catalog (with its source), as a validation point."""
    if not isinstance(r, dict) or not isinstance(r.get("time_us"), (int, float)) or not r.get("kernel"):
        raise HwqError(f"{where}: each 'measured' entry needs kernel, family, k, m, batch and time_us")
    t = r["time_us"]
    if isinstance(t, bool) or not math.isfinite(t) or t <= 0:
        raise HwqError(f"{where}: measured time_us = {t!r} for kernel {r['kernel']!r} must be a positive, "
                       "finite time in microseconds")
    for f in ("k", "m", "batch"):
        v = r.get(f, 1 if f == "batch" else None)
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise HwqError(f"{where}: measured {f} = {v!r} for kernel {r['kernel']!r} must be a positive "
                           "integer")
    fam = r.get("family")
    if fam not in catalog_families():
        raise HwqError(f"{where}: measured kernel {r['kernel']!r} has family = {fam!r}; give family = one of "
                       f"{', '.join(map(repr, catalog_families()))} (the number format of its weights)")
    return Measurement(file=f"devices catalog ({r.get('source', 'no source given')})", device=key,
                       kernel=str(r["kernel"]), family=fam, k=int(r["k"]), m=int(r["m"]),
                       batch=int(r.get("batch", 1)), time_s=float(r["time_us"]) * 1e-6)


def _read_toml(path: Path | None, text: str | None = None) -> dict[str, Any]:
    try:
        return tomllib.loads(text if text is not None else Path(path).read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as e:
        raise HwqError(f"{path or 'built-in catalog'} is not valid TOML: {e}") from None
    except UnicodeDecodeError as e:
        raise HwqError(f"device file {path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as "
                       "UTF-8") from None
    except OSError as e:
        raise HwqError(f"cannot read device file {path}: {e.strerror}") from None


def load_devices(device_file: str | Path | None = None) -> dict[str, Device]:
    """The built-in catalog, updated with the entries of ``device_file`` (same schema; same key overrides).

    Raises
    ------
    HwqError
        Missing or malformed file, or an entry with a missing/invalid field.
    """
    text = resources.files("hwq").joinpath("data/devices.toml").read_text()
    raw = {k: (v, "hwq/data/devices.toml") for k, v in _read_toml(None, text).items()}
    if device_file is not None:
        p = Path(device_file)
        if not p.is_file():
            raise HwqError(f"device file {p} does not exist (write a TOML table per device, see "
                           f"hwq/data/devices.toml for the schema)")
        raw.update({k: (v, str(p)) for k, v in _read_toml(p).items()})
    # a user's file is checked against the known keys (a misspelling would be silently ignored); the
    # built-in catalog is checked by tests/test_devices_load.py so that a new key never breaks a run
    return {k: _parse_device(k, v, origin, strict=origin != "hwq/data/devices.toml")
            for k, (v, origin) in raw.items()}


def get_device(name: str, device_file: str | Path | None = None, measure: bool = True) -> Device:
    """Look a device up by key or alias; ``host`` is measured on the spot (unless ``measure`` is False).

    Raises
    ------
    HwqError
        Unknown name (the message lists the catalog).
    """
    devices = load_devices(device_file)
    key = name.lower()
    if key not in devices:
        hits = [d.key for d in devices.values() if key in (a.lower() for a in d.aliases)]
        if len(hits) != 1:
            raise HwqError(f"unknown device {name!r}; known: {', '.join(sorted(devices))} "
                           f"(or add one with --device-file)")
        key = hits[0]
    dev = devices[key]
    if key == "host" and measure:
        read, copy, flops = measure_host()
        dev = replace(dev, name=f"{host_name()} (measured)", bandwidth=read, bandwidth_measured=read,
                      peak={"fp32": flops, **{k: v for k, v in dev.peak.items() if k != "fp32"}},
                      note=f"measured now: streaming read (fp32 GEMV) {read / 1e9:.1f} GB/s, copy (read + "
                           f"write) {copy / 1e9:.1f} GB/s, fp32 matmul {flops / 1e9:.0f} GFLOP/s")
    return dev


def host_name() -> str:
    """A short description of this machine: CPU model and core count."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


@cache
def measure_host(mbytes: int = 128, repeats: int = 5) -> tuple[float, float, float]:
    """Measure this machine: streaming-read and copy bandwidth (bytes/s) and fp32 matmul rate (FLOP/s).

    A short benchmark (about a second): best of ``repeats`` of

    * read: a float32 GEMV (numpy/BLAS ``A @ x``) over a ``mbytes`` MiB matrix -- the access pattern of the
      weight-streaming kernels the roofline models (bytes = the matrix);
    * copy: ``np.copyto`` of a ``mbytes`` MiB array (bytes = read + write);
    * compute: float32 1024 x 1024 x 1024 products (best of 5).

    Cached per process. Returns (read, copy, flops).
    """
    n = mbytes * (1 << 20) // 4
    a = np.ones(n, dtype=np.float32)
    b = np.empty_like(a)
    np.copyto(b, a)  # touch pages

    def best(fn, reps: int) -> float:
        t = float("inf")
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            t = min(t, time.perf_counter() - t0)
        return t

    copy = 2 * a.nbytes / best(lambda: np.copyto(b, a), repeats)
    mat = a.reshape(-1, 4096)
    vec = np.ones(4096, dtype=np.float32)
    mat @ vec
    read = mat.nbytes / best(lambda: mat @ vec, repeats)
    m = 1024
    x = np.ones((m, m), dtype=np.float32)
    x @ x
    return read, copy, 2.0 * m ** 3 / best(lambda: x @ x, 5)


def match_device(recorded: str, devices: dict[str, Device]) -> Device | None:
    """The catalog entry whose ``match`` substrings occur in a recorded device name (or None)."""
    low = recorded.lower()
    for dev in devices.values():
        if low == dev.key or any(m.lower() in low for m in dev.match):
            return dev
    return None


def synth_reports(reports_dir: str | Path = "reports", target: str | None = None,
                  folders: tuple[str, ...] = ("synth", "synth/cache")) -> list[dict[str, Any]]:
    """FPGA synthesis runs from the :class:`hwq.records.Synth` records ``hwq synth`` writes
    (``reports/synth/*.json`` and its cache folder), one flat dict per run: ``file``, ``slug``, ``module``,
    ``unit``, ``target``, ``lanes``, ``fmax_mhz``, ``luts``, ``ffs``, ``dsps``, ``brams`` (``unit`` and
    ``lanes`` only where the run records them).

    Records of other kinds (ASIC runs, seed studies) are passed over. A published file (``reports/synth``)
    that is not a current record raises one :class:`HwqError` line; a cache entry that is not (an older
    hwq's) is passed over: ``hwq synth`` rebuilds it.
    """
    from hwq.records import Synth, from_dict

    out: list[dict[str, Any]] = []
    for sub in folders:
        for f in sorted((Path(reports_dir) / sub).glob("*.json")):
            try:
                data = json.loads(f.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                if sub.endswith("cache"):
                    continue
                raise HwqError(f"{f}: unreadable synthesis report ({e}); regenerate it with "
                               f"`{Synth.COMMAND}`") from None
            kind = data.get("kind") if isinstance(data, dict) else None
            if isinstance(kind, str) and kind != Synth.KIND and kind.startswith("synth-"):
                continue  # another kind of synthesis result (ASIC, seed study)
            try:
                rec = from_dict(data, str(f), Synth)
            except HwqError as e:
                if sub.endswith("cache"):
                    continue
                if Synth.COMMAND in str(e):
                    raise
                raise HwqError(f"{e}: `{Synth.COMMAND}`") from None
            for run in rec.runs:
                if target is not None and run.target.lower() != target:
                    continue
                flat = {"file": str(f), "slug": run.slug, "module": run.module, "unit": run.unit,
                        "target": run.target, "lanes": run.lanes, "fmax_mhz": run.fmax_mhz, "luts": run.luts,
                        "ffs": run.ffs, "dsps": run.dsps, "brams": run.brams}
                out.append({k: v for k, v in flat.items() if v not in ("", None) or k == "fmax_mhz"})
    return out


def _records(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    if isinstance(data, dict):
        for key in ("results", "rows", "records", "runs", "designs"):
            if isinstance(data.get(key), list):
                top = {k: v for k, v in data.items() if not isinstance(v, (list, dict))}
                return [{**top, **r} for r in data[key] if isinstance(r, dict)]
        return [data]
    return []


# ------------------------------------------------------------------------------------------------------
# measured results written by other parts of hwq (benchmarks, simulation)
@dataclass(frozen=True)
class Measurement(RooflinePoint):
    """A measured point and where it was read: every field of :class:`hwq.records.RooflinePoint` (declared
    there, once: the point a benchmark or simulation record carries), plus ``file``, the record it came
    from relative to the reports folder (``bench/x.json``) or the catalog entry (``devices catalog
    (SOURCE)``), which each validation row cites."""

    file: str = ""

    @classmethod
    def of(cls, point: RooflinePoint, file: str) -> Measurement:
        """``point`` (read from a record) as read from ``file``."""
        return cls(**{f.name: getattr(point, f.name) for f in fields(RooflinePoint)}, file=file)


def load_measurements(reports_dir: str | Path = "reports") -> tuple[list[Measurement], list[str]]:
    """The measured points (:class:`Measurement`: a record's point and its file) of the records under
    ``reports/bench`` and ``reports/sim``: kernel benchmarks (``kernel-bench``) and simulations (``sim``).
    ``file`` names each point's record relative to ``reports_dir`` (``bench/x.json``).

    A simulation JSON from before the records (no kind/schema envelope) is read by
    :meth:`hwq.records.Sim.from_legacy` until it is regenerated.

    Returns
    -------
    (points, skipped)
        ``skipped`` names the files that hold no measured points (records of other kinds, runs without a
        point).

    Raises
    ------
    HwqError
        A file there is not a record of a kind and schema this hwq reads (one line naming it).
    """
    from hwq import records

    points: list[Measurement] = []
    skipped: list[str] = []
    root = Path(reports_dir)
    for sub in ("bench", "sim"):
        folder = root / sub
        for f in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            name = f"{sub}/{f.name}"
            try:
                data = json.loads(f.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                raise HwqError(f"{f}: unreadable record ({e})") from None
            if sub == "sim" and isinstance(data, dict) and "kind" not in data and "schema" not in data:
                rec: records.Record = records.Sim.from_legacy(data)
            else:
                rec = records.from_dict(data, str(f))
            if not isinstance(rec, (records.KernelBench, records.Sim)):
                skipped.append(f"{name}: record of kind {rec.KIND}, no measured points")
                continue
            if not rec.points:
                skipped.append(f"{name}: no measured points")
            points += [Measurement.of(p, name) for p in rec.points]
    return points, skipped
