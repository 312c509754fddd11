"""The table-driven Voronoi reduction of the arithmetic decoder (hwq.rtl.residual) against the reference.

The NumPy model uses the same tables and steps as the RTL; it is checked exhaustively against
``hwq.voronoi.codeword_of``, and the RTL decoder is simulated on the rows that exercise every tie rule.
"""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.rtl.decoder import CodebookDecoder
from hwq.rtl.residual import coord_tables, gk_ranges, reduce_model
from hwq.rtl.simutil import pack, run_stream, unpack
from hwq.voronoi import codeword_of, row_to_digits


def _ranges(cfg: HwqConfig) -> tuple[np.ndarray, list[int], list[int]]:
    lo, hi = gk_ranges(cfg)
    return cfg.lat.generator_int.astype(np.int64), lo, hi


def _check_rows(cfg: HwqConfig, rows: np.ndarray) -> None:
    g, lo, hi = _ranges(cfg)
    k = row_to_digits(rows, cfg.q, cfg.dim)
    np.testing.assert_array_equal(reduce_model(cfg, k @ g.T, lo, hi), codeword_of(cfg.lat, cfg.q, k))


@pytest.mark.parametrize("cfg", [HwqConfig(lattice="Z", q=8), HwqConfig(), HwqConfig(lattice="D3", q=5),
                                 HwqConfig(lattice="D4", q=4), HwqConfig(lattice="E8", q=4),
                                 HwqConfig(lattice="E8", q=3)], ids=lambda c: c.slug)
def test_model_exhaustive_small(cfg):
    _check_rows(cfg, np.arange(cfg.num_codewords))


def test_model_e8_q7_slice():
    cfg = HwqConfig(lattice="E8", q=7)
    _check_rows(cfg, np.arange(0, cfg.num_codewords, 23))  # 250k rows spread over the index range


@pytest.mark.slow
@pytest.mark.parametrize("q", [7, 8])
def test_model_e8_exhaustive(q):
    cfg = HwqConfig(lattice="E8", q=q)
    for s in range(0, cfg.num_codewords, 1 << 20):
        _check_rows(cfg, np.arange(s, min(cfg.num_codewords, s + (1 << 20))))


def test_tables_come_from_the_reference_rounding():
    cfg = HwqConfig(lattice="E8", q=7)
    _, lo, hi = _ranges(cfg)
    t = coord_tables(cfg, lo, hi)[0]
    y = np.arange(t.lo, t.hi + 1)
    den = cfg.q * cfg.coord_scale
    # candidate coordinates are the residuals of the nearest multiple of den (coset A) / of den shifted by q
    assert np.all(np.abs(t.a) <= den // 2) and np.all(np.abs(t.b) <= den // 2)
    assert np.all((y - t.a) % den == 0) and np.all((y - t.b - cfg.q) % den == 0)
    # the SPEC rounding rule rounds halves up: y = 7 (x = 1/2) rounds to 1, y = -7 (x = -1/2) rounds to 0
    assert t.a[list(y).index(7)] == -7 and t.a[list(y).index(-7)] == -7


def _tie_rows(cfg: HwqConfig, n_each: int) -> np.ndarray:
    """Rows whose reduction hits each tie rule: several coordinates at the largest |a| with odd parity
    (lowest index wins), the same for coset B, and equal coset distances (coset A wins)."""
    g, lo, hi = _ranges(cfg)
    rows = np.arange(0, cfg.num_codewords, 7)
    k = row_to_digits(rows, cfg.q, cfg.dim)
    y = k @ g.T
    tabs = coord_tables(cfg, lo, hi)
    den = cfg.q * cfg.coord_scale
    picks = []
    dist = []
    for name, pname in (("a", "pa"), ("b", "pb")):
        c = np.stack([getattr(t, name)[y[:, i] - t.lo] for i, t in enumerate(tabs)], axis=1)
        par = np.bitwise_xor.reduce(np.stack([getattr(t, pname)[y[:, i] - t.lo] for i, t in enumerate(tabs)],
                                             axis=1), axis=1)
        mag = np.abs(c)
        mx = mag.max(axis=1)
        tie = (np.sum(mag == mx[:, None], axis=1) > 1) & (par == 1)
        picks.append(rows[tie][:n_each])
        dist.append(np.sum(c * c, axis=1) + par * (den * den - 2 * den * mx))
    picks.append(rows[dist[0] == dist[1]][:n_each])
    picks.append(rows[dist[1] < dist[0]][:n_each])
    assert all(len(p) == n_each for p in picks), "every tie class occurs"
    return np.concatenate(picks)


def test_rtl_decoder_e8_tie_rules():
    cfg = HwqConfig(lattice="E8", q=7)
    rows = _tie_rows(cfg, 12)
    dut = CodebookDecoder(cfg)
    out, _ = run_stream(dut, [pack(dut.in_layout, {"code": int(r), "ladder": 0}) for r in rows], len(rows),
                        ready=[1, 0, 1])
    got = np.array([unpack(dut.out_layout, o)["cw"] for o in out])
    want = codeword_of(cfg.lat, cfg.q, row_to_digits(rows, cfg.q, cfg.dim))
    np.testing.assert_array_equal(got, want)
