"""The one exception type hwq raises for bad input."""

from __future__ import annotations


class HwqError(ValueError):
    """Invalid input or configuration.

    The message names what was wrong (field, value, shape) and what is allowed or how to fix it.
    The CLI turns it into a one-line message and exit status 2.
    """


class ToolError(HwqError):
    """An external tool (Yosys, nextpnr, Verilator, a compiler) failed or could not run.

    ``log`` is the file holding the tool's full output; the message names the tool, its exit status and
    that file, on one line, so the CLI can print it as is.
    """

    def __init__(self, tool: str, message: str, log: str | None = None):
        self.tool = tool
        self.log = log
        super().__init__(f"{tool} {message}" + (f"; its log: {log}" if log else ""))


class OutputExistsError(HwqError):
    """Writing would replace a file hwq did not write (a user's file): refused, naming the file."""
