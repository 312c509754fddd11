"""Test vectors for the RTL units, generated from the hwq reference model (never by hand)."""

from __future__ import annotations


import numpy as np

from hwq.config import HwqConfig
from hwq.datapath import encode_activations, lut_acc, prepare_activations, weight_only_acc

__all__ = ["gemv_case", "mac_beats", "lut_beats", "top_case"]


def gemv_case(cfg: HwqConfig, m: int, k: int | None = None, seed: int = 0):
    """A random weight-only GEMV: (enc, x_rot (K,), acc (M,)) with K a multiple of lcm(d, hadamard)."""
    from hwq.matmul import encode_matrix

    step = cfg.k_step
    k = k or step
    if k % step:
        raise ValueError(f"K must be a multiple of {step}")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, m))
    w[:, 0] *= 8.0  # heavier column: exercises the ladder
    enc = encode_matrix(w, cfg)
    act = prepare_activations(rng.standard_normal(k) * np.linspace(0.2, 3.0, k), cfg)
    return enc, act.x_rot[:, 0], weight_only_acc(enc, act.x_rot)[:, 0]


def _groups(cfg: HwqConfig, rows: np.ndarray, lad: np.ndarray):
    """Pad M to a multiple of lanes (code 0, ladder 0) and yield per group (codes (L, nb), ladder)."""
    m, nb = rows.shape
    L = cfg.lanes
    mp = -(-m // L) * L
    r = np.zeros((mp, nb), dtype=np.int64)
    t = np.zeros((mp, nb), dtype=np.int64)
    r[:m], t[:m] = rows, lad
    for g in range(mp // L):
        yield r[g * L:(g + 1) * L], t[g * L:(g + 1) * L]


def mac_beats(cfg: HwqConfig, enc, x_rot: np.ndarray) -> list[dict]:
    """Input beats (field dicts) of :class:`hwq.rtl.mac.DequantMac` for one GEMV."""
    d = cfg.dim
    nb = enc.blocks_per_col
    beats = []
    for codes, lad in _groups(cfg, enc.rows(), enc.ladder_index().astype(np.int64)):
        for b in range(nb):
            beats.append({"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(),
                          "x": x_rot[d * b:d * b + d].tolist(), "last": int(b == nb - 1)})
    return beats


def lut_beats(cfg: HwqConfig, enc, x_rot: np.ndarray):
    """Beats of :class:`hwq.rtl.lut.LutMac` and the reference acc (M,) for one activation vector."""
    acts = encode_activations(x_rot[:, None], cfg)
    ref = lut_acc(enc, acts)[:, 0]
    nb = enc.blocks_per_col
    beats = []
    for codes, lad in _groups(cfg, enc.rows(), enc.ladder_index().astype(np.int64)):
        for b in range(nb):
            beats.append({"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(),
                          "xcode": int(acts.rows[0, b]), "xladder": int(acts.ladder[0, b]),
                          "last": int(b == nb - 1)})
    return beats, ref


def top_case(cfg: HwqConfig, m: int, k: int, nvec: int = 2, seed: int = 0, lut: bool = False):
    """A GEMV of ``nvec`` activation vectors through a top level (:class:`hwq.rtl.top.DequantMacTop`, or
    :class:`hwq.rtl.top.LutTop` with ``lut=True``), all from the reference model.

    Returns
    -------
    (x_beats, w_beats, ref) : field dicts of the ``x`` stream (K/h int8 segments per vector, plus ``em``
        for the LUT top) and of the ``w`` stream (per vector: ceil(M/L) row groups of K/d beats, ``done``
        on the final beat), and the reference accumulators (nvec, M): ``weight_only_acc`` or ``lut_acc``.
    """
    from hwq.matmul import encode_matrix

    if k % cfg.k_step:
        raise ValueError(f"K must be a multiple of lcm(d, hadamard) = {cfg.k_step}")
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((k, m))
    w[:, 0] *= 8.0
    enc = encode_matrix(w, cfg)
    xs = rng.standard_normal((k, nvec)) * np.linspace(0.2, 3.0, k)[:, None]
    if nvec > 1:
        xs[: k // 4, 1] *= 12.0  # spiky second vector: higher activation rungs
    act = prepare_activations(xs, cfg)
    h = cfg.hadamard
    if lut:
        acts = encode_activations(act.x_rot, cfg)
        ref = lut_acc(enc, acts).T
        em = acts.enc_mult
    else:
        ref = weight_only_acc(enc, act.x_rot).T
        em = None
    x_beats, w_beats = [], []
    nseg = k // h
    groups = list(_groups(cfg, enc.rows(), enc.ladder_index().astype(np.int64)))
    nb = enc.blocks_per_col
    for j in range(nvec):
        for sgm in range(nseg):
            beat = {"x": act.x_int[sgm * h:(sgm + 1) * h, j].tolist(), "last": int(sgm == nseg - 1)}
            if lut:
                beat["em"] = int(em[j])
            x_beats.append(beat)
        for g, (codes, lad) in enumerate(groups):
            for b in range(nb):
                w_beats.append({"codes": codes[:, b].tolist(), "ladder": lad[:, b].tolist(), "last": int(b == nb - 1),
                                "done": int(b == nb - 1 and g == len(groups) - 1)})
    return x_beats, w_beats, np.asarray(ref)
