"""The record envelope: the stamp, the :class:`Record` base and reading/writing a record's JSON.

Every result file is a JSON *envelope*::

    {"kind": "<kind>", "schema": <int>, "stamp": {...}, ...the record's own fields}

``stamp`` (:class:`Stamp`) says what produced the result: hwq version, config slug and hash, tool versions,
date (ISO-8601 UTC) and machine. It is built in one place, :meth:`Stamp.now`. ``schema`` is the version of
the record's field list; :func:`from_dict` refuses a file of another schema or an unknown kind with one line
naming the file and the command that regenerates it, and never guesses a key: every field is declared with
its type (:func:`_decode` checks it), a missing or unknown field is an error.

The kinds themselves live in the sibling modules (:mod:`hwq.records.hardware`, :mod:`~hwq.records.kernels`,
:mod:`~hwq.records.evals`, :mod:`~hwq.records.flow`); :data:`KINDS` is filled with them, in one place, by
the package (:mod:`hwq.records`).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hwq.errors import HwqError

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
        named = (r["slug"] for r in self.table() if r.get("slug") not in (None, "", "-"))
        return list(dict.fromkeys(str(s) for s in named))



#: kind -> record class; filled by :mod:`hwq.records` (its ``__init__``) with every kind, in one place
KINDS: dict[str, type[Record]] = {}


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
        raise HwqError(f"{where}: not an hwq record (no kind/schema envelope); regenerate it with the "
                       "command that wrote it")
    kind = data["kind"]
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise HwqError(f"{where}: unknown record kind {kind!r}; this hwq reads {', '.join(KINDS)}")
    if expect is not None and cls is not expect:
        raise HwqError(f"{where}: a record of kind {kind!r} where kind {expect.KIND!r} was expected")
    if data["schema"] != cls.SCHEMA:
        raise HwqError(f"{where}: {kind} record schema {data['schema']!r}, this hwq reads schema "
                       f"{cls.SCHEMA}; regenerate it with `{cls.COMMAND}`")
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
                  hwq_version: str = NOT_RECORDED, date: str = NOT_RECORDED,
                  machine: str = NOT_RECORDED) -> Stamp:
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
