"""The one frozen configuration that travels through every layer of hwq.

:class:`HwqConfig` fixes the lattice, the nesting ratio q, the overload ladder (as floats *and* as
the fixed-point multipliers the hardware uses), dither and rotation seeds, the Hadamard segment size,
the activation format and the derived bit widths. Its :attr:`HwqConfig.slug` names the Verilog
module, build folders, C/CUDA symbols, golden-vector files and report rows.

Widths are derived from provable bounds, never chosen by hand:

* ``coord_bound = ceil(q * coord_max * coord_scale)`` bounds every codeword entry (scaled ints);
* ``act_rot_bound = (2**(act_bits-1) - 1) * hadamard`` bounds a rotated activation;
* ``dot_bound = d * coord_bound * act_rot_bound`` bounds one block dot product;
* ``acc_bound = ceil(max_k / d) * dot_bound * max(beta_mults)`` bounds the weight-only accumulator;
* ``lut_bound = floor((q * covering_radius)**2)`` bounds a pairwise LUT entry, and
  ``lut_acc_bound = ceil(max_k / d) * lut_bound * max(beta_mults)**2`` the both-quantized accumulator.

A config whose accumulator would need more than 64 bits is rejected (lower ``max_k``,
``frac_bits`` or ``hadamard``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hwq.errors import HwqError
from hwq.lattice import get_lattice, lattice_names
from hwq.tuned_table import lookup as lookup_tuned

__all__ = ["HwqConfig", "UntabulatedBeta0", "load_config", "paper_config", "CONFIG_VERSION"]

CONFIG_VERSION = 1
_DECODERS = ("auto", "rom", "arith")
_HADAMARD_IMPLS = ("pipelined", "folded")
#: ladder rung choice of the offline weight encoder (see HwqConfig.ladder_select)
LADDER_SELECTS = ("first", "best")
#: codebooks up to this many rows are decoded from a ROM when decoder = "auto"
ROM_AUTO_ROWS = 4096
#: beta0 is refused when the top rung's coarse cell (inscribed radius beta_top q r_pack) reaches less than
#: this many standard deviations of the (unit-variance) blocks: nearly every block would overload
MIN_TOP_RUNG_REACH = 0.25
#: ... or when the fine cell's inscribed radius beta0 r_pack exceeds this many: every block rounds to zero
MAX_FINE_CELL = 4.0


class UntabulatedBeta0(HwqError):
    """beta0 = None / "auto" for a combination the committed table of tuned values does not hold."""

    @property
    def key(self) -> tuple[str, int, bool, int, float]:
        return self.args[1]

    def __str__(self) -> str:
        return str(self.args[0])


def _signed_bits(bound: int) -> int:
    """Bits of a two's complement integer holding every value in [-bound, bound]."""
    return int(bound).bit_length() + 1


