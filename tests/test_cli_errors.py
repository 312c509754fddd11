"""The one error path of the CLI (issue #13): every bad input a user can cause, including OS errors, encoding
errors and damaged files, gives exit status 2, exactly one line on stderr, no traceback, and changes nothing
on disk (every file and folder under the working folder is snapshotted before and after)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwq.cli import build_parser, error_line, main

NOBODY = 65534


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block without root's override of file permissions (root ignores a read-only mode bit):
    as root, the effective uid becomes ``nobody`` for the block; otherwise nothing changes."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root`` with its kind, mode and content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = Path(dirpath) / d
            out[str(p.relative_to(root))] = ("dir", stat.S_IMODE(p.lstat().st_mode))
        for f in filenames:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = ("file", stat.S_IMODE(p.lstat().st_mode), p.read_bytes())
    return out


@pytest.fixture(scope="module")
def golden_pair(tmp_path_factory) -> Path:
    """A real golden npz + manifest (small), copied into each case that damages one."""
    d = tmp_path_factory.mktemp("golden")
    assert main(["golden", "--out", str(d), "--ops", "16"]) == 0
    return d


@pytest.fixture
def work(golden_pair: Path, monkeypatch) -> Iterator[Path]:
    """A working folder every user can traverse (the read-only cases run as ``nobody`` under root), with
    the inputs of the table: files in the way, a read-only folder, damaged config and golden files, a
    user's Makefile and a committed synthesis report."""
    base = Path(tempfile.mkdtemp(prefix="hwq_cli_errors_"))
    base.chmod(0o755)
    w = base / "w"
    w.mkdir(mode=0o755)
    (w / "afile").write_text("a user's file\n")
    (w / "latin1.toml").write_bytes('lattice = "D3"  # caf\xe9\n'.encode("latin-1"))
    (w / "dir.toml").mkdir()
    (w / "mine.toml").write_text('lattice = "E8"\nq = 7\n')
    ro = w / "ro"
    ro.mkdir()
    (ro / "keep.txt").write_text("read-only folder\n")
    kern = w / "kern"
    kern.mkdir()
    (kern / "Makefile").write_text("all:\n\techo my own Makefile\n")
    synth = w / "synth"
    synth.mkdir()
    (synth / "d3q6_nd_h64_l8_a1464a_mac_ecp5.md").write_text("# committed report\n")
    for name, damage in [("npz_garbage", "npz:garbage"), ("npz_truncated", "npz:half"),
                         ("man_garbage", "json:garbage"), ("man_truncated", "json:half"),
                         ("man_arrays", "json:arrays"), ("unreadable", "npz:mode000")]:
        g = w / name
        shutil.copytree(golden_pair, g)
        kind, how = damage.split(":")
        f = next(g.glob(f"*.{kind}"))
        if how == "garbage":
            f.write_bytes(b"\x00garbage\xff" * 10)
        elif how == "half":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        elif how == "arrays":
            doc = json.loads(f.read_text())
            doc["arrays"]["x"] = 5
            f.write_text(json.dumps(doc))
        elif how == "mode000":
            f.chmod(0)
    for p in [w, *w.rglob("*")]:
        if p.is_dir():
            p.chmod(0o755)
    ro.chmod(0o555)
    monkeypatch.chdir(w)
    yield w
    for p in [w, *w.rglob("*")]:
        with contextlib.suppress(OSError):
            p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(base)


def _with_config(cmd: list[str]) -> list[list[str]]:
    """Every subcommand that takes --config, with the other arguments it requires."""
    extra = {"rtl": ["--out", "o"], "codegen": ["--out", "o"], "eval model": ["minilm"]}
    out = []
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    for name, p in sub.choices.items():
        leaves = [(f"{name} {n}", q) for n, q in p._subparsers._group_actions[0].choices.items()] \
            if p._subparsers is not None else [(name, p)]
        for full, q in leaves:
            if any(a.dest == "config" for a in q._actions):
                out.append(full.split() + cmd + extra.get(full, []))
    return out


