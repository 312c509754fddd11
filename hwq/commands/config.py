"""``hwq config``: print, validate or write a config file."""

from __future__ import annotations

import argparse
import json

from hwq.config import HwqConfig, load_config

HELP = "show a config with its slug and derived widths, or write one (--out FILE.toml|.json)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="config file to load (default: built-in)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field (JSON value, e.g. --set lattice='\"E8\"' --set q=7 or --set "
                        "lattice=E8)")
    p.add_argument("--out", default=None, help="write the resulting config here (.toml or .json; an existing "
                   "different file is refused without --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.add_argument("--tune", action="store_true",
                   help="beta0 = the tuned value for the resulting lattice/q/dither/ladder (unless --set "
                   "beta0=...): the committed table's, else the Monte Carlo search runs now (seconds)")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _say_if_searching(d: dict) -> None:
    """One stderr line when --tune must run the search (the combination is not in the committed table)."""
    import sys

    from hwq.tuned_table import lookup

    b0 = d.get("beta0")
    if b0 is not None and not (isinstance(b0, str) and b0.strip().lower() == "auto"):
        return
    base = HwqConfig.__dataclass_fields__
    try:
        key = [d.get(f, base[f].default) for f in ("lattice", "q", "dither", "ladder_len", "ladder_step")]
        hit = lookup(*key) is not None
    except (TypeError, ValueError):
        return  # invalid fields: the constructor names them
    if not hit:
        print("hwq config: beta0 for this combination is not in the table: tuning it now (seconds)",
              file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError

    changes = {}
    for item in args.set:
        if "=" not in item:
            raise HwqError(f"--set expects FIELD=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        changes[k.strip()] = _value(v.strip())
    cfg = load_config(args.config, tune=args.tune)
    if changes or args.tune:
        d = cfg.to_dict()
        retune = args.tune or {"lattice", "q", "dither", "ladder_len", "ladder_step"} & set(changes)
        if retune and "beta0" not in changes:
            d["beta0"] = None
        d.update(changes)
        if args.tune:
            _say_if_searching(d)
        cfg = HwqConfig.from_dict(d, tune=args.tune)
    if args.out:
        from pathlib import Path

        from hwq.outputs import check_out_file

        suffix = Path(args.out).suffix
        if suffix not in (".toml", ".json"):
            raise HwqError(f"config file {args.out} must end in .toml or .json")
        text = cfg.to_toml() if suffix == ".toml" else cfg.to_json()
        check_out_file(args.out, overwrite=args.force, content=text.encode())
        path = cfg.save(args.out)
        print(f"wrote {path} ({cfg.slug})")
    else:
        print(cfg.to_toml(), end="")
        print("# derived: " + ", ".join(f"{k}={v}" for k, v in cfg.widths().items())
              + f", decoder={cfg.decoder_kind}, beta_mults={list(cfg.beta_mults)}")
    return 0
