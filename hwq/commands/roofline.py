"""``hwq roofline``: predicted time, speedup over fp16 and the bound of a config on a device and model."""

from __future__ import annotations

import argparse

HELP = "roofline model: predicted speedup over fp16 of a config on a device/model, with charts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="h100", help="device key or alias from the catalog (default h100; "
                   "'host' measures this machine); --list shows them")
    p.add_argument("--model", default="llama3-8b", help="model key (default llama3-8b)")
    p.add_argument("--config", default=None, help="hwq config file (TOML/JSON); default: built-in config")
    p.add_argument("--workload", default="decode",
                   help="decode, decode-b16, prefill or one from --model-file")
    p.add_argument("--batch", type=int, default=None, help="override the workload's batch")
    p.add_argument("--mode", default="weight-only", choices=("weight-only", "both"),
                   help="weight-only (int8/fp16 activations) or both-quantized (LUT) kernel")
    p.add_argument("--compute-dtype", default=None, help="peak compute to use (fp16, int8, fp32, ...)")
    p.add_argument("--device-file", default=None, help="extra/overriding device catalog (TOML)")
    p.add_argument("--model-file", default=None, help="extra/overriding model catalog (TOML)")
    p.add_argument("--out", default="reports/roofline", help="output folder (default reports/roofline)")
    p.add_argument("--reports", default="reports",
                   help="reports root with bench/, sim/, synth/ (default reports)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG/SVG charts")
    p.add_argument("--list", action="store_true", help="list devices, models and workloads and exit")


def run(args: argparse.Namespace) -> int:
    from hwq.config import load_config
    from hwq.perf.devices import load_devices
    from hwq.perf.models import load_models, load_workloads
    from hwq.outputs import check_out_dir
    from hwq.perf.study import run_roofline
    from hwq.perf.study_format import format_summary, format_table

    if args.list:
        for d in load_devices(args.device_file).values():
            bw = f"{d.bandwidth / 1e9:8.1f} GB/s" if d.bandwidth else "measured at run time"
            print(f"device   {d.key:<14} {bw}  {d.name}")
        for m in load_models(args.model_file).values():
            print(f"model    {m.key:<14} {m.params / 1e9:6.2f} G linear weights  {m.name}")
        for w in load_workloads(args.model_file).values():
            print(f"workload {w.key:<14} {w.phase} batch {w.batch} seq {w.seq_len}")
        return 0
    cfg = load_config(args.config)
    check_out_dir(args.out)
    doc = run_roofline(cfg, args.device, args.model, args.workload, batch=args.batch, out_dir=args.out,
                       reports_dir=args.reports, device_file=args.device_file, model_file=args.model_file,
                       dtype=args.compute_dtype, mode=args.mode, plots=not args.no_plot)
    print(format_table(doc))
    print()
    print(format_summary(doc))
    print()
    for f in doc["files"]:
        print(f"wrote {f}")
    return 0
