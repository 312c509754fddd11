"""The encoded-matrix container: packed codes, ladder indices, norms and the config.

An :class:`EncodedMatrix` holds a matrix A (n x cols) quantized column by column (SPEC section 3):

* ``codes``  uint8 (cols, ceil(nb * code_bits / 8)): codebook rows, bit-packed per column
  (:mod:`hwq.packing`), nb = n / d blocks per column, block b of column m is rows ``d*b .. d*b+d-1``
  of the *rotated* column;
* ``ladder`` uint8 (cols, ceil(nb * ladder_bits / 8)): ladder index T per block, packed the same way;
* ``norms``  float32 (cols,): rho * alpha (column norm with the least-squares factor folded in);
* ``config``: the :class:`hwq.config.HwqConfig` (its JSON), plus n, cols, the matrix id (dither
  stream) and the number of overloaded blocks.

Files are ``.npz`` (no pickle) with a ``format`` string and version, the full config hash and a
SHA-256 digest of the contents; :func:`load_encoded` validates everything on load (meta types, config,
slug and hash, shapes, code/ladder ranges, norms, digest) and round-trips exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.packing import pack_bits, packed_bytes, unpack_bits

__all__ = ["CONTAINER_FORMAT", "CONTAINER_VERSION", "EncodedMatrix", "config_hash", "load_encoded"]

CONTAINER_FORMAT = "hwq-encoded-matrix"
#: v2 adds config_hash and digest to the meta record (v1 files are refused: re-encode)
CONTAINER_VERSION = 2


@dataclass(frozen=True, eq=False)
class EncodedMatrix:
    """A quantized matrix (see module docstring)."""

    config: HwqConfig
    n: int
    cols: int
    matrix_id: int
    codes: np.ndarray
    ladder: np.ndarray
    norms: np.ndarray
    overloads: int = 0

    def __post_init__(self) -> None:
        cfg = self.config
        if not isinstance(cfg, HwqConfig):
            raise HwqError(f"EncodedMatrix.config must be an HwqConfig, got {type(cfg).__name__}")
        for name in ("n", "cols", "matrix_id", "overloads"):
            v = getattr(self, name)
            least = 1 if name in ("n", "cols") else 0
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < least:
                raise HwqError(f"EncodedMatrix.{name} must be an integer >= {int(name in ('n', 'cols'))}, "
                               f"got {v!r}")
        if self.n % cfg.dim:
            raise HwqError(f"n = {self.n} is not a multiple of the block size {cfg.dim}")
        nb = self.n // cfg.dim
        want = {
            "codes": ((self.cols, packed_bytes(nb, cfg.code_bits)), np.uint8),
            "ladder": ((self.cols, packed_bytes(nb, cfg.ladder_bits)), np.uint8),
            "norms": ((self.cols,), np.float32),
        }
        for name, (shape, dtype) in want.items():
            a = getattr(self, name)
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
                got = (getattr(a, "shape", None), getattr(a, "dtype", type(a).__name__))
                raise HwqError(f"container field {name} must be {np.dtype(dtype).name} of shape {shape}, got "
                               f"{got}")

    # ------------------------------------------------------------------------------------------------
    @property
    def blocks_per_col(self) -> int:
        return self.n // self.config.dim

    def rows(self) -> np.ndarray:
        """Codebook rows, int64 (cols, nb)."""
        return unpack_bits(self.codes, self.config.code_bits, self.blocks_per_col)

    def ladder_index(self) -> np.ndarray:
        """Ladder indices T, uint8 (cols, nb)."""
        return unpack_bits(self.ladder, self.config.ladder_bits, self.blocks_per_col).astype(np.uint8)

    # -- rates -----------------------------------------------------------------------------------
    @property
    def entries(self) -> int:
        return self.n * self.cols

    def ladder_entropy(self) -> float:
        """Empirical entropy H(T) in bits per block."""
        p = np.bincount(self.ladder_index().ravel(), minlength=1) / (self.cols * self.blocks_per_col)
        p = p[p > 0]
        return float(-(p * np.log2(p)).sum())

    def rate_entropy(self) -> float:
        """The paper's rate: log2 q + H(T)/d + side_bits/n (bits per entry)."""
        cfg = self.config
        return math.log2(cfg.q) + self.ladder_entropy() / cfg.dim + cfg.side_bits / self.n

    def rate_packed(self) -> float:
        """Bits actually stored per entry: packed codes + packed ladder + side bits."""
        bits = 8 * (self.codes.nbytes + self.ladder.nbytes) + self.cols * self.config.side_bits
        return bits / self.entries

    def nbytes(self) -> int:
        """Bytes a kernel reads: codes, ladder and float32 norms."""
        return self.codes.nbytes + self.ladder.nbytes + self.norms.nbytes

    # -- files -----------------------------------------------------------------------------------
    def check_contents(self) -> None:
        """Check what the decoders and kernels index with: every code row < q**d, every ladder index
        < ladder_len, zero padding bits, norms finite and >= 0, overloads in [0, blocks].

        Raises
        ------
        HwqError
            Naming the field, the first bad column and the allowed range.
        """
        cfg = self.config
        nb = self.blocks_per_col
        if not 0 <= self.overloads <= self.cols * nb:
            raise HwqError(f"container overloads = {self.overloads} is outside [0, {self.cols * nb}] (cols x "
                           "blocks)")
        bad = ~np.isfinite(self.norms) | (self.norms < 0)
        if bad.any():
            m = int(np.argmax(bad))
            raise HwqError(f"container norm of column {m} is {float(self.norms[m])!r}; norms must be finite "
                           "and >= 0 (re-encode the matrix with hwq.matmul.encode_matrix)")
        step = max(1, (1 << 20) // max(1, nb * max(cfg.code_bits, 1)))
        for name, packed, width, limit in (("code", self.codes, cfg.code_bits, cfg.num_codewords),
                                           ("ladder index", self.ladder, cfg.ladder_bits, cfg.ladder_len)):
            for c0 in range(0, self.cols, step):
                part = packed[c0:c0 + step]
                vals = unpack_bits(part, width, nb)
                over = vals >= limit
                if over.any():
                    m, b = np.argwhere(over)[0]
                    raise HwqError(f"container {name} {int(vals[m, b])} at column {c0 + m}, block {b} is out "
                                   f"of range [0, {limit}) for {cfg.slug}; the file is corrupt or was "
                                   "written for another config")
                if width and not np.array_equal(pack_bits(vals, width), part):
                    raise HwqError(f"container {name}s of columns {c0}..{c0 + len(part) - 1} have non-zero "
                                   "padding bits; the file is corrupt")

    def digest(self) -> str:
        """SHA-256 over the canonical config, n, cols, matrix_id, overloads and the three arrays."""
        h = hashlib.sha256()
        h.update(config_hash(self.config).encode())
        h.update(json.dumps([self.n, self.cols, self.matrix_id, self.overloads]).encode())
        for a in (self.codes, self.ladder, self.norms):
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file (no pickle) with the config, its hash and a digest of the contents."""
        path = Path(path)
        meta = {"format": CONTAINER_FORMAT, "version": CONTAINER_VERSION, "n": self.n, "cols": self.cols,
                "matrix_id": self.matrix_id, "overloads": self.overloads, "slug": self.config.slug,
                "config_hash": config_hash(self.config), "digest": self.digest()}
        np.savez(path, codes=self.codes, ladder=self.ladder, norms=self.norms,
                 meta=np.array(json.dumps(meta)), config=np.array(self.config.to_json()))
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")


def config_hash(cfg: HwqConfig) -> str:
    """Full SHA-256 of the canonical config (the slug carries only its first 6 hex digits)."""
    canon = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canon.encode()).hexdigest()


#: meta fields and their types (bool is excluded from int explicitly)
_META_TYPES = {"n": int, "cols": int, "matrix_id": int, "overloads": int, "slug": str, "config_hash": str,
               "digest": str}


def _check_meta(path: Path, meta: dict[str, Any]) -> None:
    absent = [k for k in _META_TYPES if k not in meta]
    if absent:
        raise HwqError(f"{path}: container meta record lacks {', '.join(absent)}")
    for k, t in _META_TYPES.items():
        v = meta[k]
        if not isinstance(v, t) or isinstance(v, bool):
            raise HwqError(f"{path}: container meta field {k!r} = {v!r} must be "
                           f"{'an integer' if t is int else 'a string'}; the file is corrupt or not written "
                           "by EncodedMatrix.save")
    for k in ("n", "cols"):
        if meta[k] < 1:
            raise HwqError(f"{path}: container meta field {k!r} = {meta[k]} must be >= 1")
    if not 0 <= meta["matrix_id"] < 2**32:
        raise HwqError(f"{path}: container meta field 'matrix_id' = {meta['matrix_id']} must be in "
                       "[0, 2**32)")


def load_encoded(path: str | Path) -> EncodedMatrix:
    """Load a container written by :meth:`EncodedMatrix.save`, validating everything once, here:

    the format and version, the meta field types, the config (its own validation, the slug and the full
    config hash recorded at save time), the array shapes and dtypes, every code row and ladder index
    against the config's ranges, norms finite and >= 0, and finally the SHA-256 digest over config, meta
    and arrays. The digest is not a signature: it catches edits, corruption and a config record swapped in
    from another container, not a forger who recomputes it.

    Raises
    ------
    HwqError
        Missing file, not an hwq container (e.g. a plain ``.npy``), unsupported version, or any check above.
    """
    path = Path(path)
    if not path.is_file():
        raise HwqError(f"encoded matrix file {path} does not exist")
    try:
        with open(path, "rb") as fh:
            head = fh.read(6)
            fh.seek(0)
            if head == b"\x93NUMPY":
                raise HwqError(f"{path} is a plain .npy array, not an hwq container; encode the matrix with "
                               "hwq.matmul.encode_matrix and write it with EncodedMatrix.save (.npz)")
            with np.load(fh, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
    except HwqError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, NotImplementedError, RuntimeError,
            struct.error, zlib.error, OverflowError) as e:  # a damaged zip header can raise any of these
        raise HwqError(f"{path} is not a readable .npz file ({type(e).__name__}: {e}); write it with "
                       "EncodedMatrix.save") from None
    missing = {"codes", "ladder", "norms", "meta", "config"} - set(arrays)
    if missing:
        raise HwqError(f"{path} is not an hwq container (missing {', '.join(sorted(missing))})")
    for k in ("meta", "config"):
        if arrays[k].dtype.kind != "U" or arrays[k].shape != ():
            raise HwqError(f"{path}: the container's {k} record must be one string, got "
                           f"{arrays[k].dtype} of shape {arrays[k].shape}")
    try:
        meta = json.loads(str(arrays["meta"]))
        cfg_dict = json.loads(str(arrays["config"]))
    except (json.JSONDecodeError, RecursionError) as e:
        raise HwqError(f"{path}: the container's meta/config record is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CONTAINER_FORMAT:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise HwqError(f"{path}: unsupported container format {got!r} (want {CONTAINER_FORMAT} "
                       f"v{CONTAINER_VERSION})")
    if meta.get("version") != CONTAINER_VERSION:
        raise HwqError(f"{path}: container version {meta.get('version')!r} is not supported (this hwq reads "
                       f"v{CONTAINER_VERSION}, which records the config hash); re-encode the matrix")
    _check_meta(path, meta)
    cfg = HwqConfig.from_dict(cfg_dict)
    if cfg.slug != meta["slug"]:
        raise HwqError(f"{path}: config slug {cfg.slug} does not match the recorded {meta['slug']}")
    if config_hash(cfg) != meta["config_hash"]:
        raise HwqError(f"{path}: the config record does not match the config hash recorded at save time; "
                       "the config was edited or swapped in from another file: re-encode the matrix")
    enc = EncodedMatrix(config=cfg, n=meta["n"], cols=meta["cols"], matrix_id=meta["matrix_id"],
                        codes=arrays["codes"], ladder=arrays["ladder"], norms=arrays["norms"],
                        overloads=meta["overloads"])
    enc.check_contents()
    if enc.digest() != meta["digest"]:
        raise HwqError(f"{path}: the contents do not match the digest recorded at save time (edited or "
                       "corrupt); re-encode the matrix")
    return enc
