"""``hwq bench c``: the short bench end to end, its reference checks, the peers' packing, bad flags."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from hwq.codegen.bench import BenchError, run_bench
from hwq.codegen.bench_backends import KERNELS, check_columns
from hwq.codegen.peers import OrtInt8, OrtNBits, cpu_flags, int8_weight_bound, ort_available
from hwq.codegen.readfloor import ReadFloor

from hwq.cli import main
from hwq.config import HwqConfig
from hwq.records import KernelBench, load


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return tmp_path_factory.mktemp("bench_build")


needs_ort = pytest.mark.skipif(ort_available() is not None, reason="onnxruntime/onnx not installed ([bench])")


@needs_ort
def test_short_bench_end_to_end(tmp_path, capsys, build):
    out = tmp_path / "rep"
    rc = main(
        [
            "bench",
            "c",
            "--quick",
            "--shapes",
            "256x192",
            "--batches",
            "1,3",
            "--threads",
            "1,2",
            "--rounds",
            "2",
            "--e8-rounds",
            "1",
            "--build-dir",
            str(build),
            "--out",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0
    js = next(out.glob("c_*_quick.json"))
    rep = load(js, KernelBench)  # a current kernel-bench record
    assert rep.to_dict() == json.loads(js.read_text())  # the record round-trips
    assert rep.backend == "c" and rep.quick and rep.ok and rep.device == rep.stamp.machine
    st = rep.stamp
    assert st.slug == HwqConfig().slug and st.config_hash == HwqConfig().hash and st.date.endswith("Z")
    assert st.tools["onnxruntime"] and st.tools["numpy"] and st.tools["gcc"]
    # every kernel, every (batch, threads) was checked against its reference before timing, and passed
    seen = {(c["kernel"], c["batch"], c["threads"]) for c in rep.checks}
    assert seen == {(k, b, t) for k in KERNELS for b in (1, 3) for t in (1, 2)}
    assert all(c["ok"] and c["value"] <= c["limit"] for c in rep.checks)
    rows = rep.rows
    assert len(rows) == len(KERNELS) * 2 * 2
    for r in rows:
        assert r["min_ms"] > 0 and r["median_ms"] >= r["min_ms"] and r["bytes"] > 0
    # one typed point per row: its minimum time, bytes, threads; e8 points name the E8 config
    assert [(p.kernel, p.batch, p.threads, p.time_s, p.nbytes) for p in rep.points] == [
        (r["kernel"], r["batch"], r["threads"], r["min_ms"] * 1e-3, r["bytes"]) for r in rows]
    fam = {p.kernel: (p.family, p.slug) for p in rep.points}
    assert fam["hwq_exact"] == ("hwq", st.slug) and fam["numpy_fp32"] == ("fp32", "")
    assert fam["e8_exact"] == ("hwq", HwqConfig(lattice="E8", q=7).slug) and fam["ort_q4"][0] == "int4"
    assert set(rep.read_bandwidth_gbps) == {"1", "2"}
    q4 = next(r for r in rows if r["kernel"] == "ort_q4")
    assert q4["bits_per_weight"] == pytest.approx(4.25) and q4["speedup_vs_ort_q4"] == pytest.approx(1.0)
    assert next(r for r in rows if r["kernel"] == "ort_q2")["bits_per_weight"] == pytest.approx(2.25)
    assert next(r for r in rows if r["kernel"] == "numpy_fp32")["bits_per_weight"] == 32
    # numpy ran without the machine's OpenBLAS overrides and says which kernel OpenBLAS picked (by file
    # name: no absolute path in the record)
    blas = rep.detail["numpy_worker"]["blas"]
    assert blas["internal_api"] == "openblas" and "/" not in blas["filepath"]
    assert len(rep.detail["load_average_before"]) == 3 and len(rep.detail["load_average_after"]) == 3
    assert "ORT MatMulNBits 4-bit" in text and "load average before" in text
    md = next(out.glob("c_*_quick.md")).read_text()
    assert "| 256x192 | 3 | 2 | hwq exact D3 q=6 |" in md


@needs_ort
def test_a_wrong_peer_output_stops_the_bench(build, monkeypatch):
    real = OrtNBits.reference
    monkeypatch.setattr(OrtNBits, "reference", lambda self, a: real(self, a) * 1.05)
    with pytest.raises(BenchError, match="CORRECTNESS FAILURE: ORT MatMulNBits 4-bit"):
        run_bench(
            HwqConfig(),
            build,
            shapes=((256, 64),),
            batches=(1,),
            threads=(1,),
            rounds=1,
            kernels=("read_floor", "hwq_exact", "ort_q4"),
            log=lambda s: None,
        )


@needs_ort
def test_nbits_packing_matches_numpy_and_a_wrong_packing_does_not():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((512, 96)).astype(np.float32)
    a = rng.standard_normal((3, 512)).astype(np.float32)
    for bits in (4, 2):
        p = OrtNBits(w, bits, 128)
        ref = p.reference(a)
        assert np.max(np.abs(p.run(a, 1) - ref)) / np.max(np.abs(ref)) < 0.02
        # the dequantized weights are the block quantization of w: within one step everywhere, half a step
        # except where the code range clips, and exact at each block's largest entry
        step = np.abs(w).reshape(4, 128, 96).max(axis=1).repeat(128, axis=0) / (1 << (bits - 1))
        err = np.abs(p.w_deq - w)
        assert np.all(err <= step * (1 + 1e-5)) and np.mean(err <= step / 2 + 1e-6) > 0.95
        top = np.argmax(np.abs(w).reshape(4, 128, 96), axis=1) + 128 * np.arange(4)[:, None]
        assert np.allclose(p.w_deq[top, np.arange(96)], w[top, np.arange(96)], rtol=1e-6)
        p.packed[:] = (p.packed >> bits) | (p.packed << (8 - bits))  # elements shifted by one: wrong order
        bad = OrtNBits.__new__(OrtNBits)
        bad.__dict__.update(p.__dict__)
        bad._sessions, bad._next = {}, {}
        bad._add(1, [__import__("hwq.codegen.peers", fromlist=["_session"])._session(bad._graph(0), 1)])
        assert np.max(np.abs(bad.run(a, 1) - ref)) / np.max(np.abs(ref)) > 0.1
    wmax = int8_weight_bound()
    w8 = rng.integers(-wmax, wmax + 1, (300, 17), dtype=np.int8)
    a8 = rng.integers(0, 256, (2, 300), dtype=np.uint8)
    q = OrtInt8(w8)
    assert np.array_equal(q.run(a8, 1), q.reference(a8))


def test_e8_rounds_default_follows_avx2():
    """A full run gives E8 15 rounds where it has a vector decode (AVX2, AVX-512 VBMI), 3 where it runs the
    generic one."""
    from hwq.commands.bench_c import e8_default_rounds

    assert e8_default_rounds("flags : avx2 avx512f avx512bw avx512_vbmi avx512_vnni") == 15
    assert e8_default_rounds("flags : avx2 fma avx512f avx512bw") == 15
    assert e8_default_rounds("flags : avx2 fma") == 15
    assert e8_default_rounds("flags : sse2 sse4_2 avx") == 3
    assert e8_default_rounds("") == 3


def test_cpu_flags_reads_a_cpuinfo_line():
    assert cpu_flags("flags\t\t: fpu avx avx2") == {"fpu", "avx", "avx2"}
    assert cpu_flags("fpu sse2") == {"fpu", "sse2"}
    assert "flags" not in cpu_flags()


def test_int8_weight_bound_follows_vnni():
    """MatMulInteger's weights: full int8 range with VNNI, 7 bits without (vpmaddubsw's int16 pair sums)."""
    assert int8_weight_bound("flags : fpu avx avx2 avx512f avx512_vnni") == 127
    assert int8_weight_bound("flags : fpu avx avx2 avx_vnni") == 127
    assert int8_weight_bound("flags : fpu avx avx2 fma") == 63
    assert 2 * 255 * (int8_weight_bound("flags : avx2") + 1) <= 32767


def _lane_sums(buf: np.ndarray) -> int:
    """The loop's checksum: the 8 64-bit lanes (offset mod 64) XORed over the 64-byte chunks, summed,
    plus the bytes of a tail shorter than 64."""
    n = buf.size // 64 * 64
    v = np.bitwise_xor.reduce(buf[:n].view(np.uint64).reshape(-1, 8), axis=0)
    return (int(sum(int(x) for x in v)) + int(buf[n:].astype(np.int64).sum())) % 2**64


@pytest.mark.parametrize("n", [512 * 37, 64 * 5, (1 << 20) + 64 * 7 + 3])
def test_read_floor_reads_every_byte(build, n):
    """Every byte of the 4 streams, of the chunks after them and of a byte tail enters the checksum."""
    rf = ReadFloor(build / "readfloor")
    assert rf.isa in ("avx512", "avx2", "scalar")
    buf = np.random.default_rng(2).integers(0, 256, n, dtype=np.uint8)
    assert rf.read(buf, 1) == _lane_sums(buf)
    for pos in sorted({0, n // 4 + 5, n // 2 + 9, 3 * n // 4 + 17, n - 70, n - 1}):
        before = rf.read(buf, 1)
        buf[pos] ^= 1
        assert rf.read(buf, 1) != before and rf.read(buf, 1) == _lane_sums(buf), pos
    assert rf.bandwidth(1 << 20, 1, reps=2) > 1e8


def test_check_columns_cover_both_ends():
    c = check_columns(4096)
    assert 0 in c and 4095 in c and 2048 in c and len(c) <= 24
    assert list(check_columns(5)) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--shapes", "100x64"], "not a multiple of 128"),
        (["--shapes", "4096by4096"], "KxN"),
        (["--batches", "0"], "between 1 and 64"),
        (["--threads", "a"], "integers separated by commas"),
        (["--rounds", "0"], "between 1 and 1000"),
        (["--kernels", "hwq_exact,nope"], "unknown nope"),
    ],
)
def test_bad_flags_one_line_exit_2(argv, msg, capsys, tmp_path):
    if ort_available() is not None and "--kernels" not in argv:
        argv = argv + ["--kernels", "hwq_exact"]
        if "128" in msg:
            pytest.skip("the block check applies to the ORT kernels")
    assert main(["bench", "c", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_missing_onnxruntime_names_the_extra(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert main(["bench", "c", "--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "[bench]" in err and "onnxruntime" in err and len(err.splitlines()) == 1
