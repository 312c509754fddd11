"""``hwq synth --target asic [--liberty FILE] [--unit U | --sweep]``: standard-cell area and OpenSTA timing
(:mod:`hwq.rtl.asic`) as JSON and Markdown under ``reports/synth/``, next to the INT4 baseline and the ECP5
ranking. Dispatched from :mod:`hwq.commands.synth` (the leading underscore keeps it out of the CLI's
subcommand discovery)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from hwq.config import HwqConfig, load_config
from hwq.errors import HwqError
from hwq.progress import Progress
from hwq.records import AsicRun, Stamp, SynthAsic

__all__ = ["add_asic_arguments", "asic_jobs", "ranking", "run_asic", "table"]


def add_asic_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--liberty", default=None,
                   help="--target asic: Liberty (.lib) file of the standard cells (default: OSU 0.18 um from "
                        "Debian qflow-tech-osu018)")
    p.add_argument("--no-buffer", action="store_true",
                   help="--target asic: skip ABC's buffering and gate sizing (to see what fanout costs)")


def asic_jobs(base: HwqConfig, lanes: list[int]) -> list[tuple[HwqConfig, str]]:
    """(config, unit) pairs of ``--target asic --sweep``: the ECP5 sweep's units plus the Hadamard unit."""
    from .synth import sweep_jobs

    return sweep_jobs(base, lanes) + [(base.replace(lattice="D3", q=6), "had")]


def _per_weight(cfg: HwqConfig, unit: str, r: AsicRun) -> float | None:
    return r.area_um2 / (cfg.dim * r.lanes) if unit in ("mac", "int4", "lut") else None


def table(rows: list[tuple[HwqConfig, str, AsicRun]]) -> list[str]:
    """Markdown table of ASIC reports; MAC rows compared with the INT4 row of the same lanes (area per lane
    and
    per weight/cycle)."""
    from .synth import bits_per_weight

    int4 = {r.lanes: _per_weight(c, u, r) for c, u, r in rows if u == "int4"}
    lines = [("| unit | lattice | q | decoder | lanes | d | bits/weight | area um^2 | area/lane um^2 | "
             "um^2 per weight/cycle | x INT4 (per weight) | cells | FFs | buffers | worst path ns | Fmax MHz "
             "| latency |"), "|" + " --- |" * 17]
    for cfg, unit, r in rows:
        lanes = r.lanes if unit in ("mac", "int4", "lut", "top", "luttop") else 1
        per_w = _per_weight(cfg, unit, r)
        base = int4.get(r.lanes)
        ratio = f"{per_w / base:.2f}" if base and per_w is not None else "n/a"
        q = unit != "int4"
        lines.append(f"| {unit} | {cfg.lattice if q else 'INT4'} | {cfg.q if q else '-'} | "
                     f"{cfg.decoder_kind if q else '-'} | {lanes} | {cfg.dim} | "
                     f"{bits_per_weight(cfg, unit):.2f} | "
                     f"{r.area_um2:.0f} | {r.area_um2 / lanes:.0f} | "
                     f"{f'{per_w:.0f}' if per_w is not None else '-'} | {ratio} | {r.cell_count} | {r.ffs} | "
                     f"{r.buffers} | {r.worst_path_ns:.2f} | {r.fmax_mhz:.1f} | {r.latency} |")
    return lines


def _ecp5_reports(folder: Path) -> dict[str, dict]:
    """ECP5 runs by module name from the synthesis records in ``folder`` (``sweep_ecp5.json``,
    ``<module>_ecp5.json``): the first record naming a module wins."""
    from hwq.perf.devices import synth_reports

    found: dict[str, dict] = {}
    for r in synth_reports(folder, target="ecp5", folders=(".",)):
        found.setdefault(r["module"], r)
    return found


