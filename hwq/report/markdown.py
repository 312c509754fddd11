"""The one Markdown-table helper of hwq's reports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["md_table"]


def md_table(head: Sequence[str], rows: Sequence[Sequence[Any]], *, spaced: bool = False) -> list[str]:
    """Lines of a Markdown table: the header, the separator (``|---|`` or, ``spaced``, ``| --- |``) and one
    line per row (cells through ``str``)."""
    sep = "| " + " | ".join("---" for _ in head) + " |" if spaced else "|" + "---|" * len(head)
    return ["| " + " | ".join(head) + " |", sep] + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
