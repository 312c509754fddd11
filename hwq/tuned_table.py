"""The committed table of tuned beta0 values (``hwq/data/tuned_beta0.json``).

:class:`hwq.config.HwqConfig` resolves ``beta0 = None / "auto"`` here, by a dictionary lookup: the
constructor never runs the Monte Carlo search of :mod:`hwq.tuning` (which is not even imported). Every value
is exactly what :func:`hwq.tuning.tuned_beta0` returns for its key; ``python -m hwq.tuning --write-table``
regenerates the file (:func:`hwq.tuning.write_tuned_table`), ``tests/test_tuned_table.py`` checks it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from hwq.errors import HwqError

__all__ = ["TABLE_PATH", "TABLE_VERSION", "lookup", "table"]

TABLE_PATH = Path(__file__).parent / "data" / "tuned_beta0.json"
TABLE_VERSION = 1

Key = tuple[str, int, bool, int, float]


def key(lattice: str, q: int, dither: bool, ladder_len: int, ladder_step: float) -> Key:
    """The table key of a combination (ladder_step as a float: 2**0.5 and 2**(1/2) are the same key)."""
    return (str(lattice), int(q), bool(dither), int(ladder_len), float(ladder_step))


@cache
def table(path: Path = TABLE_PATH) -> dict[Key, float]:
    """``{(lattice, q, dither, ladder_len, ladder_step): beta0}`` read once per process."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise HwqError(f"the tuned beta0 table {path} cannot be read ({e}); reinstall hwq or regenerate it "
                       "with `python -m hwq.tuning --write-table`") from None
    if doc.get("table") != "tuned_beta0" or doc.get("version") != TABLE_VERSION:
        raise HwqError(f"{path} is not a version-{TABLE_VERSION} tuned beta0 table; regenerate it with "
                       "`python -m hwq.tuning --write-table`")
    return {key(*row[:5]): float(row[5]) for row in doc["rows"]}


def lookup(lattice: str, q: int, dither: bool, ladder_len: int, ladder_step: float) -> float | None:
    """The tabulated beta0, or None when the combination is not in the table."""
    return table().get(key(lattice, q, dither, ladder_len, ladder_step))