def ranking(rows: list[tuple[HwqConfig, str, AsicRun]], ecp5: dict[str, dict]) -> list[str]:
    """Markdown table ranking the MACs and INT4 by cost per weight/cycle on ASIC and on ECP5 (1 =
    cheapest)."""
    mac = [(c, u, r) for c, u, r in rows if u in ("mac", "int4") and r.module in ecp5]
    if not mac:
        return ["(no ECP5 report of the same units to compare with)"]
    asic = {r.module: _per_weight(c, u, r) for c, u, r in mac}
    fpga = {r.module: ecp5[r.module]["luts"] / (c.dim * r.lanes) for c, u, r in mac}
    rank_a = {m: i + 1 for i, m in enumerate(sorted(asic, key=asic.get))}
    rank_f = {m: i + 1 for i, m in enumerate(sorted(fpga, key=fpga.get))}
    i4 = [r.module for c, u, r in mac if u == "int4"]
    lines = [("| unit | lattice | q | decoder | lanes | ASIC um^2 per weight/cycle | x INT4 | ASIC rank | "
             "ECP5 LUTs per weight/cycle | x INT4 | ECP5 rank | ASIC Fmax MHz | ECP5 Fmax MHz |"),
             "|" + " --- |" * 13]
    for c, u, r in sorted(mac, key=lambda t: rank_a[t[2].module]):
        m = r.module
        xa = f"{asic[m] / asic[i4[0]]:.2f}" if i4 else "n/a"
        xf = f"{fpga[m] / fpga[i4[0]]:.2f}" if i4 else "n/a"
        e = ecp5[m]
        q = u != "int4"
        lines.append(f"| {u} | {c.lattice if q else 'INT4'} | {c.q if q else '-'} | "
                     f"{c.decoder_kind if q else '-'} | {r.lanes} | {asic[m]:.0f} | {xa} | {rank_a[m]} | "
                     f"{fpga[m]:.0f} | {xf} | {rank_f[m]} | {r.fmax_mhz:.1f} | "
                     f"{e['fmax_mhz'] if e.get('fmax_mhz') is not None else 'n/a'} |")
    return lines


_GROUP_NAMES = {"reg_to_reg": "register to register", "input": "input to register", "output": "to output",
                "reset": "from reset"}


def critical_lines(reps: list[AsicRun]) -> list[str]:
    """Per unit: the worst path, its largest steps, the worst path of each group and the highest fanouts."""
    out = []
    for run in reps:
        r = run.detail
        steps = r.get("critical_path") or []
        top = sorted((s for s in steps if s["ns"] > 0), key=lambda s: -s["ns"])[:3]
        worst = ", ".join(f"{s['cell']} {s['ns']:.3f} ns" for s in top)
        groups = "; ".join(f"{_GROUP_NAMES.get(g, g)} {p['arrival_ns']:.2f} ns"
                           for g, p in sorted((r.get("path_groups") or {}).items()))
        fan = ", ".join(f"`{f['net']}` {f['loads']}" for f in r.get("max_fanout") or [])
        out.append(f"* `{run.module}`: {run.worst_path_ns:.2f} ns from `{r['startpoint']}` to "
                   f"`{r['endpoint']}`, {len(steps)} pins deep; largest steps: {worst}. Arrival by group: "
                   f"{groups}. Highest fanout (data loads): {fan}.")
    return out


def start(args: argparse.Namespace) -> tuple[HwqConfig, Path]:
    """The base config and the ``--out`` folder of an ``hwq synth`` run (either target), checked."""
    from hwq.outputs import check_out_dir

    base = load_config(args.config)
    check_out_dir(args.out)
    if args.lanes is not None and any(n < 1 for n in args.lanes):
        raise HwqError(f"--lanes must be positive integers, got {args.lanes}")
    return base, Path(args.out)


def run_jobs(jobs: list[tuple[HwqConfig, str]], title: str, tag: str,
             one: Callable[[HwqConfig, str], Any]) -> tuple[list[tuple[HwqConfig, str, Any]], list[str]]:
    """``one(cfg, unit)`` for every job under a progress bar: the (cfg, unit, report) rows, and the
    ``"unit slug"`` of each job that gave no report (``--cached-only`` without a cached one)."""
    rows: list[tuple[HwqConfig, str, Any]] = []
    missing: list[str] = []
    with Progress(len(jobs), title) as prog:
        for cfg, unit in jobs:
            prog.update(prog.done, f"{tag} {unit} {cfg.slug}")
            rep = one(cfg, unit)
            if rep is None:
                missing.append(f"{unit} {cfg.slug}")
            else:
                rows.append((cfg, unit, rep))
            prog.advance()
    return rows, missing


