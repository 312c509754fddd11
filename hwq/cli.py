"""The ``hwq`` command line.

Subcommands are modules of :mod:`hwq.commands`, discovered by name so that each layer adds its own
without touching this file:

* ``hwq/commands/<name>.py``        -> ``hwq <name>``
* ``hwq/commands/<group>_<sub>.py`` -> ``hwq <group> <sub>`` (e.g. ``eval_paper`` -> ``hwq eval paper``)

Each module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
Bad input (:class:`hwq.errors.HwqError`) becomes a one-line message on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

from hwq import __version__
from hwq.errors import HwqError

__all__ = ["main", "build_parser"]

_GROUP_HELP = {
    "eval": "evaluate quantizers (paper table, rate-distortion sweep, real model)",
    "bench": "benchmarks that print figures and save them under reports/bench/",
}


def _modules() -> list[str]:
    import hwq.commands as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
                gp = sub.add_parser(group, help=_GROUP_HELP.get(group, group), description=_GROUP_HELP.get(group))
                groups[group] = gp.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
            p = groups[group].add_parser(leaf, help=mod.HELP, description=mod.HELP)
        else:
            p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except HwqError as e:
        print(f"hwq: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("hwq: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
