"""The committed table of tuned beta0 (hwq/data/tuned_beta0.json, hwq.tuned_table): it holds exactly what
hwq.tuning.tuned_beta0 computes, the config constructor reads it without the search, a miss says how to
tune."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from hwq.config import HwqConfig, UntabulatedBeta0
from hwq.errors import HwqError
from hwq.tuned_table import lookup, table
from hwq.tuning import TABLE_EXTRA, TABLE_GRID, TABLE_STEPS, table_keys, tuned_beta0

#: combinations the repository's defaults, reports, golden vectors and README use
USED = [("D3", 6, False, 4, 2 ** 0.5), ("E8", 7, False, 4, 2 ** 0.5), ("Z", 8, False, 4, 2 ** 0.5),
        ("D4", 4, False, 4, 2 ** 0.5), ("D3", 6, True, 16, 2 ** (1 / 3)), ("E8", 3, False, 16, 2 ** 0.5)]


def test_table_holds_exactly_the_grid() -> None:
    assert set(table()) == set(table_keys())
    grid = sum(len(qs) * 2 * len(lens) * len(TABLE_STEPS) for qs, lens in TABLE_GRID.values())
    assert len(table()) == len(table_keys()) == grid + len(TABLE_EXTRA)
    assert set(TABLE_GRID) == {"Z", "D3", "D4", "E8"} and set(TABLE_GRID["D3"][1]) == {*range(1, 9), 16}


#: a sample of the grid's ladders of 4 rungs and more (the short ones: SHORT below)
SAMPLE = random.Random(14).sample([k for k in table_keys() if k[3] >= 4], 8)


@pytest.mark.parametrize("key", USED + SAMPLE, ids=str)
def test_table_values_are_what_tuned_beta0_computes(key) -> None:
    assert lookup(*key) == tuned_beta0(*key)  # bit for bit


@pytest.mark.slow
def test_whole_table_is_what_tuned_beta0_computes() -> None:
    bad = [(k, v, tuned_beta0(*k)) for k, v in table().items() if tuned_beta0(*k) != v]
    assert not bad, bad[:5]


#: D4 and E8 with 1- and 2-rung ladders (both steps, dither off and on): tabulated like every other ladder
SHORT = [("D4", 6, False, 1, 2 ** 0.5), ("E8", 8, True, 1, 2 ** (1 / 3)), ("D4", 4, True, 2, 2 ** 0.5),
         ("E8", 7, False, 2, 2 ** (1 / 3)), ("E8", 14, False, 2, 2 ** 0.5)]


@pytest.mark.parametrize("key", SHORT, ids=str)
def test_short_d4_and_e8_ladders_are_in_the_table(key) -> None:
    lat, q, dither, n, step = key
    cfg = HwqConfig(lattice=lat, q=q, dither=dither, ladder_len=n, ladder_step=step)  # no search, no miss
    assert cfg.beta0 == lookup(*key) == tuned_beta0(*key)  # bit for bit
    assert set(TABLE_GRID[lat][1]) == {*range(1, 9), 16}


def test_constructor_reads_the_table_and_never_imports_tuning() -> None:
    code = ("import sys\nfrom hwq.config import HwqConfig, paper_config\n"
            "cs = [HwqConfig(), HwqConfig(lattice='E8', q=7), HwqConfig(beta0='auto', dither=True, "
            "ladder_len=8), paper_config(), HwqConfig().replace(lattice='Z', q=8), "
            "HwqConfig.tuned(lattice='D4', q=4)]\nprint([c.beta0 for c in cs])\n"
            "assert 'hwq.tuning' not in sys.modules, 'hwq.tuning was imported'\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    s2, s3 = 2 ** 0.5, 2 ** (1 / 3)
    want = [lookup("D3", 6, False, 4, s2), lookup("E8", 7, False, 4, s2), lookup("D3", 6, True, 8, s2),
            lookup("D3", 6, True, 16, s3), lookup("Z", 8, False, 4, s2), lookup("D4", 4, False, 4, s2)]
    assert out.stdout.strip() == repr(want) and None not in want


def test_a_combination_outside_the_table_names_the_fix() -> None:
    with pytest.raises(UntabulatedBeta0) as e:
        HwqConfig(q=17)
    msg = str(e.value)
    assert isinstance(e.value, HwqError) and "\n" not in msg
    assert "no tuned value for lattice=D3, q=17, dither=False, ladder_len=4" in msg
    assert "give beta0" in msg and "HwqConfig.tuned(" in msg and "hwq config --tune" in msg
    with pytest.raises(UntabulatedBeta0, match="ladder_step=1.3"):
        HwqConfig().replace(ladder_step=1.3)
    with pytest.raises(HwqError, match="'q' = 1 is invalid"):  # other fields are validated first
        HwqConfig.tuned(q=1)


def test_tuned_runs_the_search_only_on_a_miss() -> None:
    cfg = HwqConfig.tuned(q=17, ladder_len=3)
    assert cfg.beta0 == tuned_beta0("D3", 17, False, 3, 2 ** 0.5)
    assert cfg.replace(lanes=4).beta0 == cfg.beta0  # replace keeps an explicit (searched) beta0
    assert HwqConfig.tuned() == HwqConfig() and HwqConfig.tuned(beta0=0.5).beta0 == 0.5


def test_cli_config_tune(tmp_path) -> None:
    hwq = [sys.executable, "-m", "hwq.cli", "config"]
    miss = subprocess.run(hwq + ["--set", "q=17"], capture_output=True, text=True, timeout=120)
    assert miss.returncode == 2 and len(miss.stderr.strip().splitlines()) == 1
    assert "hwq config --tune" in miss.stderr
    out = tmp_path / "c.toml"
    ok = subprocess.run(hwq + ["--tune", "--set", "q=17", "--out", str(out)], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "tuning it now" in ok.stderr
    assert 'beta0 = "auto"' not in out.read_text()
    from hwq.config import load_config

    assert load_config(out).beta0 == tuned_beta0("D3", 17, False, 4, 2 ** 0.5)