def not_measured(missing: list[str]) -> list[str]:
    """The table's closing line for the jobs without a report (none when every job has one)."""
    if not missing:
        return []
    return ["", "Not measured (no valid cached report when this table was written): "
            + ", ".join(f"`{x}`" for x in missing) + "."]


def run_asic(args: argparse.Namespace) -> int:
    from hwq.rtl.asic import IO_DELAY_NS, find_tools, liberty_info, synthesize_asic

    base, out = start(args)
    lib = liberty_info(find_tools(args.liberty)["liberty"])
    jobs = asic_jobs(base, args.lanes or [base.lanes]) if args.sweep else [(base, args.unit)]
    period = 1000.0 / args.freq
    out.mkdir(parents=True, exist_ok=True)
    rows, missing = run_jobs(jobs, "synth asic", "asic", lambda cfg, unit: synthesize_asic(
        cfg, unit, liberty=args.liberty, out_dir=out / "cache", period_ns=period, buffer=not args.no_buffer,
        use_cache=not args.no_cache, cache_only=args.cached_only))
    if not rows:
        raise HwqError(f"no cached ASIC report for {', '.join(missing)}: run without --cached-only")
    reps = [r for _, _, r in rows]
    name = "sweep" if args.sweep else reps[0].module
    lib_tag = "" if args.liberty is None else "_" + "".join(ch if ch.isalnum() else "_" for ch in lib["name"])
    suffix = lib_tag + ("_nobuf" if args.no_buffer else "")
    flow = ("ABC buffering and sizing off (`--no-buffer`)" if args.no_buffer
            else "ABC `buffer`/`upsize`/`dnsize` for the target clock")
    lines = [(f"# hwq synthesis: asic ({lib['name']}, corner {lib['corner']}"
             f"{', ' + lib['voltage'] + ' V' if lib['voltage'] else ''}"
             f"{', ' + lib['temperature'] + ' C' if lib['temperature'] else ''})"), "",
             (f"Yosys `synth -flatten`, `dfflibmap`, `abc -liberty`; {flow}; OpenSTA worst setup path with "
             f"an ideal {args.freq:g} MHz clock, {IO_DELAY_NS} ns input/output delays, inputs driven by "
             f"{lib['buffer']}, outputs loaded by four. Generated by `hwq synth --target asic"
             f"{' --sweep' if args.sweep else ''}{' --no-buffer' if args.no_buffer else ''}"
             f"{' --liberty ' + args.liberty if args.liberty else ''}`."), ""] + table(rows)
    lines += ["",
              "Area is the sum of the library's cell areas (no placement utilisation, no wires, no clock "
              "tree);",
              "worst path = clock period - worst slack, Fmax = its inverse, before placement and routing (no "
              "wire",
              "load model: pin capacitance only, ideal clock). Codebook ROMs and tables are logic (no SRAM "
              "macro).",
              "", "Critical paths:", ""] + critical_lines(reps)
    ecp5 = _ecp5_reports(out)
    if len(rows) > 1:
        lines += ["", "## Ranking: ASIC vs ECP5 (cost per weight/cycle, 1 = cheapest)", ""] + ranking(rows,
                                                                                                      ecp5)
    lines += not_measured(missing)
    (out / f"{name}_asic{suffix}.md").write_text("\n".join(lines) + "\n")
    SynthAsic(stamp=Stamp.now(base if not args.sweep else None, reps[0].detail.get("tools", {})),
              library=lib["name"], runs=tuple(reps)).save(out / f"{name}_asic{suffix}.json")
    print("\n".join(lines))
    return 0
