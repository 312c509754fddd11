"""Host-side packer/unpacker of the AXI4-Stream tops' frames (``hwq rtl`` units ``top_axi``, ``luttop_axi``).

Built only from the beat layouts of the RTL manifest (``units.<unit>.ports.<stream>``: ``fields``,
``tdata_bits``), i.e. from :func:`hwq.rtl.axi_layout.axi_streams` of the config; the cocotbext-axi bench
(:mod:`hwq.sim.axi_bench`) drives the RTL with exactly these bytes. One frame is one AXI4-Stream packet
(``tlast`` on its final beat): a whole activation vector on ``s_axis_x``, the weights of a whole GEMV on
``s_axis_w``, the results of a whole GEMV on ``m_axis_o``. Beats are little-endian (byte i =
``tdata[8i+7:8i]``).

The GEMVs it frames come from :func:`hwq.stimulus.gemv_case` (the one stimulus generator), with their expected
accumulators from the reference model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hwq.rtl.vectors import lane_groups
from hwq.sim.payload import Layout, pack, unpack

from hwq.config import HwqConfig
from hwq.errors import HwqError

__all__ = ["AxiFrames"]


class AxiFrames:
    """Pack/unpack frames of one AXI top from its manifest ``ports`` entry.

    Parameters
    ----------
    ports : dict
        ``stream -> {"fields": [[name, offset, width, count, signed], ...], "tdata_bits": int, ...}``.
    lanes, dim, hadamard : int
        L, d and h of the config (rows per beat, block length, activations per beat).
    """

    def __init__(self, ports: Mapping[str, Mapping[str, Any]], lanes: int, dim: int, hadamard: int) -> None:
        for s in ("s_axis_x", "s_axis_w", "m_axis_o"):
            if s not in ports or "tdata_bits" not in ports[s]:
                raise HwqError(f"not an AXI4-Stream top: the manifest ports lack {s!r} with tdata_bits")
        self.layouts = {s: Layout(p["fields"], p.get("payload_bits")) for s, p in ports.items()}
        self.beat_bytes = {s: int(p["tdata_bits"]) // 8 for s, p in ports.items()}
        self.lanes, self.dim, self.hadamard = int(lanes), int(dim), int(hadamard)

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], unit: str) -> AxiFrames:
        cfg = HwqConfig.from_dict(manifest["config"])
        return cls(manifest["units"][unit]["ports"], cfg.lanes, cfg.dim, cfg.hadamard)

    # -- beats ---------------------------------------------------------------------------------------------
    def pack_beats(self, stream: str, beats: list[Mapping[str, Any]]) -> bytes:
        """Field dicts -> the frame's bytes (``len(beats)`` beats of ``tdata_bits / 8`` bytes)."""
        lay, nb = self.layouts[stream], self.beat_bytes[stream]
        return b"".join(pack(lay, b).to_bytes(nb, "little") for b in beats)

    def unpack_beats(self, stream: str, frame: bytes) -> list[dict]:
        """A frame's bytes -> field dicts (the frame must be whole beats)."""
        lay, nb = self.layouts[stream], self.beat_bytes[stream]
        if len(frame) % nb:
            raise HwqError(f"{stream}: a frame of {len(frame)} bytes is not a whole number of {nb}-byte "
                           "beats")
        return [unpack(lay, int.from_bytes(frame[i:i + nb], "little")) for i in range(0, len(frame), nb)]

    # -- GEMV frames ---------------------------------------------------------------------------------------
    def x_frame(self, x_int: np.ndarray, em: int | None = None) -> bytes:
        """One activation vector (K,) of integers -> its ``s_axis_x`` frame (K/h beats; ``em`` on every beat
        for the LUT top)."""
        x = np.asarray(x_int, dtype=np.int64).reshape(-1)
        h = self.hadamard
        if x.size == 0 or x.size % h:
            raise HwqError(f"K = {x.size} must be a positive multiple of hadamard = {h}")
        has_em = "em" in self.layouts["s_axis_x"].fields
        if has_em != (em is not None):
            raise HwqError("the LUT top takes the vector's em; the weight-only top takes none")
        extra = {"em": int(em)} if has_em else {}
        return self.pack_beats("s_axis_x", [{"x": x[i:i + h].tolist(), **extra} for i in range(0, x.size, h)])

    def w_frame(self, rows: np.ndarray, ladder: np.ndarray) -> bytes:
        """Codebook rows and ladder indices (M, nb) of one GEMV -> its ``s_axis_w`` frame: row groups of L
        rows
        (the last padded with code 0, ladder 0), nb beats each, ``row_end`` on every group's last beat."""
        rows, ladder = np.asarray(rows, dtype=np.int64), np.asarray(ladder, dtype=np.int64)
        if rows.ndim != 2 or rows.shape != ladder.shape or rows.size == 0:
            raise HwqError(f"rows and ladder must be equal (M, nb) arrays, got {rows.shape} and "
                           f"{ladder.shape}")
        nb = rows.shape[1]
        beats = [{"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(), "row_end": int(b == nb - 1)}
                 for codes, lad in lane_groups(self.lanes, rows, ladder) for b in range(nb)]
        return self.pack_beats("s_axis_w", beats)

    def o_values(self, frame: bytes, m: int | None = None) -> np.ndarray:
        """An ``m_axis_o`` frame -> the accumulators (M,) int64 (the first ``m`` of the padded rows)."""
        acc = np.array([b["acc"] if isinstance(b["acc"], list) else [b["acc"]]
                        for b in self.unpack_beats("m_axis_o", frame)], dtype=np.int64).reshape(-1)
        return acc if m is None else acc[:m]

    def o_frame(self, acc: np.ndarray) -> bytes:
        """Expected accumulators (M,) -> the ``m_axis_o`` frame the unit must send (padded rows: 0)."""
        a = np.asarray(acc, dtype=np.int64).reshape(-1)
        lanes = self.lanes
        p = np.zeros(-(-a.size // lanes) * lanes, dtype=np.int64)
        p[:a.size] = a
        return self.pack_beats("m_axis_o",
                               [{"acc": p[i:i + lanes].tolist()} for i in range(0, p.size, lanes)])
