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
    p.add_argument("--out", default=None, help="write the resulting config here (.toml or .json)")


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
        path = cfg.save(args.out)
        print(f"wrote {path} ({cfg.slug})")
    else:
        print(cfg.to_toml(), end="")
        print("# derived: " + ", ".join(f"{k}={v}" for k, v in cfg.widths().items())
              + f", decoder={cfg.decoder_kind}, beta_mults={list(cfg.beta_mults)}")
    return 0
