"""``hwq report``: build reports/index.html (self-contained) and reports/README.md from reports/."""

from __future__ import annotations

import argparse

HELP = ("build reports/index.html (self-contained, offline) and reports/README.md from everything under "
        "reports/")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reports", default="reports",
                   help="reports folder to scan and write into (default reports)")
    p.add_argument("--html", default=None, help="HTML output path (default REPORTS/index.html)")
    p.add_argument("--md", default=None, help="Markdown output path (default REPORTS/README.md)")


def run(args: argparse.Namespace) -> int:
    from hwq.outputs import check_out_dir, check_out_file
    from hwq.report import build_report, collect

    check_out_dir(args.reports, "--reports")
    for flag, f in (("--html", args.html), ("--md", args.md)):
        if f is not None:
            check_out_file(f, flag)
    html_path, md_path = build_report(args.reports, html_path=args.html, md_path=args.md)
    for s in collect(args.reports):
        print(f"{s.title:<32} {f'{len(s.items)} report(s)' if s.ran else 'not run yet: ' + s.command}")
    print(f"wrote {html_path} ({html_path.stat().st_size / 1024:.0f} KiB) and {md_path}")
    return 0
