"""Typed result records: one frozen dataclass per kind of result hwq writes to disk.

Every result file is a JSON *envelope*::

    {"kind": "<kind>", "schema": <int>, "stamp": {...}, ...the record's own fields}

``stamp`` (:class:`Stamp`) says what produced the result: hwq version, config slug and hash, tool versions,
date (ISO-8601 UTC) and machine. It is built in one place, :meth:`Stamp.now`. ``schema`` is the version of
the record's field list; a reader refuses a file of another schema or an unknown kind with one line naming
the file and the command that regenerates it, and never guesses a key: every field is declared with its
type, a missing or unknown field is an error.

:data:`KINDS` maps each kind (``synth``, ``sim``, ``kernel-bench``, ``kernel-check``, ``encode-bench``,
``eval-paper``, ``eval-rd``, ``eval-watersic``, ``eval-model``, ``roofline``, ``flow``, ``explore-stage``,
``explore-front``) to its class; each class names the command that writes it (``COMMAND``).
:class:`RooflinePoint`, :class:`SynthRun` and :class:`FlowStage` are typed rows inside records.

Rows that vary by experiment (a table of a sweep, a tool's cell counts) are kept as mappings inside a
typed field; the fields a reader acts on (pass/fail, Fmax, the measured points of a roofline validation)
are typed. ``from_legacy`` reads the pre-record JSON of the kinds whose files are still committed in that
form, so that their owners can convert them by regenerating or by a one-off conversion keeping the figures.

The package, by concern (import every name from ``hwq.records``):

* :mod:`hwq.records.envelope` -- the stamp, the :class:`Record` base, :func:`save`, :func:`load`,
  :func:`from_dict` and the typed JSON encoding;
* :mod:`hwq.records.points` -- :class:`RooflinePoint`, the measured point;
* :mod:`hwq.records.hardware` -- synthesis (FPGA, ASIC, seed studies) and simulation;
* :mod:`hwq.records.kernels` -- kernel benchmarks and checks, encode throughput, roofline studies;
* :mod:`hwq.records.evals` -- the evaluations;
* :mod:`hwq.records.flow` -- ``hwq flow`` and ``hwq explore``.
"""

from __future__ import annotations

from hwq.records.envelope import (
    KINDS,
    NOT_RECORDED,
    Record,
    Stamp,
    from_dict,
    iso_date,
    legacy_date,
    load,
    load_any,
    machine,
    save,
)
from hwq.records.envelope import _encode as _encode  # the typed JSON encoding (tests encode stamps)
from hwq.records.evals import EvalModel, EvalPaper, EvalRd, EvalWatersic
from hwq.records.flow import ExploreFront, ExploreStage, Flow, FlowStage
from hwq.records.hardware import AsicRun, SeedRow, Sim, SimMatrix, Synth, SynthAsic, SynthRun, SynthSeeds
from hwq.records.kernels import EncodeBench, KernelBench, KernelCheck, Roofline
from hwq.records.points import RooflinePoint

__all__ = [
    "KINDS",
    "NOT_RECORDED",
    "AsicRun",
    "EncodeBench",
    "EvalModel",
    "EvalPaper",
    "EvalRd",
    "EvalWatersic",
    "ExploreFront",
    "ExploreStage",
    "Flow",
    "FlowStage",
    "KernelBench",
    "KernelCheck",
    "Record",
    "Roofline",
    "RooflinePoint",
    "SeedRow",
    "Sim",
    "SimMatrix",
    "Stamp",
    "Synth",
    "SynthAsic",
    "SynthRun",
    "SynthSeeds",
    "from_dict",
    "iso_date",
    "legacy_date",
    "load",
    "load_any",
    "machine",
    "save",
]

# every kind, in one place (the order of the lists in error messages)
KINDS.update({c.KIND: c for c in (
    Synth, SynthAsic, SynthSeeds, Sim, SimMatrix, KernelBench, KernelCheck, EncodeBench, EvalPaper, EvalRd,
    EvalWatersic, EvalModel, Roofline, Flow, ExploreStage, ExploreFront)})
