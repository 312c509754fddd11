"""``hwq config``: print, validate or write a config file."""

from __future__ import annotations

import argparse
import json

from hwq.config import HwqConfig, load_config

HELP = "show a config with its slug and derived widths, or write one (--out FILE.toml|.json)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="config file to load (default: built-in)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a field (JSON value, e.g. --set lattice='\"E8\"' --set q=7 or --set lattice=E8)")
    p.add_argument("--out", default=None, help="write the resulting config here (.toml or .json; an existing "
                   "different file is refused without --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def run(args: argparse.Namespace) -> int:
    from hwq.errors import HwqError

    cfg = load_config(args.config)
    if args.set:
        changes = {}
        for item in args.set:
            if "=" not in item:
                raise HwqError(f"--set expects FIELD=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            changes[k.strip()] = _value(v.strip())
        d = cfg.to_dict()
        if {"lattice", "q", "dither", "ladder_len", "ladder_step"} & set(changes) and "beta0" not in changes:
            d["beta0"] = None
        d.update(changes)
        cfg = HwqConfig.from_dict(d)
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
