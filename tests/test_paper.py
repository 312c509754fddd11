"""The paper's table (SPEC section 4): D3 nested and absmax INT3 at n = 6144, full run as a slow test."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import paper_config
from hwq.matmul import encode_matrix, estimate_product, product_distortion
from hwq.quant.scalar import absmax_rate, absmax_roundtrip
from hwq.theory import gamma
from hwq.tuning import beta0_for_rate

N = 6144


def test_d3_and_absmax_rows_at_n_6144() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((N, 384))
    b = rng.standard_normal((N, 384))
    exact = a.T @ b
    cfg = paper_config("D3", 6, n=N, beta0=beta0_for_rate("D3", 6, True, 3.015 - 32 / N))
    ea = encode_matrix(a, cfg, matrix_id=0)
    eb = encode_matrix(b, cfg, matrix_id=1)
    d3 = product_distortion(estimate_product(ea, eb), exact, N)
    rate = (ea.rate_entropy() + eb.rate_entropy()) / 2
    assert rate == pytest.approx(3.015, abs=0.01)
    assert d3 == pytest.approx(0.0593, rel=0.05)
    assert ea.overloads + eb.overloads == 0  # the 16-rung ladder never runs out
    assert gamma(rate) == pytest.approx(0.0304, rel=0.01)
    scalar = product_distortion(absmax_roundtrip(a, 3).T @ absmax_roundtrip(b, 3), exact, N)
    assert scalar == pytest.approx(0.1668, rel=0.05)
    assert absmax_rate(3, N) == pytest.approx(3 + 32 / N)


@pytest.mark.slow
def test_run_paper_all_checks_ok() -> None:
    from hwq.eval.paper import PAPER_TARGETS, paper_markdown, run_paper

    res = run_paper()
    assert {c["name"] for c in res.checks} == set(PAPER_TARGETS)
    assert all(c["ok"] for c in res.checks), res.checks
    rows = {r["scheme"]: r for r in res.rows}
    # E8 has the smallest second moment: best of the nested lattices at the same entropy-coded rate
    ent = [r for r in res.rows if r["rate_kind"] == "entropy-coded"]
    assert min(ent, key=lambda r: r["distortion"])["scheme"].startswith("nested E8")
    assert rows["absmax INT3 per column"]["distortion"] > 2 * rows["nested D3 q=6 dithered"]["distortion"]
    assert "| check |" in paper_markdown(res)