@dataclass(frozen=True)
class HwqConfig:
    """Frozen, validated hwq configuration.

    Parameters
    ----------
    lattice : str
        Fine lattice: one of the registry names (Z, D3, D4, E8).
    q : int
        Nesting ratio of the Voronoi code (q**d codewords per block), q >= 2.
    beta0 : float, None or "auto"
        First rung of the overload ladder (scale of the fine lattice for unit-variance input).
        None or ``"auto"`` (the spelling files and ``hwq config --set beta0=auto`` use) picks the tuned
        value for (lattice, q, dither, ladder_len, ladder_step) from the committed table
        ``hwq/data/tuned_beta0.json`` (values of :func:`hwq.tuning.tuned_beta0`); a combination outside it
        raises :class:`UntabulatedBeta0` (an HwqError): give beta0, or use :meth:`HwqConfig.tuned`, which
        runs the search. The constructor never runs it. A value so small that
        the top rung cannot hold unit-variance blocks, or so large that every block rounds to zero, is
        refused (:data:`MIN_TOP_RUNG_REACH`, :data:`MAX_FINE_CELL`).
    ladder_step : float
        Ratio s > 1 between ladder rungs, beta_t = beta0 * s**t. Default 2**(1/2): with the capped 4-rung
        ladder of the fixed-width format it beats the paper's 2**(1/3) (D3 q=6: MSE 0.034 vs 0.045 per
        entry, see :func:`hwq.tuning.tuned_ladder`); the paper's setting uses 2**(1/3).
    ladder_len : int
        Number of rungs a block may use (T in [0, ladder_len)); fixes the packed ladder field width.
    dither : bool
        Subtractive dither uniform on the Voronoi cell (off for the LUT/integer datapath).
    dither_seed, sign_seed : int
        32-bit seeds of the counter-based PRNG for the dither and the Hadamard signs.
    hadamard : int
        Rotation segment length (power of two; 1 means no rotation).
    act_bits : int
        Activation integer width of the datapath (symmetric, e.g. int8 in [-127, 127]).
    frac_bits : int
        Fraction bits of the fixed-point ladder multipliers ``beta_mults``.
    enc_frac_bits : int
        Fraction bits of the activation encoder's scale multiplier (both-quantized mode).
    side_bits : int
        Side information per column (the float32 norm) counted in the rate.
    max_k : int
        Largest reduction length the integer datapath accepts (sizes the accumulators).
    lanes : int
        Parallel MAC lanes of the RTL unit.
    decoder : {"auto", "rom", "arith"}
        Codebook decoder of the RTL/kernels: table ROM, arithmetic, or ROM when q**d <= 4096.
    hadamard_impl : {"pipelined", "folded"}
        RTL Hadamard unit: fully pipelined butterflies or one folded (iterative) stage.
    mmse : bool
        Fold the per-column least-squares factor alpha = <x, xhat>/||xhat||^2 into the norm.
    ladder_select : {"first", "best"}
        Rung choice of the offline weight encoder (:func:`hwq.matmul.encode_matrix`): ``"first"`` takes
        the first rung without overload (SPEC section 2, what the on-the-fly activation encoder always
        does); ``"best"`` takes, among the rungs without overload, the one with the smallest squared error
        (NestQuant's weight pipeline). The stored T and the decoders are the same either way, so the
        packed format, RTL and kernels do not change. Left out of :meth:`to_dict` (and so of the hash and
        slug) when it is the default ``"first"``.
    """

    lattice: str = "D3"
    q: int = 6
    beta0: float | None = None
    ladder_step: float = 2.0 ** 0.5
    ladder_len: int = 4
    dither: bool = False
    dither_seed: int = 1
    sign_seed: int = 2
    hadamard: int = 64
    act_bits: int = 8
    frac_bits: int = 10
    enc_frac_bits: int = 20
    side_bits: int = 32
    max_k: int = 16384
    lanes: int = 8
    decoder: str = "auto"
    hadamard_impl: str = "pipelined"
    mmse: bool = True
    ladder_select: str = "first"
    _slug: str = field(default="", init=False, repr=False, compare=False)

    # ------------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        def bad(name: str, value: Any, allowed: str) -> HwqError:
            return HwqError(f"config field {name!r} = {value!r} is invalid: {allowed}")

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.lattice not in lattice_names():
            raise bad("lattice", self.lattice, f"allowed lattices are {', '.join(lattice_names())}")
        lat = get_lattice(self.lattice)
        if not is_int(self.q) or self.q < 2:
            raise bad("q", self.q, "q must be an integer >= 2")
        if (self.q ** lat.dim - 1).bit_length() > 62:
            raise bad("q", self.q, f"q**{lat.dim} codewords need more than 62 bits per code")
        if not is_int(self.ladder_len) or not 1 <= self.ladder_len <= 64:
            raise bad("ladder_len", self.ladder_len, "must be an integer in [1, 64]")
        if not isinstance(self.ladder_step, (int, float)) or not math.isfinite(self.ladder_step) \
                or self.ladder_step <= 1.0:
            raise bad("ladder_step", self.ladder_step, "must be a finite number > 1")
        for name in ("dither", "mmse"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, getattr(self, name), "must be true or false")
        for name in ("dither_seed", "sign_seed"):
            v = getattr(self, name)
            if not is_int(v) or not 0 <= v < 2**32:
                raise bad(name, v, "must be an integer in [0, 2**32)")
        h = self.hadamard
        if not is_int(h) or h < 1 or h & (h - 1):
            raise bad("hadamard", h, "the Hadamard size must be a positive power of two (1 = no rotation)")
        if h > 1 << 16:
            raise bad("hadamard", h, "must be at most 65536")
        if not is_int(self.act_bits) or not 2 <= self.act_bits <= 16:
            raise bad("act_bits", self.act_bits, "must be an integer in [2, 16]")
        if not is_int(self.frac_bits) or not 1 <= self.frac_bits <= 24:
            raise bad("frac_bits", self.frac_bits, "must be an integer in [1, 24]")
        # log2 of the top multiplier
        top = math.log2(self.ladder_step) * (self.ladder_len - 1) + self.frac_bits
        if top >= 63:  # no 64-bit accumulator holds it (and the check below could not even form it)
            raise bad("ladder_step", self.ladder_step,
                      f"the top ladder multiplier ladder_step**{self.ladder_len - 1} * 2**frac_bits is about "
                      f"2**{top:.0f}, beyond any 64-bit accumulator: use a smaller ladder_step or ladder_len")
        if not is_int(self.enc_frac_bits) or not 4 <= self.enc_frac_bits <= 28:
            raise bad("enc_frac_bits", self.enc_frac_bits, "must be an integer in [4, 28]")
        if not is_int(self.side_bits) or not 0 <= self.side_bits <= 64:
            raise bad("side_bits", self.side_bits, "must be an integer in [0, 64]")
        if not is_int(self.lanes) or not 1 <= self.lanes <= 256:
            raise bad("lanes", self.lanes, "must be an integer in [1, 256]")
        if self.decoder not in _DECODERS:
            raise bad("decoder", self.decoder, f"allowed: {', '.join(_DECODERS)}")
        if self.decoder == "rom" and self.num_codewords > ROM_AUTO_ROWS * 16:
            raise bad("decoder", self.decoder,
                      f"a ROM of {self.num_codewords} codewords is too large; use 'arith' or 'auto'")
        if self.ladder_select not in LADDER_SELECTS:
            raise bad("ladder_select", self.ladder_select,
                      "allowed: first (the first ladder rung without overload, as today) or best (the rung "
                      "with the smallest squared error; offline weight encoding only)")
        if self.hadamard_impl not in _HADAMARD_IMPLS:
            raise bad("hadamard_impl", self.hadamard_impl, f"allowed: {', '.join(_HADAMARD_IMPLS)}")
        if not is_int(self.max_k) or not max(lat.dim, h) <= self.max_k <= 1 << 24:
            raise bad("max_k", self.max_k,
                      f"must be an integer in [max(block size {lat.dim}, Hadamard size {h}), 2**24]")
        object.__setattr__(self, "ladder_step", float(self.ladder_step))
        self._check_accumulators(bad)
        if isinstance(self.beta0, str) and self.beta0.strip().lower() == "auto":
            object.__setattr__(self, "beta0", None)
        if self.beta0 is None:
            object.__setattr__(self, "beta0", self._tabulated_beta0())
        if not isinstance(self.beta0, (int, float)) or isinstance(self.beta0, bool) \
                or not math.isfinite(self.beta0) or self.beta0 <= 0:
            raise bad("beta0", self.beta0, "must be a finite number > 0 or 'auto' (tuned)")
        object.__setattr__(self, "beta0", float(self.beta0))
        # top rung: its coarse cell must reach into the data (unit variance), else every block overloads;
        # beta0 itself: the fine cell must not swallow the data, else every block rounds to zero
        reach = self.beta0 * self.ladder_step ** (self.ladder_len - 1) * self.q * lat.packing_radius
        if reach < MIN_TOP_RUNG_REACH:
            raise bad("beta0", self.beta0,
                      f"far too small: the top rung's coarse cell reaches only {reach:.3g} standard "
                      f"deviations (< {MIN_TOP_RUNG_REACH}), so nearly every block would overload; use beta0 "
                      "= 'auto' (tuned) or a value near it")
        if self.beta0 * lat.packing_radius > MAX_FINE_CELL:
            raise bad("beta0", self.beta0,
                      "far too large: the fine cell's inscribed radius is "
                      f"{self.beta0 * lat.packing_radius:.3g} standard deviations (> {MAX_FINE_CELL}), so "
                      "nearly every block would round to zero; use beta0 = 'auto' (tuned) or a value near it")
        object.__setattr__(self, "_slug", self._make_slug())

    def _tune_key(self) -> tuple[str, int, bool, int, float]:
        return (self.lattice, self.q, self.dither, self.ladder_len, float(self.ladder_step))

    def _tabulated_beta0(self) -> float:
        """beta0 = None / "auto": the committed table's value (:mod:`hwq.tuned_table`), never a search."""
        b = lookup_tuned(*self._tune_key())
        if b is None:
            lat, q, dither, n, step = self._tune_key()
            raise UntabulatedBeta0(
                f"config field 'beta0' = 'auto': no tuned value for lattice={lat}, q={q}, dither={dither}, "
                f"ladder_len={n}, ladder_step={step!r} in the table hwq/data/tuned_beta0.json; give beta0, "
                "or run the search (seconds): HwqConfig.tuned(...) or `hwq config --tune --set ...`",
                self._tune_key())
        return b

    @classmethod
    def tuned(cls, **fields: Any) -> "HwqConfig":
        """A config whose beta0 (unless given) is the tuned value: the committed table's when the combination
        (lattice, q, dither, ladder_len, ladder_step) is in it, else :func:`hwq.tuning.tuned_beta0` runs its
        Monte Carlo search now (seconds; cached per process). Other fields are validated first."""
        try:
            return cls(**fields)
        except UntabulatedBeta0 as e:
            from hwq.tuning import tuned_beta0

            return cls(**{**fields, "beta0": tuned_beta0(*e.key)})

    def _check_accumulators(self, bad: Any) -> None:
        """Refuse a config whose accumulators need more than 64 bits, naming the field at fault: max_k
        when a smaller max_k fits, else ladder_len when fewer rungs fit, else q."""
        def fits(**changes: Any) -> bool:
            c = copy.copy(self)
            for k, v in changes.items():
                object.__setattr__(c, k, v)
            return c.acc_bits <= 64 and c.lut_acc_bits <= 64

        def largest(name: str, lo: int, hi: int, **extra: Any) -> int:
            while lo < hi:  # largest value in [lo, hi] that fits (fits(lo) holds)
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(**{name: mid}, **extra) else (lo, mid - 1)
            return lo

        if fits():
            return
        which = (f"weight-only accumulator ({self.acc_bits} bits" if self.acc_bits > 64
                 else f"LUT accumulator ({self.lut_acc_bits} bits")
        min_k = max(self.lat.dim, self.hadamard)
        if fits(max_k=min_k):
            k = largest("max_k", min_k, self.max_k)
            raise bad("max_k", self.max_k,
                      f"the {which} > 64) would overflow: max_k <= {k} fits (or lower frac_bits, "
                                           "act_bits or hadamard)")
        if self.ladder_len > 1 and fits(ladder_len=1):
            n = largest("ladder_len", 1, self.ladder_len)
            raise bad("ladder_len", self.ladder_len,
                      f"the top ladder multiplier round(ladder_step**{self.ladder_len - 1} * 2**frac_bits) = "
                      f"{max(self.beta_mults)} overflows the {which} > 64): ladder_len <= {n} fits "
                      "(or a smaller ladder_step or frac_bits)")
        if self.q > 2 and fits(q=2):
            q = largest("q", 2, self.q)
            raise bad("q", self.q, f"codewords this large overflow the {which} > 64) even at the smallest "
                                   f"max_k: q <= {q} fits with this ladder (or lower frac_bits)")
        raise bad("max_k", self.max_k, f"the {which} > 64) would overflow: lower frac_bits, ladder_len, "
                                       "act_bits, hadamard or max_k")

    # ------------------------------------------------------------------------------------------------
    # identity
    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (beta0 resolved), suitable for JSON/TOML. ``ladder_select`` appears only
        when it is not the default ``"first"``, so configs that do not use it keep their hash and slug."""
        d = asdict(self)
        d.pop("_slug")
        if d["ladder_select"] == "first":
            d.pop("ladder_select")
        return d

    @property
    def hash(self) -> str:
        """sha256 (hex) of the canonical JSON of :meth:`to_dict`; the slug ends in its first 6 digits."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()

    def _make_slug(self) -> str:
        digest = self.hash[:6]
        dith = "dith" if self.dither else "nd"
        return f"{self.lattice.lower()}q{self.q}_{dith}_h{self.hadamard}_l{self.lanes}_{digest}"

    @property
    def slug(self) -> str:
        """Deterministic identifier ([a-z][a-z0-9_]*): Verilog module, C symbols, folders, report rows."""
        return self._slug

    def replace(self, **changes: Any) -> "HwqConfig":
        """A new validated config with some fields changed; when lattice, q, dither or the ladder change and
        beta0 is not given, beta0 is the table's tuned value again (as in the constructor)."""
        d = self.to_dict()
        if {"lattice", "q", "dither", "ladder_len", "ladder_step"} & set(changes) and "beta0" not in changes:
            d["beta0"] = None
        d.update(changes)
        return HwqConfig(**d)

    # ------------------------------------------------------------------------------------------------
    # files
    @classmethod
    def from_dict(cls, d: dict[str, Any], tune: bool = False) -> "HwqConfig":
        """Build from a dict; unknown keys raise HwqError naming them. ``tune=True`` builds it with
        :meth:`tuned` (beta0 = None / "auto" outside the table runs the search)."""
        if not isinstance(d, dict):
            raise HwqError(f"a config must be a table/object, got {type(d).__name__}")
        d = dict(d)
        version = d.pop("config_version", CONFIG_VERSION)
        if version != CONFIG_VERSION or isinstance(version, bool):
            raise HwqError(f"config_version = {version!r} is not supported: this hwq reads config_version = "
                           f"{CONFIG_VERSION} (write a current file with `hwq config --out FILE`)")
        d.pop("slug", None)
        known = {f.name for f in fields(cls) if f.init}
        unknown = sorted(set(d) - known)
        if unknown:
            raise HwqError(f"unknown config field(s) {', '.join(unknown)}; allowed: "
                           f"{', '.join(sorted(known))}")
        return cls.tuned(**d) if tune else cls(**d)

    def to_json(self) -> str:
        d = {"config_version": CONFIG_VERSION, **self.to_dict(), "slug": self.slug}
        return json.dumps(d, indent=2, sort_keys=False) + "\n"

    def to_toml(self) -> str:
        lines = [f"# hwq config {self.slug}", f"config_version = {CONFIG_VERSION}"]
        for k, v in self.to_dict().items():
            if isinstance(v, bool):
                lines.append(f"{k} = {'true' if v else 'false'}")
            elif isinstance(v, str):
                lines.append(f'{k} = "{v}"')
            elif isinstance(v, float):
                lines.append(f"{k} = {v!r}")
            else:
                lines.append(f"{k} = {v}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | Path) -> Path:
        """Write as TOML (``.toml``) or JSON (``.json``)."""
        path = Path(path)
        if path.suffix == ".toml":
            path.write_text(self.to_toml())
        elif path.suffix == ".json":
            path.write_text(self.to_json())
        else:
            raise HwqError(f"config file {path} must end in .toml or .json")
        return path

    # ------------------------------------------------------------------------------------------------
    # derived quantities
    @property
    def lat(self):
        """The :class:`hwq.lattice.Lattice` record."""
        return get_lattice(self.lattice)

    @property
    def dim(self) -> int:
        """Block length d."""
        return self.lat.dim

    @property
    def k_step(self) -> int:
        """Granularity of the reduction length K: lcm(d, hadamard). Encoded matrices, kernels and RTL GEMVs
        take K a multiple of it (rows are zero-padded up to one)."""
        return math.lcm(self.dim, self.hadamard)

    def padded_k(self, k: int) -> int:
        """Smallest multiple of :attr:`k_step` >= k: the rows the encoder stores (4096 -> 4224 for D3 with
        hadamard 64)."""
        return -(-int(k) // self.k_step) * self.k_step

    @property
    def coord_scale(self) -> int:
        return self.lat.coord_scale

    @property
    def num_codewords(self) -> int:
        return self.q ** self.dim

    @property
    def code_bits(self) -> int:
        """Bits of one packed code (the codebook row)."""
        return (self.num_codewords - 1).bit_length()

    @property
    def ladder_bits(self) -> int:
        """Bits of one packed ladder index T."""
        return (self.ladder_len - 1).bit_length()

    @property
    def block_bits(self) -> int:
        return self.code_bits + self.ladder_bits

    @property
    def hadamard_log2(self) -> int:
        return self.hadamard.bit_length() - 1

    @property
    def decoder_kind(self) -> str:
        """"rom" or "arith" after resolving "auto"."""
        if self.decoder != "auto":
            return self.decoder
        return "rom" if self.num_codewords <= ROM_AUTO_ROWS else "arith"

    @property
    def beta_mults(self) -> tuple[int, ...]:
        """Fixed-point ladder multipliers m_t = rnd(s**t * 2**frac_bits), t < ladder_len."""
        return tuple(int(math.floor(self.ladder_step ** t * (1 << self.frac_bits) + 0.5))
                     for t in range(self.ladder_len))

    @property
    def inv_beta_mults(self) -> tuple[int, ...]:
        """Fixed-point inverse multipliers rnd(s**-t * 2**frac_bits) for the activation encoder."""
        return tuple(int(math.floor(self.ladder_step ** (-t) * (1 << self.frac_bits) + 0.5))
                     for t in range(self.ladder_len))

    @property
    def betas(self) -> tuple[float, ...]:
        """The ladder actually used everywhere: beta_t = beta0 * m_t / 2**frac_bits."""
        return tuple(self.beta0 * m / (1 << self.frac_bits) for m in self.beta_mults)

    # -- bounds and widths ----------------------------------------------------------------------
    @property
    def coord_bound(self) -> int:
        """Bound on |scaled codeword entry|."""
        return int(math.ceil(self.q * self.lat.coord_max * self.coord_scale - 1e-9))

    @property
    def coord_bits(self) -> int:
        return _signed_bits(self.coord_bound)

    @property
    def act_max(self) -> int:
        """Largest activation magnitude (symmetric range [-act_max, act_max])."""
        return (1 << (self.act_bits - 1)) - 1

    @property
    def act_rot_bound(self) -> int:
        return self.act_max * self.hadamard

    @property
    def act_rot_bits(self) -> int:
        return _signed_bits(self.act_rot_bound)

    @property
    def dot_bound(self) -> int:
        return self.dim * self.coord_bound * self.act_rot_bound

    @property
    def dot_bits(self) -> int:
        return _signed_bits(self.dot_bound)

    @property
    def mult_bits(self) -> int:
        """Unsigned bits of the ladder multipliers."""
        return max(self.beta_mults).bit_length()

    @property
    def scaled_bound(self) -> int:
        return self.dot_bound * max(self.beta_mults)

    @property
    def acc_bits(self) -> int:
        """Weight-only accumulator width (signed), enough for max_k with no overflow."""
        return _signed_bits(self.max_blocks * self.scaled_bound)

    @property
    def max_blocks(self) -> int:
        """Most blocks in one dot product: ceil(max_k / d)."""
        return -(-self.max_k // self.dim)

    @property
    def lut_bound(self) -> int:
        return int(math.floor((self.q * self.lat.covering_radius) ** 2 + 1e-9))

    @property
    def lut_bits(self) -> int:
        return _signed_bits(self.lut_bound)

    @property
    def lut_acc_bits(self) -> int:
        return _signed_bits(self.max_blocks * self.lut_bound * max(self.beta_mults) ** 2)

    def widths(self) -> dict[str, int]:
        """All derived widths, for manifests and templates."""
        return {
            "code_bits": self.code_bits, "ladder_bits": self.ladder_bits, "coord_bits": self.coord_bits,
            "act_bits": self.act_bits, "act_rot_bits": self.act_rot_bits, "dot_bits": self.dot_bits,
            "mult_bits": self.mult_bits, "acc_bits": self.acc_bits, "lut_bits": self.lut_bits,
            "lut_acc_bits": self.lut_acc_bits,
        }


def load_config(path: str | Path | None, tune: bool = False) -> HwqConfig:
    """Load a config from TOML or JSON; ``None`` gives the built-in default. ``tune=True``: a
    ``beta0 = "auto"`` outside the table of tuned values runs the search (:meth:`HwqConfig.tuned`).

    Raises
    ------
    HwqError
        Missing file, unknown suffix, syntax error or invalid field.
    """
    if path is None:
        return HwqConfig()
    path = Path(path)
    if path.is_dir():
        raise HwqError(f"config file {path} is a folder, not a file: give the path of a TOML or JSON file")
    if not path.is_file():
        raise HwqError(f"config file {path} does not exist (write one with `hwq config --out FILE`)")
    if path.suffix not in (".toml", ".json"):
        raise HwqError(f"config file {path} must end in .toml or .json")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a UTF-8 byte order mark is accepted
    except UnicodeDecodeError as e:
        raise HwqError(f"config file {path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as "
                       "UTF-8") from None
    except OSError as e:
        raise HwqError(f"cannot read config file {path}: {e.strerror}") from None
    if not text.strip():
        raise HwqError(f"config file {path} is empty; write one with `hwq config --out {path.name}` (an "
                       "empty file is not taken as the defaults)")
    try:
        d = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
        raise HwqError(f"config file {path} is not valid {path.suffix[1:].upper()}: {e}") from None
    except RecursionError:
        raise HwqError(f"config file {path} is nested too deeply to be a config") from None
    return HwqConfig.from_dict(d, tune=tune)


def paper_config(lattice: str = "D3", q: int = 6, n: int = 6144, **changes: Any) -> HwqConfig:
    """The paper's setting for length-n columns: dithered, 16-rung ladder (never overloads in practice),
    rotation segment = the largest power of two dividing n (2048 for n = 3 * 2**11)."""
    seg = n & -n
    lat = get_lattice(lattice)
    base: dict[str, Any] = dict(lattice=lattice, q=q, dither=True, ladder_len=16, hadamard=seg,
                                ladder_step=2.0 ** (1.0 / 3.0),
                                max_k=max(n, lat.dim))
    base.update(changes)
    return HwqConfig(**base)
