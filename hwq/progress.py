"""A small progress display on stderr (no dependency; quiet when stderr is not a terminal unless asked)."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``with Progress(total, "encode") as p: p.update(k)`` draws ``label [#####.....] k/total  12.3s``.

    When stderr is not a TTY it prints a line at most every ``interval`` seconds (and at the end), so
    logs show progress without a flood of carriage returns.
    """

    def __init__(self, total: int, label: str, stream=None, interval: float = 2.0, enabled: bool = True):
        self.total = max(1, int(total))
        self.label = label
        self.stream = stream or sys.stderr
        self.interval = interval
        self.enabled = enabled
        self.done = 0
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._draw(final=True)
            if self._tty:
                self.stream.write("\n")
            self.stream.flush()

    def update(self, done: int | None = None, label: str | None = None) -> None:
        self.done = self.total if done is None else min(int(done), self.total)
        if label:
            self.label = label
        now = time.perf_counter()
        if self.enabled and (self._tty or now - self._last >= self.interval):
            self._last = now
            self._draw()

    def advance(self, k: int = 1) -> None:
        self.update(self.done + k)

    def _draw(self, final: bool = False) -> None:
        frac = self.done / self.total
        bar = "#" * int(24 * frac) + "." * (24 - int(24 * frac))
        msg = f"{self.label:<28} [{bar}] {self.done}/{self.total} {time.perf_counter() - self._t0:6.1f}s"
        if self._tty:
            self.stream.write("\r" + msg)
        elif final or True:
            self.stream.write(msg + "\n")
        self.stream.flush()
