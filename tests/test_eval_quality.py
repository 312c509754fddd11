"""Tests of hwq.eval.quality.product_quality: the same D as a direct computation and as ``hwq eval rd``,
packed rates, ladder_select visible in the result, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.eval.quality import product_quality
from hwq.eval.rd import run_rd
from hwq.matmul import encode_matrix, estimate_product
from hwq.quant.registry import make
from hwq.theory import gamma


def test_registry_point_matches_a_direct_computation() -> None:
    q = product_quality("int4_g128", n=256, cols=16, seed=3)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((256, 16)), rng.standard_normal((256, 16))
    qz = make("int4_g128", 4)
    est = qz.estimate_product(qz.encode(a), qz.encode(b, 1))
    d = float(np.sum((est - a.T @ b) ** 2) / (256 * 16 * 16))
    assert q.distortion == d and q.point == "int4_g128"
    assert q.rate_packed == q.rate == 4.125 and q.ratio_packed == d / float(gamma(4.125))
    assert 0.005 < q.weight_mse < 0.02 and q.overload_blocks == 0


def test_same_distortion_as_the_rd_table() -> None:
    rows, _ = run_rd(n=96, cols=8, rates=[4.0], methods=["mxfp4", "absmax"])
    by = {r["method"]: r for r in rows}
    assert product_quality("mxfp4", n=96, cols=8).distortion == by["mxfp4"]["distortion"]
    assert product_quality("absmax", 4, n=96, cols=8).distortion == by["absmax"]["distortion"]


@pytest.mark.filterwarnings("ignore::hwq.nested.OverloadWarning")
def test_config_point_uses_the_packed_format_and_ladder_select() -> None:
    cfg = HwqConfig()
    q = product_quality(cfg, n=768, cols=32)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((768, 32)), rng.standard_normal((768, 32))
    ea = encode_matrix(a, cfg, 0)
    est = estimate_product(ea, encode_matrix(b, cfg, 1))
    assert q.distortion == float(np.sum((est - a.T @ b) ** 2) / (768 * 32 * 32))
    assert q.rate_packed == ea.rate_packed() and q.point == cfg.slug
    assert q.ratio_packed == pytest.approx(q.distortion / float(gamma(ea.rate_packed())))
    best = product_quality(cfg.replace(ladder_select="best"), n=768, cols=32)
    assert best.rate_packed == q.rate_packed and best.distortion < q.distortion
    assert product_quality(HwqConfig(hadamard=512), n=768, cols=8).n == 1536  # rounded up to k_step


def test_bad_points_are_refused() -> None:
    with pytest.raises(HwqError, match="needs a target rate"):
        product_quality("d3")
    with pytest.raises(HwqError, match="unknown quantizer"):
        product_quality("int5_g128")
    with pytest.raises(HwqError, match="n must be an integer"):
        product_quality("mxfp4", n=0)
    with pytest.raises(HwqError, match="a point is"):
        product_quality(3.0)
    with pytest.raises(HwqError, match="not a multiple of 128"):
        product_quality("int3_g128", n=96)
