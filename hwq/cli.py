"""The ``hwq`` command line.

Subcommands are modules of :mod:`hwq.commands`, discovered by name so that each layer adds its own
without touching this file:

* ``hwq/commands/<name>.py``        -> ``hwq <name>``
* ``hwq/commands/<group>_<sub>.py`` -> ``hwq <group> <sub>`` (e.g. ``eval_paper`` -> ``hwq eval paper``)

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.

The one error path: every failure a user can cause reaches :func:`main` and becomes one line on stderr
(``hwq: error: ...``) and exit status 2:

* :class:`hwq.errors.HwqError` (bad input; :class:`hwq.errors.ToolError` for an external tool that failed,
  with its log file in the message),
* :class:`OSError` (an ``--out`` onto an existing file, a read-only folder, a full disk, ...): the OS
  message, the path and what to do,
* :class:`UnicodeError` and :class:`subprocess.TimeoutExpired`,
* argparse usage errors (one line, naming ``--help``).

Input files named on the command line (``--config``, ``--device-file``, ``--model-file``) are checked here
once, before any subcommand runs: a folder, or a file that is not UTF-8 text, is refused by name. Anything
else (an internal bug) still shows its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import NoReturn, Sequence

from hwq import __version__
from hwq.errors import HwqError

__all__ = ["main", "build_parser", "error_line"]

_GROUP_HELP = {
    "eval": "evaluate quantizers (paper table, rate-distortion sweep, real model)",
    "bench": "benchmarks that print figures and save them under reports/bench/",
}

#: argparse destinations that name input files read as UTF-8 text (TOML/JSON)
INPUT_FILES = ("config", "device_file", "model_file")

_OS_HINTS = {
    errno.EACCES: "check its permissions or choose another path",
    errno.EPERM: "check its permissions or choose another path",
    errno.EROFS: "the file system is read-only: choose a writable path",
    errno.EEXIST: "a file is in the way: remove it or choose another path",
    errno.ENOTDIR: "a file is in the way where a folder is needed: choose another path",
    errno.EISDIR: "a folder is in the way where a file is needed: choose another path",
    errno.ENOSPC: "the disk is full: free some space",
    errno.ENOENT: "check the path",
    errno.ENOEXEC: "the executable is damaged: delete it so that hwq rebuilds it",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line naming ``--help`` (argparse's default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _modules() -> list[str]:
    import hwq.commands as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hwq", description="Nested-lattice quantized matmul: reference model, RTL, simulation, kernels, "
                                "rooflines.")
    parser.add_argument("--version", action="version", version=f"hwq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for name in _modules():
        mod = importlib.import_module(f"hwq.commands.{name}")
        if "_" in name:
            group, leaf = name.split("_", 1)
            if group not in groups:
                gp = sub.add_parser(group, help=_GROUP_HELP.get(group, group),
                                    description=_GROUP_HELP.get(group))
                groups[group] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            p = groups[group].add_parser(leaf, help=mod.HELP, description=mod.HELP)
        else:
            p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def check_input_file(path: str | Path, flag: str) -> None:
    """Refuse an input file that is a folder or not UTF-8 text (a missing one is left to its loader, which
    says how to write one)."""
    p = Path(path)
    if p.is_dir():
        raise HwqError(f"{flag} {p} is a folder, not a file: give the path of a TOML or JSON file")
    if not p.is_file():
        return
    data = p.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HwqError(f"{flag} {p} is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): "
                       "save it as UTF-8") from None


def _check_inputs(args: argparse.Namespace) -> None:
    for dest in INPUT_FILES:
        value = getattr(args, dest, None)
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                check_input_file(v, "--" + dest.replace("_", "-"))


def error_line(exc: BaseException) -> str | None:
    """The one-line message of a failure a user can cause, or None for an internal bug."""
    if isinstance(exc, HwqError):
        lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
        return "; ".join(lines) if lines else type(exc).__name__
    if isinstance(exc, OSError):
        what = exc.strerror or str(exc) or type(exc).__name__
        paths = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        hint = _OS_HINTS.get(exc.errno or 0)
        return f"{what}" + (f": {paths}" if paths else "") + (f" ({hint})" if hint else "")
    if isinstance(exc, UnicodeError):
        return f"a file is not valid text ({exc}): save it as UTF-8"
    if isinstance(exc, subprocess.TimeoutExpired):
        cmd = exc.cmd[0] if isinstance(exc.cmd, (list, tuple)) else exc.cmd
        return f"{cmd} did not finish within {exc.timeout:g} s and was stopped"
    return None


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """hwq's own warnings (e.g. top-rung overloads) as one ``hwq: warning:`` line; others as Python prints
    them."""
    if category.__module__.startswith("hwq"):
        print(f"hwq: warning: {' '.join(str(message).split())}", file=sys.stderr if file is None else file)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from hwq.procs import Terminated, terminate_on_sigterm

    try:
        with terminate_on_sigterm(), warnings.catch_warnings():
            warnings.showwarning = _warning_line
            _check_inputs(args)
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("hwq: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("hwq: terminated", file=sys.stderr)
        return 143
    except (HwqError, OSError, UnicodeError, subprocess.TimeoutExpired) as e:
        line = error_line(e)
        print(f"hwq: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