CASES: list[tuple[str, list[str], list[str], bool]] = [
    # (id, argv, words in the message, run without root's permission override)
    # --- encoding and config-path errors, for every subcommand that reads a config
    *[(f"latin1-config-{'-'.join(a[:2])}", a, ["latin1.toml", "not UTF-8", "0xe9"], False)
      for a in _with_config(["--config", "latin1.toml"])],
    *[(f"dir-config-{'-'.join(a[:2])}", a, ["dir.toml", "is a folder"], False)
      for a in _with_config(["--config", "dir.toml"])],
    # --- --out onto an existing file
    ("rtl-out-file", ["rtl", "--out", "afile"], ["afile", "is a file"], False),
    ("golden-out-file", ["golden", "--out", "afile"], ["afile", "is a file"], False),
    ("codegen-out-file", ["codegen", "--out", "afile"], ["afile", "is a file"], False),
    ("config-out-existing", ["config", "--set", "q=5", "--out", "mine.toml"], ["mine.toml", "--force"],
     False),
    ("config-out-dir", ["config", "--out", "dir.toml"], ["dir.toml", "folder"], False),
    ("roofline-out-file", ["roofline", "--out", "afile", "--no-plot"], ["afile", "is a file"], False),
    ("sim-out-file", ["sim", "--out", "afile"], ["afile", "is a file"], False),
    ("synth-cached-out-file", ["synth", "--cached-only", "--out", "afile"], ["afile", "is a file"], False),
    ("report-reports-file", ["report", "--reports", "afile"], ["afile", "is a file"], False),
    ("report-html-dir", ["report", "--reports", "r", "--html", "ro"], ["--html", "folder"], False),
    # --- --out into a read-only folder
    ("rtl-out-ro", ["rtl", "--out", "ro/x"], ["ro/x", "not writable"], True),
    ("golden-out-ro", ["golden", "--out", "ro"], ["ro", "not writable"], True),
    ("codegen-out-ro", ["codegen", "--out", "ro/k"], ["not writable"], True),
    ("config-out-ro", ["config", "--out", "ro/c.toml"], ["not writable"], True),
    ("roofline-out-ro", ["roofline", "--out", "ro/r", "--no-plot"], ["not writable"], True),
    ("sim-out-ro", ["sim", "--out", "ro/s"], ["not writable"], True),
    ("synth-cached-out-ro", ["synth", "--cached-only", "--out", "ro/s"], ["not writable"], True),
    ("report-out-ro", ["report", "--reports", "ro"], ["not writable"], True),
    ("flow-out-ro", ["flow", "--out", "ro/f", "--reports", "r"], ["not writable"], True),
    # --- golden
    ("golden-k0", ["golden", "--k", "0", "--out", "g"], ["K = 0", "positive"], False),
    ("golden-verify-npz-garbage", ["golden", "--verify", "--out", "npz_garbage"], ["npz", "hwq golden"],
     False),
    ("golden-verify-npz-truncated", ["golden", "--verify", "--out", "npz_truncated"], ["npz", "hwq golden"],
     False),
    ("golden-verify-manifest-garbage", ["golden", "--verify", "--out", "man_garbage"], ["json", "manifest"],
     False),
    ("golden-verify-manifest-truncated", ["golden", "--verify", "--out", "man_truncated"],
     ["json", "manifest"], False),
    ("golden-verify-manifest-arrays", ["golden", "--verify", "--out", "man_arrays"], ["json", "damaged"],
     False),
    # a real OSError from a real read (no pre-check): the central handler names the file and the fix
    ("golden-verify-unreadable", ["golden", "--verify", "--out", "unreadable"],
     ["Permission denied", ".npz", "permissions"], True),
    # --- synth
    ("synth-freq-0", ["synth", "--freq", "0"], ["--freq", "0"], False),
    ("synth-freq-neg", ["synth", "--freq", "-5"], ["--freq", "-5"], False),
    ("synth-freq-nan", ["synth", "--freq", "nan"], ["--freq", "nan"], False),
    ("synth-cached-freq-neg", ["synth", "--cached-only", "--freq", "-5", "--out", "synth"], ["--freq"],
     False),
    ("synth-seed-neg", ["synth", "--seed", "-1"], ["--seed", "placement seed", "-1"], False),
    ("synth-freq-text", ["synth", "--freq", "abc"], ["--freq", "abc", "--help"], False),
    # --- sim
    ("sim-units-empty", ["sim", "--units", ""], ["--units", "top", "mac"], False),
    ("sim-units-unknown", ["sim", "--units", "nope"], ["nope", "top", "mac", "had"], False),
    ("sim-nothing", ["sim", "--no-cocotb", "--bulk", "0"], ["verifies nothing"], False),
    # --- codegen never overwrites a user's file
    ("codegen-user-makefile", ["codegen", "--out", "kern"], ["kern/Makefile", "not written by hwq"], False),
]


