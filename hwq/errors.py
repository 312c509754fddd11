"""The one exception type hwq raises for bad input."""

from __future__ import annotations


class HwqError(ValueError):
    """Invalid input or configuration.

    The message names what was wrong (field, value, shape) and what is allowed or how to fix it.
    The CLI turns it into a one-line message and exit status 2.
    """
