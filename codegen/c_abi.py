"""The C kernel library's return codes and instruction-set ids: one table, rendered into the header.

The generated ``<name>.h`` (``templates/c_header.h.j2``) defines the ``HWQ_E_*`` / ``HWQ_ISA_*``
constants from :data:`C_ERRORS` and :data:`C_ISAS`, and :mod:`hwq.codegen.build` turns a non-zero
return code into an :class:`~hwq.errors.HwqError` with the message of the same row.
"""

from __future__ import annotations

from typing import Any

__all__ = ["C_ERRORS", "C_ISAS", "C_KERNELS", "ISA_NAMES", "KERNEL_NAMES", "c_abi_context", "error_message"]

#: instruction sets of the C kernels: name -> id of ``<name>_set_isa`` (0 = best available)
C_ISAS: dict[str, int] = {"auto": 0, "scalar": 1, "avx2": 2, "avx512": 3, "avx512vbmi": 4}
#: id -> name of the instruction sets a kernel can run on
ISA_NAMES: dict[int, str] = {v: k for k, v in C_ISAS.items() if v}

#: table-path loops (``<name>_last_kernel``): name -> id; "decode" is the decode-then-dot loop of batch >= 3,
#: "gather_madd" / "gather_decode" the AVX2 weight-only loops (int16 tables looked up with vpgatherdd and
#: multiplied by the ladder in vpmaddwd / codewords gathered once per record, then vpmaddwd per vector),
#: "gather_fma" the AVX2 fast-mode loop (float tables, vgatherdps, times beta_T), "dn_decode" the AVX2
#: weight-only loop of D_n configs (codewords computed with byte shuffles, then vpmaddwd per vector)
C_KERNELS: dict[str, int] = {"none": 0, "scalar": 1, "gather": 2, "planes": 3, "vnni": 4, "decode": 5,
                             "gather_madd": 6, "gather_decode": 7, "gather_fma": 8,
                             "dn_decode": 9}
#: id -> name of the table-path loops
KERNEL_NAMES: dict[int, str] = {v: k for k, v in C_KERNELS.items()}

#: (C constant, return code, message) of every C entry point's return value
C_ERRORS: tuple[tuple[str, int, str], ...] = (
    ("HWQ_OK", 0, "ok"),
    ("HWQ_E_BLOCK", 1,
     "K is not a multiple of the block size d; pad the rows with zeros (hwq.codegen.check.pad_rows)"),
    ("HWQ_E_HADAMARD", 2,
     "K is not a multiple of the Hadamard size; pad the rows with zeros (hwq.codegen.check.pad_rows)"),
    ("HWQ_E_MAXK", 3, "K exceeds the config's max_k; raise max_k"),
    ("HWQ_E_ARGS", 4, "invalid sizes (K, M and the batch must be >= 1)"),
    ("HWQ_E_ALLOC", 5, "out of memory in the C kernel"),
    ("HWQ_E_RANGE", 6, ("activation input out of range (integer activations beyond +-act_max or "
                        "+-act_rot_bound, or activation codes / ladder indices beyond the codebook)")),
    ("HWQ_E_LAYOUT", 7, "this config has no kernel layout for this kernel; pass the EncodedMatrix instead"),
    ("HWQ_E_CODES", 8, ("weight codes or ladder indices out of range (a code >= the number of codewords or a "
                        "ladder index >= ladder_len): the encoded matrix is corrupt; re-encode it")),
)


def error_message(rc: int) -> str:
    """Message of C return code ``rc``."""
    for _, code, msg in C_ERRORS:
        if code == rc:
            return msg
    return f"unknown error {rc}"


def c_abi_context() -> dict[str, Any]:
    """Template variables: ``c_errors`` [(name, code, message)], ``c_isas`` [(HWQ_ISA_<NAME>, id)],
    ``c_kernels`` [(HWQ_KERNEL_<NAME>, id)]."""
    isas = [("HWQ_ISA_" + ("VBMI" if n == "avx512vbmi" else n.upper()), v) for n, v in C_ISAS.items()]
    kernels = [("HWQ_KERNEL_" + n.upper(), v) for n, v in C_KERNELS.items()]
    return {"c_errors": list(C_ERRORS), "c_isas": isas, "c_kernels": kernels}
