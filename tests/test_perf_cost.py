"""hwq.perf.cost: bytes from the container, roofline arithmetic, model-level tables, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.matmul import encode_matrix
from hwq.perf.cost import dense_cost, hwq_cost, hwq_weight_bytes, layer_rows, model_summary, predict, \
    speedup_vs_batch
from hwq.perf.devices import Device, get_device, load_devices
from hwq.perf.models import Workload, get_model

CONFIGS = [HwqConfig(), HwqConfig(lattice="Z", q=8), HwqConfig(lattice="D4", q=4),
           HwqConfig(lattice="E8", q=7)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.slug)
def test_weight_bytes_equal_the_container(cfg: HwqConfig) -> None:
    k = cfg.padded_k(130)
    a = np.random.default_rng(0).standard_normal((k, 5))
    enc = encode_matrix(a, cfg)
    assert hwq_weight_bytes(cfg, k, 5) == enc.nbytes()
    # a ragged K is padded to what the encoder needs, never less
    assert hwq_weight_bytes(cfg, 130, 5) == enc.nbytes()
    assert cfg.padded_k(k) == k and k % cfg.dim == 0 and k % cfg.hadamard == 0


def test_bits_per_weight_of_default_config() -> None:
    cfg = HwqConfig()  # D3 q=6: 8-bit code + 2-bit ladder per 3 weights, K padded 4096 -> 4224, 32-bit norm
    c = hwq_cost(cfg, 4096, 4096, 1)
    assert c.bits_per_weight == pytest.approx((4224 // 3 * 10 / 8 + 4) * 8 / 4096)
    fp = dense_cost(4096, 4096, 1)
    assert fp.weight_bytes == 2 * 4096 * 4096 and fp.bits_per_weight == 16


def _dev(bw: float = 1e12, peak: float = 1e14) -> Device:
    return Device(key="t", name="test", kind="gpu", bandwidth=bw, peak={"fp16": peak})


def test_roofline_is_max_of_memory_and_compute() -> None:
    dev = _dev()
    c = dense_cost(1000, 1000, 1)
    p = predict(c, dev)
    assert p.time == pytest.approx(c.bytes / 1e12) and p.bound == "memory"
    big = dense_cost(1000, 1000, 4096)
    p2 = predict(big, dev)
    assert p2.bound == "compute" and p2.time == pytest.approx(big.ops / 1e14)
    assert dev.ridge("fp16") == 100.0
    # attained ops/s never exceed either roof
    for b in (1, 16, 256, 4096):
        p = predict(hwq_cost(HwqConfig(), 4096, 4096, b), dev)
        assert p.attained <= min(1e14, 1e12 * p.cost.intensity) * (1 + 1e-12)


def test_decode_speedup_approaches_ideal_and_falls_with_batch() -> None:
    cfg, dev = HwqConfig(), get_device("h100")
    mdl = get_model("llama3-8b")
    wl = Workload("decode", "decode", 1)
    s = model_summary(layer_rows(cfg, mdl, dev, wl), wl, dev, "fp16")
    assert 0.97 * s["ideal_speedup"] < s["speedup"] <= s["ideal_speedup"] * 1.0001
    assert s["bandwidth"] == 2.94e12 and s["bandwidth_source"] == "measured"
    curve = speedup_vs_batch(cfg, mdl, dev, [1, 16, 256, 4096])
    sp = [r["speedup"] for r in curve]
    assert sp == sorted(sp, reverse=True) and sp[-1] < 1.5


def test_host_is_measured() -> None:
    host = get_device("host")
    assert host.bandwidth_measured and host.bandwidth_measured > 1e8 and host.peak["fp32"] > 1e8


def test_bad_input_names_the_problem(tmp_path) -> None:
    with pytest.raises(HwqError, match="unknown device 'nope'.*h100-sxm"):
        get_device("nope")
    with pytest.raises(HwqError, match="unknown model"):
        get_model("gpt-9")
    bad = tmp_path / "dev.toml"
    bad.write_text('[x]\nkind = "gpu"\nbandwidth_gbs = -3\n')
    with pytest.raises(HwqError, match="bandwidth_gbs.*positive"):
        load_devices(bad)
    with pytest.raises(HwqError, match="does not exist"):
        load_devices(tmp_path / "missing.toml")
    with pytest.raises(HwqError, match="no peak compute for dtype 'int4'"):
        get_device("h100").peak_for("int4")
    with pytest.raises(HwqError, match="K must be a positive integer"):
        hwq_cost(HwqConfig(), 0, 10, 1)


def test_device_file_extends_catalog(tmp_path) -> None:
    f = tmp_path / "dev.toml"
    f.write_text('[mybox]\nkind = "gpu"\nbandwidth_gbs = 500\npeak_tops = { fp16 = 50 }\n')
    d = get_device("mybox", f)
    assert d.bandwidth == 5e11 and d.peak["fp16"] == 5e13


