"""The encoded-matrix container: packed codes, ladder indices, norms and the config.

An :class:`EncodedMatrix` holds a matrix A (n x cols) quantized column by column (SPEC section 3):

* ``codes``  uint8 (cols, ceil(nb * code_bits / 8)): codebook rows, bit-packed per column
  (:mod:`hwq.packing`), nb = n / d blocks per column, block b of column m is rows ``d*b .. d*b+d-1``
  of the *rotated* column;
* ``ladder`` uint8 (cols, ceil(nb * ladder_bits / 8)): ladder index T per block, packed the same way;
* ``norms``  float32 (cols,): rho * alpha (column norm with the least-squares factor folded in);
* ``config``: the :class:`hwq.config.HwqConfig` (its JSON), plus n, cols, the matrix id (dither
  stream) and the number of overloaded blocks.

Files are ``.npz`` (no pickle) with a ``format`` string and version; :func:`load_encoded` validates
shapes and dtypes and round-trips exactly.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hwq.config import HwqConfig
from hwq.errors import HwqError
from hwq.packing import packed_bytes, unpack_bits

__all__ = ["EncodedMatrix", "load_encoded", "CONTAINER_FORMAT", "CONTAINER_VERSION"]

CONTAINER_FORMAT = "hwq-encoded-matrix"
CONTAINER_VERSION = 1


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
                raise HwqError(f"container field {name} must be {np.dtype(dtype).name} of shape {shape}, got {got}")

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
    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` file (no pickle)."""
        path = Path(path)
        meta = {"format": CONTAINER_FORMAT, "version": CONTAINER_VERSION, "n": self.n, "cols": self.cols,
                "matrix_id": self.matrix_id, "overloads": self.overloads, "slug": self.config.slug}
        np.savez(path, codes=self.codes, ladder=self.ladder, norms=self.norms,
                 meta=np.array(json.dumps(meta)), config=np.array(self.config.to_json()))
        return path if path.suffix == ".npz" else path.with_suffix(path.suffix + ".npz")


def load_encoded(path: str | Path) -> EncodedMatrix:
    """Load a container written by :meth:`EncodedMatrix.save`.

    Raises
    ------
    HwqError
        Missing file, not an hwq container, unsupported version, or inconsistent arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise HwqError(f"encoded matrix file {path} does not exist")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise HwqError(f"{path} is not a readable .npz file ({type(e).__name__}: {e}); write it with "
                       "EncodedMatrix.save") from None
    missing = {"codes", "ladder", "norms", "meta", "config"} - set(arrays)
    if missing:
        raise HwqError(f"{path} is not an hwq container (missing {', '.join(sorted(missing))})")
    try:
        meta = json.loads(str(arrays["meta"]))
        cfg_dict = json.loads(str(arrays["config"]))
    except json.JSONDecodeError as e:
        raise HwqError(f"{path}: the container's meta/config record is not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != CONTAINER_FORMAT \
            or meta.get("version") != CONTAINER_VERSION:
        got = meta.get("format") if isinstance(meta, dict) else meta
        raise HwqError(f"{path}: unsupported container format {got!r} (want {CONTAINER_FORMAT} "
                       f"v{CONTAINER_VERSION})")
    absent = [k for k in ("n", "cols", "matrix_id", "overloads", "slug") if k not in meta]
    if absent:
        raise HwqError(f"{path}: container meta record lacks {', '.join(absent)}")
    cfg = HwqConfig.from_dict(cfg_dict)
    if cfg.slug != meta["slug"]:
        raise HwqError(f"{path}: config slug {cfg.slug} does not match the recorded {meta['slug']}")
    return EncodedMatrix(config=cfg, n=int(meta["n"]), cols=int(meta["cols"]), matrix_id=int(meta["matrix_id"]),
                         codes=arrays["codes"], ladder=arrays["ladder"], norms=arrays["norms"],
                         overloads=int(meta["overloads"]))
