"""Running external tools so that they die with hwq and their failures carry their log.

:func:`run_tool` starts a tool in its own process group with ``PR_SET_PDEATHSIG`` (Linux: the kernel kills
it when hwq dies, even by SIGKILL), kills the whole group when hwq stops waiting for any reason (an
exception, Ctrl-C, the SIGTERM that :func:`terminate_on_sigterm` turns into an exception), writes its
output to a log file and raises :class:`hwq.errors.ToolError` naming the tool, its status, its last error
line and the log on failure.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from hwq.errors import ToolError

__all__ = ["Terminated", "run_tool", "terminate_on_sigterm"]

_PR_SET_PDEATHSIG = 1


class Terminated(BaseException):
    """SIGTERM arrived (raised by the handler of :func:`terminate_on_sigterm` so that cleanup runs)."""


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


#: looked up once in the parent: the child only calls it (no dlopen between fork and exec)
_PRCTL = _load_prctl()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _kill_group(p: subprocess.Popen, grace: float = 2.0) -> None:
    if p.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)
        try:
            p.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _last_error(text: str) -> str:
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    errs = [s for s in lines if s.upper().startswith(("ERROR", "FATAL", "%ERROR"))]
    line = (errs or lines or [""])[-1]
    return line[:300]


def run_tool(cmd: Sequence[str], cwd: str | Path, log: str | Path, timeout: float | None = None,
             tool: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run ``cmd`` in ``cwd``; return its stdout + stderr (also written to ``log``).

    Raises
    ------
    ToolError
        Non-zero exit status, timeout, or the executable could not be started; the message has the log path.
    """
    tool = tool or Path(cmd[0]).name
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        p = subprocess.Popen(list(cmd), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace", start_new_session=True,
                             preexec_fn=_die_with_parent,  # noqa: PLW1509 -- only prctl(), looked up before
                             env=None if env is None else dict(env))
    except OSError as e:
        raise ToolError(tool, f"could not be started ({e.strerror or e}): {cmd[0]}") from None
    with p:  # closes the pipe however this ends
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(p)
            out = p.communicate()[0] or ""
            log.write_text(out)
            raise ToolError(tool, f"did not finish within {timeout:g} s and was stopped", str(log)) from None
        finally:
            _kill_group(p)
    log.write_text(out)
    if p.returncode:
        raise ToolError(tool, f"failed (exit status {p.returncode}: {_last_error(out)})", str(log))
    return out


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` for the ``with`` block (main thread only), so that ``finally``
    blocks run and kill the tools started by :func:`run_tool`; the old handler is restored after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)
