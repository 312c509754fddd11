"""Pack and unpack stream payloads from the RTL manifest's field lists.

A payload layout is a list of fields ``[name, offset, width, count, signed]`` (the format of
``manifest.json``: ``units.<unit>.ports.<port>.fields``); an array field of ``count`` elements puts
element j at bits ``[offset + j*width, offset + (j+1)*width)``, signed fields are two's complement.

Two views of the same packing are provided: :func:`pack` / :func:`unpack` on one payload (Python ints,
used by the cocotb drivers and monitors), and :func:`pack_words` / :func:`unpack_words` on many payloads
at once (numpy, ``uint32`` words little-endian, used for the bulk harness's golden-vector files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from hwq.errors import HwqError

__all__ = ["Field", "Layout", "pack", "unpack", "pack_words", "unpack_words", "words_per_payload"]


@dataclass(frozen=True)
class Field:
    """One payload field (see module docstring)."""

    name: str
    offset: int
    width: int
    count: int
    signed: bool


class Layout:
    """A payload layout: ordered fields and the total width in bits.

    Parameters
    ----------
    fields : iterable of sequences ``(name, offset, width, count, signed)`` or :class:`Field`
    width : int, optional
        Total payload width; defaults to the end of the last field.
    """

    def __init__(self, fields: Iterable[Sequence[Any] | Field], width: int | None = None) -> None:
        fs = [f if isinstance(f, Field) else Field(str(f[0]), int(f[1]), int(f[2]), int(f[3]), bool(f[4]))
              for f in fields]
        if not fs:
            raise HwqError("a payload layout needs at least one field")
        self.fields = {f.name: f for f in fs}
        end = max(f.offset + f.width * f.count for f in fs)
        self.width = end if width is None else int(width)
        if self.width < end:
            raise HwqError(f"payload width {self.width} is smaller than its fields ({end} bits)")

    def __getitem__(self, name: str) -> Field:
        try:
            return self.fields[name]
        except KeyError:
            raise HwqError(f"payload has no field {name!r}; fields: {', '.join(self.fields)}") from None

    def fields_list(self) -> list[list]:
        """The manifest form ``[[name, offset, width, count, signed], ...]``."""
        return [[f.name, f.offset, f.width, f.count, f.signed] for f in self.fields.values()]

    @property
    def words(self) -> int:
        return words_per_payload(self.width)

    def __repr__(self) -> str:
        return f"Layout({list(self.fields.values())!r}, width={self.width})"


def words_per_payload(width: int) -> int:
    """32-bit words holding one payload of ``width`` bits."""
    return max(1, (int(width) + 31) // 32)


def _to_field(v: int, f: Field) -> int:
    lo, hi = (-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed else (0, (1 << f.width) - 1)
    if not lo <= v <= hi:
        raise HwqError(f"value {v} does not fit field {f.name!r} ({'s' if f.signed else 'u'}{f.width})")
    return v & ((1 << f.width) - 1)


def pack(layout: Layout, values: Mapping[str, Any]) -> int:
    """Pack a dict of field values (ints or sequences for arrays) into one integer; missing fields are 0."""
    unknown = set(values) - set(layout.fields)
    if unknown:
        raise HwqError(f"unknown payload field(s) {sorted(unknown)}; fields: {', '.join(layout.fields)}")
    word = 0
    for name, f in layout.fields.items():
        v = values.get(name, [0] * f.count if f.count > 1 else 0)
        elems = [int(x) for x in np.ravel(v)] if f.count > 1 or np.ndim(v) else [int(v)]
        if len(elems) != f.count:
            raise HwqError(f"field {name!r} takes {f.count} value(s), got {len(elems)}")
        for j, e in enumerate(elems):
            word |= _to_field(e, f) << (f.offset + j * f.width)
    return word


def unpack(layout: Layout, word: int) -> dict[str, Any]:
    """Inverse of :func:`pack`: arrays come back as lists of ints, scalars as ints."""
    out: dict[str, Any] = {}
    for name, f in layout.fields.items():
        elems = []
        for j in range(f.count):
            v = (word >> (f.offset + j * f.width)) & ((1 << f.width) - 1)
            if f.signed and v >> (f.width - 1):
                v -= 1 << f.width
            elems.append(v)
        out[name] = elems if f.count > 1 else elems[0]
    return out


def pack_words(layout: Layout, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Pack ``n`` payloads into a ``uint32`` array of shape (n, layout.words).

    ``values[name]`` has shape (n,) for scalar fields or (n, count) for arrays; missing fields are 0.
    Values are range-checked like :func:`pack`.
    """
    nw = layout.words
    out = np.zeros((n, nw), dtype=np.uint64)
    for name, f in layout.fields.items():
        if name not in values:
            continue
        v = np.asarray(values[name], dtype=np.int64).reshape(n, f.count)
        lo, hi = (-(1 << (f.width - 1)), (1 << (f.width - 1)) - 1) if f.signed else (0, (1 << f.width) - 1)
        if v.size and (v.min() < lo or v.max() > hi):
            raise HwqError(f"values [{v.min()}, {v.max()}] do not fit field {name!r} "
                           f"({'s' if f.signed else 'u'}{f.width})")
        u = v.astype(np.uint64) & np.uint64((1 << f.width) - 1)
        for j in range(f.count):
            pos = f.offset + j * f.width
            done = 0
            while done < f.width:  # a field element may straddle 32-bit words
                w, b = divmod(pos + done, 32)
                take = min(32 - b, f.width - done)
                part = (u[:, j] >> np.uint64(done)) & np.uint64((1 << take) - 1)
                out[:, w] |= part << np.uint64(b)
                done += take
    return out.astype(np.uint32)


def unpack_words(layout: Layout, words: np.ndarray, name: str) -> np.ndarray:
    """One field of many payloads: (n, count) int64 from a (n, layout.words) uint32 array."""
    f = layout[name]
    words = np.asarray(words, dtype=np.uint64)
    n = words.shape[0]
    out = np.zeros((n, f.count), dtype=np.uint64)
    for j in range(f.count):
        pos = f.offset + j * f.width
        done = 0
        while done < f.width:
            w, b = divmod(pos + done, 32)
            take = min(32 - b, f.width - done)
            part = (words[:, w] >> np.uint64(b)) & np.uint64((1 << take) - 1)
            out[:, j] |= part << np.uint64(done)
            done += take
    res = out.astype(np.int64)
    if f.signed and f.width < 64:
        res = np.where(res >= (1 << (f.width - 1)), res - (1 << f.width), res)
    return res
