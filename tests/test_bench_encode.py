"""hwq bench encode: the figures it prints are the ones its record holds, stamped and read back exactly."""

from __future__ import annotations

from hwq.bench_encode import bench_encode, encode_markdown, save_encode
from hwq.config import HwqConfig
from hwq.records import EncodeBench, load


def test_small_run_writes_a_record(tmp_path) -> None:
    cfg = HwqConfig()
    res = bench_encode([cfg], n=192, cols=8, repeat=1, workers=1)
    assert isinstance(res, EncodeBench) and res.threads == 1 and [r["slug"] for r in res.rows] == [cfg.slug]
    r = res.rows[0]
    assert r["padded_rows"] == 192 and r["encode_MBps"] > 0 and 2.5 < r["rate_packed"] < 5
    assert r["encode_MBps"] == res.input_MB / r["encode_s"]
    js, md = save_encode(res, tmp_path)
    assert load(js, EncodeBench) == res
    text = md.read_text()
    assert res.stamp.line() in text and f"| `{cfg.slug}` | {r['encode_MBps']:.1f} |" in text
    assert text == encode_markdown(res)