@pytest.mark.parametrize("argv, words, unpriv", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_one_line_exit_2_nothing_changed(work: Path, capsys, argv, words, unpriv) -> None:
    before = snapshot(work)
    with unprivileged() if unpriv else contextlib.nullcontext(), \
            pytest.raises(SystemExit) if "--help" in words else contextlib.nullcontext() as ei:
        rc = main(argv)
    if ei is not None:
        rc = ei.value.code
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and "Traceback" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert snapshot(work) == before


@pytest.mark.parametrize("cmd", [["roofline", "--no-plot"], ["flow"]], ids=" ".join)
def test_read_only_working_directory(work: Path, capsys, monkeypatch, cmd) -> None:
    monkeypatch.chdir(work / "ro")
    before = snapshot(work)
    with unprivileged():
        rc = main(cmd)
    err = capsys.readouterr().err
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "working directory is not writable" in err
    assert snapshot(work) == before


def test_codegen_rerun_overwrites_only_its_own_files(tmp_path, capsys) -> None:
    out = tmp_path / "k"
    assert main(["codegen", "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine\n")
    mk = out / "Makefile"
    mine = mk.read_bytes()
    assert main(["codegen", "--out", str(out), "--config", str(_cfg(tmp_path, lanes=4))]) == 0  # new content
    assert mk.read_bytes() != mine and (out / "notes.txt").read_text() == "mine\n"
    capsys.readouterr()
    mk.write_text(mk.read_text() + "# my edit\n")  # edited by the user since hwq wrote it: refused
    before = snapshot(tmp_path)
    assert main(["codegen", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Makefile" in err and "edited" in err and len(err.splitlines()) == 1
    assert snapshot(tmp_path) == before


def _cfg(tmp_path: Path, **fields) -> Path:
    p = tmp_path / "cfg.toml"
    from hwq.config import HwqConfig

    HwqConfig(**fields).save(p)
    return p


def test_internal_bug_still_shows_a_traceback() -> None:
    assert error_line(KeyError("x")) is None and error_line(AttributeError("y")) is None
    assert error_line(PermissionError(13, "Permission denied", "/x")) == \
        "Permission denied: /x (check its permissions or choose another path)"


def test_subprocess_one_line(tmp_path) -> None:
    """The installed entry point: a non-UTF-8 config, one line, exit 2 (no traceback from the real exe)."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{\"q\": 6, \"x\": \"\xff\"}")
    exe = Path(sys.executable).with_name("hwq")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hwq.cli"]
    r = subprocess.run(cmd + ["config", "--config", str(bad)], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not UTF-8" in r.stderr, r.stderr


def test_config_out_rewrites_same_content_and_force_overwrites(tmp_path, capsys) -> None:
    out = tmp_path / "c.toml"
    assert main(["config", "--set", "q=5", "--out", str(out)]) == 0
    assert main(["config", "--set", "q=5", "--out", str(out)]) == 0  # same content: nothing to lose
    assert main(["config", "--set", "q=7", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["config", "--set", "q=7", "--out", str(out), "--force"]) == 0
    assert "q = 7" in out.read_text()


@settings(max_examples=150, deadline=None)
@given(edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.floats(0.0, 1.0))
def test_randomly_damaged_config_file_never_a_traceback(edits, cut) -> None:
    """Bytes of a valid config file changed and the file cut at random: the CLI answers with the config
    (exit 0) or one line and exit 2, never a traceback."""
    from hwq.config import HwqConfig

    b = bytearray(HwqConfig().to_toml().encode())
    for i, v in edits:
        b[i % len(b)] = v
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "c.toml"
        f.write_bytes(bytes(b[: int(cut * len(b))]))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["config", "--config", str(f)])
    assert rc in (0, 2), rc
    if rc == 2:
        assert len(err.getvalue().splitlines()) == 1 and "Traceback" not in err.getvalue(), err.getvalue()


def test_flow_defaults_reach_the_flow(tmp_path, monkeypatch) -> None:
    """README's main command is `hwq flow` with no options: its argument checks must accept the defaults
    (``--reports`` defaults to OUT/SLUG/reports) and hand them to the flow unchanged."""
    import hwq.flow

    seen = {}

    class Stop(Exception):
        pass

    def fake_run_flow(cfg, out, reports, skip=()):
        seen.update(out=out, reports=reports)
        raise Stop

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(hwq.flow, "run_flow", fake_run_flow)
    with pytest.raises(Stop):
        main(["flow"])
    assert seen == {"out": "build/flow", "reports": None}
