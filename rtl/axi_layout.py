"""AXI4-Stream beat layouts of the AXI tops (:mod:`hwq.rtl.axi`), derived from the config.

One source of truth: the ``tdata`` layouts below are Amaranth ``StructLayout`` s built from
:class:`~hwq.config.HwqConfig` widths; the RTL wrappers slice ``tdata`` with them, the manifest and the README
table are rendered from them (:func:`beat_table`, :func:`markdown_table`), and the host packer
(:mod:`hwq.sim.axi_frames`) packs beats from the manifest form of the same fields.

Conventions (for a host that packs beats without reading hwq's source):

* fields are packed densely from bit 0 of ``tdata`` in table order (an array field of ``count`` elements puts
  element j at bits ``[offset + j*width, offset + (j+1)*width)``), signed fields are two's complement;
* ``tdata`` is padded with zeros to a whole number of bytes (padding bits are ignored on inputs and 0 on
  outputs); byte i of a beat is ``tdata[8i+7:8i]`` (little-endian), no ``tkeep``/``tstrb``/``tuser``/``tid``;
* weight beats are packed densely, not per-field byte-aligned: the weight stream is the unit's bandwidth, and
  padding the ladder index or codes to bytes would cost up to 2-3x the bits per weight.

Streams (``kind`` ``"wo"``: weight-only :class:`~hwq.rtl.top.DequantMacTop`; ``"lut"``: both-quantized
:class:`~hwq.rtl.top.LutTop`):

* ``s_axis_x``: one Hadamard segment of ``h`` integer activations per beat; ``tlast`` on the last segment of
  the vector (K = beats x h). The LUT unit also takes ``em`` (the vector's encoding multiplier,
  :func:`hwq.datapath.enc_multiplier`), sampled on the ``tlast`` beat (a host sends the same value on every
  beat of the vector).
* ``s_axis_w``: one block of each of ``L`` rows per beat (``L`` codebook rows and ``L`` ladder indices);
  ``row_end`` on the last block (beat K/d) of each row group, ``tlast`` on the final beat of the GEMV (its
  row group ends there too). M = row groups x L (padded rows carry code 0, ladder 0).
* ``m_axis_o``: one row group of ``L`` accumulators per beat, ``tlast`` on the last row group of the GEMV.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from hwq.config import HwqConfig
from hwq.errors import HwqError

from .layout import layout_fields
from .decoder import ladder_shape
from .encoder import em_bits

__all__ = [
    "KINDS",
    "AxiStream",
    "axi_port_info",
    "axi_streams",
    "beat_table",
    "layout_doc",
    "markdown_table",
    "tdata_bits",
    "write_layout_doc",
]

#: AXI top kinds: native top unit they wrap
KINDS = {"wo": "top", "lut": "luttop"}


def tdata_bits(payload_bits: int) -> int:
    """``tdata`` width: the payload rounded up to whole bytes."""
    return max(8, -(-int(payload_bits) // 8) * 8)


@dataclass(frozen=True)
class AxiStream:
    """One AXI4-Stream port: direction, the ``tdata`` field layout, and what ``tlast`` and each field mean."""

    port: str
    direction: str  # "in" (slave, s_axis_*) or "out" (master, m_axis_*)
    layout: data.StructLayout
    tlast: str
    meaning: dict

    @property
    def payload_bits(self) -> int:
        return self.layout.size

    @property
    def tdata_bits(self) -> int:
        return tdata_bits(self.layout.size)

    def fields(self) -> list[list]:
        """Manifest form ``[[name, offset, width, count, signed], ...]``."""
        return layout_fields(self.layout)


def axi_streams(cfg: HwqConfig, kind: str) -> dict[str, AxiStream]:
    """The three streams of an AXI top (see module docstring)."""
    if kind not in KINDS:
        raise HwqError(f"unknown AXI top kind {kind!r}; kinds: {', '.join(KINDS)}")
    h, lanes = cfg.hadamard, cfg.lanes
    xf = {"x": data.ArrayLayout(signed(cfg.act_bits), h)}
    xm = {"x": f"{h} integer activations of one Hadamard segment, element j = x[seg*{h} + j]"}
    if kind == "lut":
        xf["em"] = unsigned(em_bits(cfg))
        xm["em"] = "the vector's encoding multiplier (hwq.datapath.enc_multiplier), sampled on the tlast beat"
    acc_bits = cfg.acc_bits if kind == "wo" else cfg.lut_acc_bits
    return {
        "s_axis_x": AxiStream("s_axis_x", "in", data.StructLayout(xf),
                              "last segment of the activation vector (K = beats x h)", xm),
        "s_axis_w": AxiStream("s_axis_w", "in", data.StructLayout({
            "codes": data.ArrayLayout(unsigned(cfg.code_bits), lanes),
            "ladder": data.ArrayLayout(ladder_shape(cfg), lanes),
            "row_end": unsigned(1)}),
            "final beat of the GEMV (also ends its row group)",
            {"codes": f"element l: codebook row of block b of weight row g*{lanes} + l (beat g*K/d + b)",
             "ladder": "ladder index (scale rung) of the same blocks",
             "row_end": "1 on the last block (beat K/d) of each row group"}),
        "m_axis_o": AxiStream("m_axis_o", "out", data.StructLayout({
            "acc": data.ArrayLayout(signed(acc_bits), lanes)}),
            "last row group of the GEMV",
            {"acc": f"element l: integer accumulator of weight row g*{lanes} + l (beat g) "
                    + ("(hwq.datapath.weight_only_acc)" if kind == "wo" else "(hwq.datapath.lut_acc)")}),
    }


def axi_port_info(streams: dict[str, AxiStream]) -> dict:
    """Manifest ``ports`` entry of an AXI top: per stream its direction, ``tdata`` width, the fields of the
    beat (``[name, offset, width, count, signed]``, the form :class:`hwq.sim.payload.Layout` reads), what
    ``tlast``
    and each field mean, and the Verilog port names."""
    out = {}
    for port, s in streams.items():
        out[port] = {"direction": s.direction, "interface": "AXI4-Stream", "payload_bits": s.payload_bits,
                     "tdata_bits": s.tdata_bits, "fields": s.fields(), "tlast": s.tlast,
                     "meaning": dict(s.meaning),
                     "byte_order": "little-endian: byte i = tdata[8i+7:8i]; padding bits 0",
                     "verilog": [f"{port}_{sig}" for sig in ("tdata", "tvalid", "tready", "tlast")]}
    return out


def beat_table(cfg: HwqConfig, kind: str) -> list[dict]:
    """Rows ``{stream, field, offset, width, count, signed, meaning}`` of every stream, plus ``tdata`` padding
    and ``tlast``."""
    rows = []
    for port, s in axi_streams(cfg, kind).items():
        for name, off, width, count, sg in s.fields():
            rows.append({"stream": port, "field": name, "offset": off, "width": width, "count": count,
                         "signed": sg, "meaning": s.meaning[name]})
        if s.tdata_bits > s.payload_bits:
            rows.append({"stream": port, "field": "(pad)", "offset": s.payload_bits,
                         "width": s.tdata_bits - s.payload_bits, "count": 1, "signed": False,
                         "meaning": "zero padding to whole bytes"})
        rows.append({"stream": port, "field": "tlast", "offset": None, "width": 1, "count": 1,
                     "signed": False, "meaning": s.tlast})
    return rows


def markdown_table(cfg: HwqConfig, kind: str) -> str:
    """The beat layout of one AXI top as a Markdown table (README and ``hwq rtl`` print it)."""
    streams = axi_streams(cfg, kind)
    lines = ["| stream | tdata bits | field | bit offset | width x count | signed | meaning |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in beat_table(cfg, kind):
        off = "-" if r["offset"] is None else str(r["offset"])
        wc = f"{r['width']}" if r["count"] == 1 else f"{r['width']} x {r['count']}"
        lines.append(f"| `{r['stream']}` | {streams[r['stream']].tdata_bits} | `{r['field']}` | {off} | {wc} "
                     f"| {'yes' if r['signed'] else 'no'} | {r['meaning']} |")
    return "\n".join(lines) + "\n"


def layout_doc(cfg: HwqConfig, units: list[str]) -> str:
    """Markdown of the beat layouts of the AXI top units (``top_axi``, ``luttop_axi``) of a config."""
    names = {"top_axi": ("wo", "weight-only (DequantMacTop)"),
             "luttop_axi": ("lut", "both-quantized (LutTop)")}
    parts = [(f"# AXI4-Stream beat layouts of {cfg.slug}\n\n"
              "Fields are packed from bit 0 of tdata; element j of an array field sits at offset + j*width; "
              "signed fields are two's complement; byte i of a beat is tdata[8i+7:8i]. Clock aclk, reset "
              "aresetn (synchronous, active low).\n")]
    for u in units:
        kind, what = names[u]
        parts.append(f"\n## `{u}`: {what}\n\n" + markdown_table(cfg, kind))
    return "".join(parts)


def write_layout_doc(cfg: HwqConfig, out_dir: Path, units: list[str]) -> Path:
    """Write :func:`layout_doc` to ``<out_dir>/axi_layout.md`` (a generated file, rewritten with the
    Verilog)."""
    path = Path(out_dir) / "axi_layout.md"
    path.write_text(layout_doc(cfg, units))
    return path
