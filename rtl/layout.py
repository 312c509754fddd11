"""Reflection of Amaranth data layouts: the fields of a stream payload as plain lists (for manifests,
testbenches and AXI beat layouts)."""

from __future__ import annotations

from amaranth.hdl import Const, Value, unsigned

__all__ = ["layout_fields"]


def layout_fields(layout) -> list[list]:
    """``[name, offset, width, count, signed]`` per field of a StructLayout (arrays flattened by count)."""
    from amaranth.lib import data

    out = []
    for name, fld in layout:
        shape = fld.shape
        if isinstance(shape, data.ArrayLayout):
            elem = shape.elem_shape
            w = data.Layout.cast(elem).size if isinstance(elem, data.Layout) else Value.cast(
                Const(0, elem)).shape().width
            sg = (not isinstance(elem, data.Layout)) and elem.signed
            out.append([name, fld.offset, w, shape.length, bool(sg)])
        else:
            s = shape if not isinstance(shape, data.Layout) else unsigned(shape.size)
            out.append([name, fld.offset, s.width, 1, bool(s.signed)])
    return out

