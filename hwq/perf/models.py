"""Model catalog of the roofline model: the linear-layer shapes of LLMs and workloads (decode / prefill).

The catalog is data (``hwq/data/models.toml``), extendable with ``hwq roofline --model-file FILE``.
Weights follow hwq's convention W (K x M): K = in_features (reduction length), M = out_features.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from hwq.errors import HwqError

__all__ = ["Linear", "Model", "Workload", "load_models", "get_model", "load_workloads", "get_workload"]

_PHASES = ("decode", "prefill")


@dataclass(frozen=True)
class Linear:
    """A weight matrix W (k x m) that occurs ``count`` times per block."""

    name: str
    k: int
    m: int
    count: int = 1

    @property
    def params(self) -> int:
        return self.k * self.m * self.count


@dataclass(frozen=True)
class Model:
    """A transformer: ``linears`` repeat ``layers`` times, plus an optional LM head."""

    key: str
    name: str
    layers: int
    hidden: int
    linears: tuple[Linear, ...]
    head: Linear | None = None

    def all_linears(self) -> list[tuple[Linear, int]]:
        """(linear, multiplicity per token) for every matrix a token passes through."""
        out = [(lin, lin.count * self.layers) for lin in self.linears]
        if self.head is not None:
            out.append((self.head, 1))
        return out

    @property
    def params(self) -> int:
        """Linear-layer weights (LM head included)."""
        return sum(lin.k * lin.m * mult for lin, mult in self.all_linears())


@dataclass(frozen=True)
class Workload:
    """Decode (one token per sequence per step) or prefill (``seq_len`` tokens per sequence at once)."""

    key: str
    phase: str
    batch: int
    seq_len: int = 1

    @property
    def tokens(self) -> int:
        """Columns of the activation matrix each weight matrix sees in one step."""
        return self.batch * (self.seq_len if self.phase == "prefill" else 1)


def _pos_int(entry: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    v = entry.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise HwqError(f"{where}: field {key!r} = {v!r} must be a positive integer")
    return v


def _linear(raw: Any, where: str) -> Linear:
    if not isinstance(raw, dict):
        raise HwqError(f"{where}: a linear layer must be a table {{ name = ..., k = ..., m = ... }}")
    return Linear(name=str(raw.get("name", "linear")), k=_pos_int(raw, "k", where),
                  m=_pos_int(raw, "m", where),
                  count=_pos_int(raw, "count", where, 1))


def _parse_model(key: str, raw: Any, origin: str) -> Model:
    where = f"model {key!r} in {origin}"
    if not isinstance(raw, dict):
        raise HwqError(f"{where} must be a table")
    lins = raw.get("linears")
    if not isinstance(lins, list) or not lins:
        raise HwqError(f"{where}: 'linears' must be a non-empty list of {{ name, k, m, count }} tables")
    head = raw.get("head")
    return Model(key=key, name=str(raw.get("name", key)), layers=_pos_int(raw, "layers", where),
                 hidden=_pos_int(raw, "hidden", where), linears=tuple(_linear(x, where) for x in lins),
                 head=_linear(head, where) if head is not None else None)


def _raw_catalog(model_file: str | Path | None) -> list[tuple[dict[str, Any], str]]:
    out = [(tomllib.loads(resources.files("hwq").joinpath("data/models.toml").read_text()),
            "hwq/data/models.toml")]
    if model_file is not None:
        p = Path(model_file)
        if not p.is_file():
            raise HwqError(f"model file {p} does not exist (see hwq/data/models.toml for the schema)")
        try:
            out.append((tomllib.loads(p.read_text()), str(p)))
        except tomllib.TOMLDecodeError as e:
            raise HwqError(f"model file {p} is not valid TOML: {e}") from None
    return out


def load_models(model_file: str | Path | None = None) -> dict[str, Model]:
    """Built-in models updated with those of ``model_file``."""
    models: dict[str, Model] = {}
    for data, origin in _raw_catalog(model_file):
        for key, raw in data.items():
            if key != "workloads":
                models[key] = _parse_model(key, raw, origin)
    return models


def load_workloads(model_file: str | Path | None = None) -> dict[str, Workload]:
    """Built-in workloads (``[workloads.NAME]``) updated with those of ``model_file``."""
    out: dict[str, Workload] = {}
    for data, origin in _raw_catalog(model_file):
        for key, raw in data.get("workloads", {}).items():
            where = f"workload {key!r} in {origin}"
            phase = raw.get("phase", "decode")
            if phase not in _PHASES:
                raise HwqError(f"{where}: phase = {phase!r}; allowed: {', '.join(_PHASES)}")
            out[key] = Workload(key=key, phase=phase, batch=_pos_int(raw, "batch", where, 1),
                                seq_len=_pos_int(raw, "seq_len", where, 1))
    return out


def get_model(name: str, model_file: str | Path | None = None) -> Model:
    """Look a model up by key (HwqError listing the catalog otherwise)."""
    models = load_models(model_file)
    if name.lower() not in models:
        raise HwqError(f"unknown model {name!r}; known: {', '.join(sorted(models))} (or add one with "
                       "--model-file)")
    return models[name.lower()]


def get_workload(name: str, model_file: str | Path | None = None, batch: int | None = None) -> Workload:
    """A named workload, with its batch optionally overridden."""
    wl = load_workloads(model_file)
    if name not in wl:
        raise HwqError(f"unknown workload {name!r}; known: {', '.join(sorted(wl))}")
    w = wl[name]
    if batch is not None:
        if batch < 1:
            raise HwqError(f"batch must be a positive integer, got {batch}")
        w = Workload(key=w.key, phase=w.phase, batch=batch, seq_len=w.seq_len)
    return w
