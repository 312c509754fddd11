"""hwq.perf.fpga: the RTL unit's clock (synthesis or assumed) and its time from the exact cycle model."""

from __future__ import annotations

import pytest

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.perf.cost import dense_cost, hwq_cost, pair
from hwq.perf.devices import get_device
from hwq.perf.devices import synth_reports
from hwq.perf.fpga import predict_rtl, rtl_cycles, rtl_unit
from hwq.rtl.cycles import gemv_cycles


def test_rtl_unit_uses_synthesis_report_or_says_assumed(tmp_path) -> None:
    cfg = HwqConfig()
    dev = get_device("ecp5")
    r = rtl_unit(cfg, dev, tmp_path)
    assert r["fmax_hz"] == 150e6 and "ASSUMED" in r["fmax_source"]
    from hwq.records import Stamp, Synth, SynthRun

    run = SynthRun(slug=cfg.slug, module=f"{cfg.slug}_mac", unit="mac", lanes=cfg.lanes, target="ecp5",
                   device="LFE5U-85F", luts=5000, ffs=1, brams=0, dsps=0, fmax_mhz=171.5, target_mhz=150.0,
                   latency=11, seed=1)
    Synth(stamp=Stamp.now(cfg), target="ecp5", runs=(run,)).save(tmp_path / "synth" / "x.json")
    assert synth_reports(tmp_path)[0]["fmax_mhz"] == 171.5
    r = rtl_unit(cfg, dev, tmp_path)
    assert r["fmax_hz"] == 171.5e6 and "x.json" in r["fmax_source"]
    assert r["blocks_per_s"] == cfg.lanes * 171.5e6
    assert r["weight_bytes_per_s"] == pytest.approx(cfg.lanes * 171.5e6 * cfg.block_bits / 8)
    with pytest.raises(HwqError, match="not an FPGA"):
        rtl_unit(cfg, get_device("h100"), tmp_path)




def test_fpga_prediction_is_the_cycle_model_of_the_simulated_shape(tmp_path) -> None:
    """The board's time of the simulated shape (K=768, M=32, default config) is gemv_cycles of the top unit
    over the clock: the activation load included, as the Verilator run measured (1825 cycles)."""
    cfg = HwqConfig()
    dev = rtl_unit(cfg, get_device("ecp5"), tmp_path)["device"]
    assert dev.clock_hz == 150e6
    cycles = gemv_cycles(cfg, 32, 768, "top")
    assert cycles == rtl_cycles(cfg, 768, 32) == 1825
    p = predict_rtl(hwq_cost(cfg, 768, 32, 1, fpga=True), dev, cfg)
    assert p.t_compute == pytest.approx(1825 / 150e6) and p.bound == "compute"
    assert p.time == pytest.approx(max(1825 / 150e6, p.cost.bytes / dev.bw))
    # batch b: b products one after the other; a K that is not a multiple of lcm(d, h) is padded first
    assert rtl_cycles(cfg, 768, 32, 4) == 4 * 1825
    assert rtl_cycles(cfg, 700, 32) == gemv_cycles(cfg, 32, cfg.padded_k(700), "top")
    # the study's per-layer pair: hwq and the fp16 baseline both on the unit's cycles
    ph, pf = pair(cfg, dev, 768, 32, 1, "rtl", "weight-only")
    assert ph.t_compute == pf.t_compute == pytest.approx(1825 / 150e6)
    assert pf.t_memory == pytest.approx(dense_cost(768, 32, 1).bytes / dev.bw)


def test_fpga_prediction_refuses_a_board_without_a_clock() -> None:
    cfg = HwqConfig()
    with pytest.raises(HwqError, match="needs a clock"):
        predict_rtl(hwq_cost(cfg, 768, 32, 1), get_device("h100"), cfg)


def test_top_latency_probe_equals_the_built_unit() -> None:
    """The roofline asks the top units' latency without building them (a built, never elaborated unit warns);
    the cheap probe equals what the built unit says."""
    from hwq.rtl.probe import discard
    from hwq.rtl.units import unit

    for cfg, names in ((HwqConfig(), ("top", "luttop")), (HwqConfig(lattice="E8", q=7), ("top",))):
        for name in names:
            built = unit(name).make(cfg)
            discard(built, *(getattr(built, a, None) for a in ("had", "mac", "lut", "enc")))
            assert unit(name).latency(cfg) == built.latency
