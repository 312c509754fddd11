"""Beats of the RTL units' streams for a GEMV of :func:`hwq.stimulus.gemv_case` (the one stimulus
generator; nothing random here): field dicts in the payload layouts of ``rtl/README.md``, packed by
:func:`hwq.rtl.simutil.pack`."""

from __future__ import annotations

import numpy as np

from hwq.config import HwqConfig
from hwq.stimulus import GemvCase, gemv_case

__all__ = ["gemv_case", "lane_groups", "mac_beats", "lut_beats", "top_beats", "top_case"]


def lane_groups(lanes: int, rows: np.ndarray, lad: np.ndarray):
    """Pad M to a multiple of ``lanes`` (code 0, ladder 0) and yield per row group (codes (L, nb), ladder):
    the order in which the weight streams of the MACs and tops carry a matrix."""
    m, nb = rows.shape
    L = lanes
    mp = -(-m // L) * L
    r = np.zeros((mp, nb), dtype=np.int64)
    t = np.zeros((mp, nb), dtype=np.int64)
    r[:m], t[:m] = rows, lad
    for g in range(mp // L):
        yield r[g * L:(g + 1) * L], t[g * L:(g + 1) * L]


def mac_beats(cfg: HwqConfig, case: GemvCase, j: int = 0) -> list[dict]:
    """Input beats of :class:`hwq.rtl.mac.DequantMac` for activation vector ``j`` of ``case`` (the expected
    accumulators are ``case.ref[j]``)."""
    d, x_rot = cfg.dim, case.x_rot[:, j]
    nb = case.enc.blocks_per_col
    beats = []
    for codes, lad in lane_groups(cfg.lanes, case.rows, case.ladder):
        for b in range(nb):
            beats.append({"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(),
                          "x": x_rot[d * b:d * b + d].tolist(), "last": int(b == nb - 1)})
    return beats


def lut_beats(cfg: HwqConfig, case: GemvCase, j: int = 0) -> list[dict]:
    """Input beats of :class:`hwq.rtl.lut.LutMac` for activation vector ``j`` of a ``kind="lut"`` case (the
    activation codes come from :func:`hwq.datapath.encode_activations`; expected: ``case.ref[j]``)."""
    from hwq.datapath import encode_activations

    acts = encode_activations(case.x_rot[:, j:j + 1], cfg, case.em[j:j + 1])
    nb = case.enc.blocks_per_col
    beats = []
    for codes, lad in lane_groups(cfg.lanes, case.rows, case.ladder):
        for b in range(nb):
            beats.append({"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(),
                          "xcode": int(acts.rows[0, b]), "xladder": int(acts.ladder[0, b]),
                          "last": int(b == nb - 1)})
    return beats


def top_beats(cfg: HwqConfig, case: GemvCase) -> tuple[list[dict], list[dict]]:
    """Beats of a top level (:class:`hwq.rtl.top.DequantMacTop`, or :class:`hwq.rtl.top.LutTop` for a
    ``kind="lut"`` case): the ``x`` stream (K/h int8 segments per vector, plus ``em`` for the LUT top) and the
    ``w`` stream (per vector: ceil(M/L) row groups of K/d beats, ``done`` on the final beat)."""
    h = cfg.hadamard
    k, nvec = case.x_int.shape
    x_beats, w_beats = [], []
    nseg = k // h
    groups = list(lane_groups(cfg.lanes, case.rows, case.ladder))
    nb = case.enc.blocks_per_col
    for j in range(nvec):
        for sgm in range(nseg):
            beat = {"x": case.x_int[sgm * h:(sgm + 1) * h, j].tolist(), "last": int(sgm == nseg - 1)}
            if case.em is not None:
                beat["em"] = int(case.em[j])
            x_beats.append(beat)
        for g, (codes, lad) in enumerate(groups):
            for b in range(nb):
                w_beats.append({"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(),
                                "last": int(b == nb - 1), "done": int(b == nb - 1 and g == len(groups) - 1)})
    return x_beats, w_beats


def top_case(cfg: HwqConfig, m: int, k: int, nvec: int = 2, seed: int = 0, lut: bool = False):
    """A GEMV of ``nvec`` activation vectors through a top level: ``(x_beats, w_beats, ref)`` with the
    reference accumulators ``ref`` (nvec, M) (:func:`hwq.stimulus.gemv_case` + :func:`top_beats`)."""
    case = gemv_case(cfg, m, k, nvec, seed, kind="lut" if lut else "wo")
    x_beats, w_beats = top_beats(cfg, case)
    return x_beats, w_beats, case.ref
