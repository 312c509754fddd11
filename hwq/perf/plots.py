"""Charts of a roofline study (matplotlib, Agg canvas: no display, no global pyplot state): the roofline,
speedup against batch, and the host model's predicted-vs-measured validation plot. PNG and SVG each, with no
date or software stamp in the files (they are committed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hwq.perf.cost import Prediction
from hwq.perf.devices import Device

__all__ = ["plot_host_validation", "plot_roofline", "plot_speedup"]


def _save(fig: Any, stem: Path) -> list[Path]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, dpi=110, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    return [png, svg]


def plot_roofline(device: Device, dtype: str, preds: list[tuple[str, Prediction]], stem: Path,
                  measured: list[tuple[str, float, float]] = (), title: str = "") -> list[Path]:
    """Log-log roofline: roofs of every dtype of ``device``, predicted points, measured points.

    ``preds`` are (label, prediction); ``measured`` are (label, intensity, attained ops/s).
    """
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.2))
    ax = fig.add_subplot(1, 1, 1)
    xs = np.logspace(-2, 4, 300)
    for name, peak in sorted(device.peak.items(), key=lambda kv: -kv[1]):
        style = "-" if name == dtype else ":"
        ax.loglog(xs, np.minimum(peak, device.bw * xs), style, lw=2 if name == dtype else 1,
                  label=f"{name} roof {peak / 1e12:.4g} TOP/s")
    if device.bandwidth_measured and device.bandwidth and abs(device.bandwidth - device.bw) > 1:
        peak = device.peak_for(dtype)
        ax.loglog(xs, np.minimum(peak, device.bandwidth * xs), "--", color="gray", lw=1,
                  label=f"datasheet {device.bandwidth / 1e9:.0f} GB/s")
    ridge = device.ridge(dtype)
    ax.axvline(ridge, color="gray", lw=0.6)
    ax.annotate(f"ridge {ridge:.0f} op/B", (ridge, device.peak_for(dtype)), fontsize=8,
                xytext=(4, -12), textcoords="offset points")
    markers = {"hwq": "o", "fp16": "s"}
    for label, p in preds:
        kind = "fp16" if label.startswith("fp16") else "hwq"
        ax.loglog([p.cost.intensity], [p.attained], markers[kind], ms=6,
                  color="tab:red" if kind == "hwq" else "tab:blue", alpha=0.8)
    ax.plot([], [], "o", color="tab:red", label="hwq (predicted)")
    ax.plot([], [], "s", color="tab:blue", label="fp16 (predicted)")
    if measured:
        ax.loglog([m[1] for m in measured], [m[2] for m in measured], "kx", ms=8, label="measured")
    ax.set_xlabel("arithmetic intensity (ops / byte)")
    ax.set_ylabel("attainable ops/s")
    ax.set_title(title or f"roofline: {device.name}", fontsize=10)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, stem)


def plot_speedup(curve: list[dict[str, Any]], stem: Path, title: str,
                 measured: list[tuple[int, float]] = ()) -> list[Path]:
    """Speedup over fp16 against batch (log x), with the ideal 16 / b_eff line and measured points."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    b = [r["batch"] for r in curve]
    ax.semilogx(b, [r["speedup"] for r in curve], "o-", color="tab:red", label="predicted (model, decode)")
    ax.axhline(curve[0]["ideal_speedup"], ls="--", color="gray",
               label=f"ideal 16/b_eff = {curve[0]['ideal_speedup']:.2f}")
    ax.axhline(1.0, color="black", lw=0.6)
    if measured:
        ax.semilogx([m[0] for m in measured], [m[1] for m in measured], "kx", ms=8,
                    label="measured (one shape)")
    ax.set_xlabel("batch (sequences decoded together)")
    ax.set_ylabel("speedup over fp16")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, stem)



def plot_host_validation(rows: list[dict[str, Any]], stem: Path, title: str) -> list[Path]:
    """Predicted against measured time of every host point (log-log), the +-15 % band shaded."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    pts = [r for r in rows if r["device"] == "host"]
    if pts:
        lo = min(min(r["measured"], r["predicted"]) for r in pts) / 1.5
        hi = max(max(r["measured"], r["predicted"]) for r in pts) * 1.5
        ax.loglog([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.fill_between([lo, hi], [lo * 0.85, hi * 0.85], [lo * 1.15, hi * 1.15], color="0.85",
                        label="+-15 %")
        for kern in sorted({r["kernel"] for r in pts}):
            sel = [r for r in pts if r["kernel"] == kern]
            ax.loglog([r["measured"] for r in sel], [r["predicted"] for r in sel], "o", ms=4,
                      label=kern, alpha=0.8)
    ax.set_xlabel("measured (s, min of interleaved rounds)")
    ax.set_ylabel("predicted by the calibrated host model (s)")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, stem)


