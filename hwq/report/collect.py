"""Collection for ``hwq report``: the sections of ``reports/`` in order, each report's files grouped by stem,
its JSON read as a typed record (:mod:`hwq.records`) and its stamp for the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hwq.errors import HwqError
from hwq.records import NOT_RECORDED, Record, load_any

__all__ = ["IMAGE_SUFFIXES", "SECTIONS", "Item", "Section", "collect", "stamp_of"]

#: (folder, title, command that produces it)
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("paper", "Paper table", "hwq eval paper"),
    ("rd", "Rate-distortion", "hwq eval rd"),
    ("synth", "Synthesis", "hwq synth --config FILE --target ecp5   (or: hwq synth --sweep)"),
    ("sim", "Simulation", "hwq sim --config FILE --bulk 10000"),
    ("bench", "Benchmarks", "hwq bench c   (CUDA: the GPU benchmark script on an H100/H200-class machine)"),
    ("roofline", "Roofline", "hwq roofline --device h100 --model llama3-8b --config FILE"),
    ("flow", "End-to-end flow", "hwq flow --config FILE   (its reports go to build/flow/SLUG/reports/)"),
    ("explore", "Co-design explorer: Pareto fronts", "hwq explore --out reports/explore"),
)
_SKIP_DIRS = {"cache", "build"}
IMAGE_SUFFIXES = (".png", ".svg")


@dataclass
class Item:
    """One report inside a section: the files sharing a stem (``x.md``, ``x.json``, ``x*.png``)."""

    stem: str
    md: Path | None = None
    json: Path | None = None
    images: list[Path] = field(default_factory=list)
    record: Record | None = None
    problem: str = ""  # why the JSON is not a current record

    @property
    def stamp(self) -> dict[str, str]:
        return stamp_of(self.record) if self.record is not None else {}


@dataclass
class Section:
    folder: str
    title: str
    command: str
    items: list[Item] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return bool(self.items)


def stamp_of(rec: Record) -> dict[str, str]:
    """Config slug(s), hwq version, date and machine of a record (for the page and the index)."""
    slugs = rec.slugs()
    more = f" (+{len(slugs) - 6} more)" if len(slugs) > 6 else ""
    st = rec.stamp
    return {"slug": ", ".join(slugs[:6]) + more if slugs else NOT_RECORDED,
            "hwq_version": st.hwq_version, "date": st.date, "machine": st.machine}


def collect(reports_dir: str | Path = "reports") -> list[Section]:
    """Scan ``reports_dir``: the known sections in order, then any other folder with reports in it."""
    root = Path(reports_dir)
    known = [Section(f, t, c) for f, t, c in SECTIONS]
    names = {s.folder for s in known}
    extra = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in names | _SKIP_DIRS) \
        if root.is_dir() else []
    sections = known + [Section(n, n.replace("_", " ").capitalize(), "(written by another hwq command)")
                        for n in extra]
    for sec in sections:
        folder = root / sec.folder
        if not folder.is_dir():
            continue
        items: dict[str, Item] = {}
        files = sorted(p for p in folder.iterdir() if p.is_file())
        stems = {p.stem for p in files if p.suffix in (".md", ".json")}
        for p in files:
            if p.suffix in (".md", ".json"):
                it = items.setdefault(p.stem, Item(p.stem))
                setattr(it, p.suffix[1:], p)
            elif p.suffix in IMAGE_SUFFIXES:
                owner = max((s for s in stems if p.stem.startswith(s)), key=len, default=p.stem)
                it = items.setdefault(owner, Item(owner))
                if p.suffix == ".png" or not any(i.stem == p.stem for i in it.images):
                    it.images = [i for i in it.images if i.stem != p.stem] + [p]
        for it in items.values():
            if it.json is not None:
                try:
                    it.record = load_any(it.json)
                except HwqError as e:
                    it.problem = str(e).removeprefix(f"{it.json}: ")
        sec.items = [items[k] for k in sorted(items)]
    return [s for s in sections if s.ran or s.folder in names]


