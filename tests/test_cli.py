"""The hwq command line: --help everywhere, exit status 2 with one line on bad input, golden, config."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import hwq.commands
from hwq.cli import build_parser, main

HWQ = Path(sys.executable).with_name("hwq")


def _hwq(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = [str(HWQ)] if HWQ.exists() else [sys.executable, "-m", "hwq.cli"]
    env = dict(os.environ, PYTHONWARNINGS="error")
    return subprocess.run(exe + list(args), capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def _commands() -> list[list[str]]:
    out = []
    for m in pkgutil.iter_modules(hwq.commands.__path__):
        if not m.name.startswith("_"):
            out.append(m.name.split("_", 1))
    return sorted(out)


def test_top_level_help_lists_every_command() -> None:
    r = _hwq("--help")
    assert r.returncode == 0 and r.stderr == ""
    for cmd in _commands():
        assert cmd[0] in r.stdout


@pytest.mark.parametrize("cmd", _commands(), ids=" ".join)
def test_subcommand_help_exits_zero(cmd: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as ei:
        main(cmd + ["--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hwq " + " ".join(cmd))


def test_group_help_exits_zero(capsys) -> None:
    for group in {c[0] for c in _commands() if len(c) == 2}:
        with pytest.raises(SystemExit) as ei:
            main([group, "--help"])
        assert ei.value.code == 0
    build_parser()  # discovery does not fail


def _one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwq: error:"), r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0]


def test_bad_config_file_and_set_value_subprocess(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('lattice = "A2"\n')
    _one_line_error(_hwq("config", "--config", str(bad)), "lattice", "A2")
    _one_line_error(_hwq("config", "--set", "q=1"), "'q' = 1")


@pytest.mark.parametrize("argv, words", [
    (["config", "--set", "hadamard=48"], ["hadamard", "48"]),
    (["config", "--set", "colour=red"], ["colour"]),
    (["config", "--set", "q"], ["FIELD=VALUE"]),
    (["config", "--config", "{tmp}/missing.toml"], ["does not exist"]),
    (["golden", "--config", "{tmp}/broken.json", "--out", "{tmp}"], ["not valid JSON"]),
    (["config", "--out", "{tmp}/c.yaml"], [".toml or .json"]),
])
def test_bad_input_exit_2_one_line(tmp_path, capsys, argv: list[str], words: list[str]) -> None:
    (tmp_path / "broken.json").write_text("{")
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hwq: error:") and "Traceback" not in cap.err
    for w in words:
        assert w in lines[0]


def test_golden_write_then_verify(tmp_path, capsys) -> None:
    cfg_file = tmp_path / "c.toml"
    assert main(["config", "--set", "beta0=0.43", "--out", str(cfg_file)]) == 0
    out = tmp_path / "g"
    assert main(["golden", "--config", str(cfg_file), "--out", str(out), "--ops", "64"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["golden", "--config", str(cfg_file), "--out", str(out), "--verify"]) == 0
    assert "match the reference model" in capsys.readouterr().out
    # a verify of a folder without the files is a one-line error, exit 2
    assert main(["golden", "--config", str(cfg_file), "--out", str(tmp_path / "none"), "--verify"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwq: error:") and len(err.strip().splitlines()) == 1


def test_golden_cli_subprocess(tmp_path) -> None:
    r = _hwq("golden", "--out", str(tmp_path), "--ops", "16")
    assert r.returncode == 0, r.stderr
    r = _hwq("golden", "--verify", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "match the reference model" in r.stdout


def test_config_set_prints_e8_slug(capsys) -> None:
    assert main(["config", "--set", "lattice=E8", "--set", "q=7"]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("# hwq config e8q7_")
    assert 'lattice = "E8"' in out and "q = 7" in out and "decoder=arith" in out


def test_config_out_round_trip(tmp_path, capsys) -> None:
    p = tmp_path / "x.json"
    assert main(["config", "--set", "lanes=4", "--set", "beta0=0.5", "--out", str(p)]) == 0
    assert main(["config", "--config", str(p)]) == 0
    out = capsys.readouterr().out
    assert "lanes = 4" in out and "beta0 = 0.5" in out


def test_hwq_warnings_print_as_one_line(capsys, monkeypatch):
    """hwq's own warnings (top-rung overloads) reach the terminal as one 'hwq: warning:' line, no source
    line."""
    from hwq.cli import _warning_line
    from hwq.nested import OverloadWarning

    _warning_line(OverloadWarning("3 of 64 blocks\n overloaded the top rung"), OverloadWarning, "x.py", 1)
    err = capsys.readouterr().err
    assert err == "hwq: warning: 3 of 64 blocks overloaded the top rung\n"
    seen = []
    monkeypatch.setattr("hwq.cli._python_showwarning", lambda *a: seen.append(a[:4]))
    _warning_line(UserWarning("other"), UserWarning, "x.py", 7)
    assert len(seen) == 1 and seen[0][1:] == (UserWarning, "x.py", 7)
