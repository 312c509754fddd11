"""Fixed-width bit packing used by the container, the kernels and the RTL stimulus.

Layout: each column (one output row of a weight matrix) is packed on its own, starting at a byte
boundary. Inside a column, value i occupies bits ``[i*w, (i+1)*w)`` of a little-endian bit stream
(bit j of the stream is bit ``j % 8`` of byte ``j // 8``), least significant bit first. For w = 8 this
is one byte per value; for w = 2 four values share a byte, the first in the two low bits.
"""

from __future__ import annotations

import numpy as np

from hwq.errors import HwqError

__all__ = ["pack_bits", "unpack_bits", "packed_bytes"]


def packed_bytes(count: int, width: int) -> int:
    """Bytes of one packed column of ``count`` values of ``width`` bits."""
    return (count * width + 7) // 8


def pack_bits(values: np.ndarray, width: int) -> np.ndarray:
    """Pack unsigned integers row by row.

    Parameters
    ----------
    values : ndarray of int, shape (rows, count)
        Each entry in [0, 2**width).
    width : int
        Bits per value, 0..63 (0 gives an empty (rows, 0) array).

    Returns
    -------
    ndarray of uint8, shape (rows, packed_bytes(count, width))
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise HwqError(f"pack_bits expects a 2-D array (rows, count), got shape {values.shape}")
    if not 0 <= width <= 63:
        raise HwqError(f"pack width must be in [0, 63], got {width}")
    rows, count = values.shape
    if width == 0:
        return np.zeros((rows, 0), dtype=np.uint8)
    v = values.astype(np.uint64)
    if values.size and (np.min(values) < 0 or int(np.max(v)) >> width):
        raise HwqError(f"values do not fit in {width} unsigned bits")
    if width == 8:
        return v.astype(np.uint8)
    bits = ((v[:, :, None] >> np.arange(width, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    bits = bits.reshape(rows, count * width)
    nbytes = packed_bytes(count, width)
    pad = nbytes * 8 - count * width
    if pad:
        bits = np.concatenate([bits, np.zeros((rows, pad), dtype=np.uint8)], axis=1)
    return np.packbits(bits, axis=1, bitorder="little")


def unpack_bits(packed: np.ndarray, width: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: (rows, nbytes) uint8 -> (rows, count) int64."""
    packed = np.asarray(packed, dtype=np.uint8)
    if packed.ndim != 2:
        raise HwqError(f"unpack_bits expects a 2-D array, got shape {packed.shape}")
    rows = packed.shape[0]
    if width == 0:
        return np.zeros((rows, count), dtype=np.int64)
    if packed.shape[1] != packed_bytes(count, width):
        raise HwqError(f"packed column has {packed.shape[1]} bytes, expected {packed_bytes(count, width)} "
                       f"for {count} values of {width} bits")
    if width == 8:
        return packed.astype(np.int64)
    bits = np.unpackbits(packed, axis=1, bitorder="little")[:, : count * width]
    bits = bits.reshape(rows, count, width).astype(np.uint64)
    v = np.zeros((rows, count), dtype=np.uint64)
    for b in range(width):
        v |= bits[:, :, b] << np.uint64(b)
    return v.astype(np.int64)
