"""``hwq rtl --config FILE --out DIR``: Verilog, manifest.json and files.txt for a config."""

from __future__ import annotations

import argparse

from hwq.config import load_config

HELP = "generate Verilog (one file per RTL unit), a manifest and a file list for a config"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="config file (TOML/JSON); default: built-in HwqConfig()")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--target", default="ecp5", choices=["ecp5", "ice40", "xilinx"],
                   help="target whose BRAM budget is checked (default ecp5)")
    p.add_argument("--only", nargs="*", default=None,
                   help="units to emit (top mac lut had enc dec int4 luttop top_axi luttop_axi)")


def run(args: argparse.Namespace) -> int:
    from hwq.outputs import check_out_dir
    from hwq.rtl.build import generate

    cfg = load_config(args.config)
    check_out_dir(args.out)
    man = generate(cfg, args.out, target=args.target, only=args.only)
    for name, u in man["units"].items():
        print(f"{u['file']:<40} {name:<5} latency {u['latency']:>3}  II {u['ii']}")
    for n in man["notes"]:
        print(f"note: {n}")
    axi = [n for n in man["units"] if n.endswith("_axi")]
    if axi:
        from pathlib import Path

        from hwq.rtl.axi_layout import write_layout_doc

        doc = write_layout_doc(cfg, Path(args.out), axi)
        print(f"AXI4-Stream beat layouts of {', '.join(axi)}: {doc} (and manifest.json)")
    return 0
