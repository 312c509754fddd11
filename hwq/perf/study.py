"""One roofline study (what ``hwq roofline`` runs): predict a (device, model, workload, config) point,
validate it against the measurements, write the JSON record, the Markdown report and the charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hwq.config import HwqConfig
from hwq.perf.cost import layer_rows, model_summary, pair, speedup_vs_batch
from hwq.perf.fpga import rtl_unit
from hwq.perf.plots import plot_host_validation, plot_roofline, plot_speedup
from hwq.perf.study_format import format_markdown
from hwq.perf.validate import validate
from hwq.records import Roofline, Stamp, from_dict

__all__ = ["BATCHES", "run_roofline"]

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def run_roofline(cfg: HwqConfig, device: str = "h100", model: str = "llama3-8b", workload: str = "decode", *,
                 batch: int | None = None, out_dir: str | Path = "reports/roofline",
                 reports_dir: str | Path = "reports", device_file: str | Path | None = None,
                 model_file: str | Path | None = None, dtype: str | None = None, mode: str = "weight-only",
                 plots: bool = True, synth_extra: list[dict[str, Any]] = (),
                 build_dir: str | Path = "build/codegen_c", log: Any = None,
                 host_kernels: tuple[str, ...] | None = None, host_threads: tuple[int, ...] = (1, 2),
                 ) -> dict[str, Any]:
    """Predict one (device, model, workload, config) point, validate against measurements, write reports.

    Writes ``<device>_<model>_<workload>_<slug>.json`` and ``.md`` under ``out_dir``, and with ``plots``
    the roofline chart and the speedup-vs-batch chart (PNG and SVG each).

    Returns
    -------
    dict
        The :class:`hwq.records.Roofline` record as written (its JSON envelope: ``stamp``, ``device``,
        ``model``, ``workload``, ``summary``, ``layers``, ``rtl``, ``validation``, ``host``, ``files``);
        file names in it are relative (``bench/x.json``, the study's own files by name).
    """
    from hwq.perf.devices import get_device, load_devices, load_measurements, match_device
    from hwq.perf.models import get_model, get_workload

    from hwq.perf.host_study import host_study
    from hwq.perf.host_validate import bench_name, load_kernel_bench

    is_host = device.lower() == "host"
    dev = get_device(device, device_file, measure=not is_host)
    mdl = get_model(model, model_file)
    wl = get_workload(workload, model_file, batch)
    rtl = host_doc = None
    if dev.kind == "fpga":
        rtl = rtl_unit(cfg, dev, reports_dir, synth_extra)
        dev, dtype = rtl.pop("device"), "rtl"
    kbench = load_kernel_bench(reports_dir)  # hwq bench c records: validated by the host model only
    if is_host:
        dev, rows, summary, host_doc = host_study(cfg, dev, mdl, wl, kbench, build_dir, log, host_kernels,
                                                   host_threads)
        dtype, curve = "host-model", []
    else:
        dtype = dtype or dev.default_dtype()
        dev.peak_for(dtype)
        rows = layer_rows(cfg, mdl, dev, wl, dtype=dtype, mode=mode)
        summary = model_summary(rows, wl, dev, dtype)
        curve = speedup_vs_batch(cfg, mdl, dev, list(BATCHES), dtype=dtype, mode=mode)
    devices = load_devices(device_file)
    points, unread = load_measurements(reports_dir)
    kb_files = {bench_name(f) for f, _ in kbench}
    points = [p for p in points if p.file not in kb_files]
    unread = [u for u in unread if not any(u.startswith(f) for f in kb_files)]
    points = [p for d in devices.values() for p in d.measured] + points  # catalog points (with sources)
    on_host = [p for p in points
               if p.family != "rtl" and getattr(match_device(p.device, devices), "key", "host")
               == "host"]
    if is_host:
        host = None  # the calibrated host model below replaces the generic roofline for this machine
        if on_host:
            unread.append(f"{len(on_host)} host points from other files than hwq bench c records are not "
                          "compared (the host model covers the kernels of hwq bench c)")
        points = [p for p in points if p not in on_host]
    else:
        host = get_device("host", device_file) if on_host else None  # measured only when a point needs it
    val_rows, val_skipped = validate(points, cfg, devices, host)
    if is_host:
        val_rows = host_doc.pop("validation_rows") + val_rows
        val_skipped = host_doc.pop("validation_skipped") + val_skipped
    elif kbench:
        val_skipped.append("hwq bench c records (measured on this machine) are compared in the host study "
                           "(hwq roofline --device host)")
    # this study's device only (simulated cycles belong to FPGA studies); other devices have their own studies
    others = sorted({r["device"] for r in val_rows if r["device"] != dev.key and r["unit"] == "s"})
    val_rows = [r for r in val_rows
                if r["device"] == dev.key or (r["unit"] == "cycles" and dev.kind == "fpga")]
    if others:
        val_skipped.append(f"points measured on {', '.join(others)} are compared in the studies of those "
                           "devices")
    stem = f"{dev.key}_{mdl.key}_{wl.key}_{cfg.slug}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    if plots and is_host:
        files += plot_host_validation(val_rows, out / f"{stem}_validation",
                                      f"host model vs hwq bench c ({dev.name})")
    elif plots:
        preds = []
        for lin, _ in mdl.all_linears():
            ph, pf = pair(cfg, dev, lin.k, lin.m, wl.tokens, dtype, mode)
            preds += [(cfg.slug, ph), ("fp16", pf)]
        meas = [(r["kernel"], r["intensity"], r["ops"] / r["measured"]) for r in val_rows
                if r["device"] == dev.key and r["unit"] == "s"]
        title = f"{mdl.name}, {wl.key} (B={wl.tokens}), {cfg.slug} on {dev.name}"
        files += plot_roofline(dev, dtype, preds, out / f"{stem}_roofline", meas, title)
        files += plot_speedup(curve, out / f"{stem}_speedup", f"{mdl.name} decode on {dev.name}: {cfg.slug}")
    rec = Roofline(
        stamp=Stamp.now(cfg),
        config=cfg.to_dict(),
        device={"key": dev.key, "name": dev.name, "kind": dev.kind, "bandwidth": dev.bw,
                "bandwidth_source": dev.bw_label, "bandwidth_datasheet": dev.bandwidth,
                "peak": dev.peak, "dtype": dtype, "source": dev.source, "note": dev.note},
        model={"key": mdl.key, "name": mdl.name, "layers": mdl.layers, "params": mdl.params},
        workload={"key": wl.key, "phase": wl.phase, "batch": wl.batch, "seq_len": wl.seq_len,
                  "tokens": wl.tokens},
        mode=mode, summary=summary, layers=tuple(rows), speedup_vs_batch=tuple(curve),
        rtl={k: v for k, v in rtl.items() if k != "synth"} if rtl else None,
        validation={"rows": val_rows, "skipped": val_skipped + unread},
        host=host_doc,
        files=tuple(p.name for p in [*files, out / f"{stem}.json", out / f"{stem}.md"]),
    )
    # numpy scalars (the calibration's arithmetic) become plain JSON numbers
    doc = json.loads(json.dumps(rec.to_dict(), default=float))
    rec = from_dict(doc, f"{stem}.json", Roofline)
    rec.save(out / f"{stem}.json")
    (out / f"{stem}.md").write_text(format_markdown(doc))
    return doc

