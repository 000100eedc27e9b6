"""Progress lines of a long transfer (bytes, rate, ETA), logged at most every few seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

LOG = logging.getLogger("rsnn_decoding.download")

INTERVAL_S = 5.0
MB = 1e6


def _duration(seconds: float) -> str:
    """A duration as '42 s', '7 min 05 s' or '2 h 03 min'."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class TransferProgress:
    """Logs `name: done [of total] MB (pct), rate MB/s, ETA` when `interval_s` has passed since the last line."""

    def __init__(
        self,
        name: str,
        total: int | None,
        start: int = 0,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: logging.Logger = LOG,
    ) -> None:
        """Start timing a transfer of `total` bytes (None: unknown) that resumes at byte `start`."""
        self.name, self.total, self.start = name, total, start
        self.interval_s = INTERVAL_S if interval_s is None else interval_s
        self.clock, self.log = clock, log
        self.t0 = self.last = clock()

    def line(self, done: int, now: float) -> str:
        """The progress line for `done` bytes at clock time `now`."""
        elapsed = now - self.t0
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        text = f"{self.name}: {done / MB:.1f}"
        if self.total:
            text += f" of {self.total / MB:.1f} MB ({100 * done / self.total:.0f}%)"
        else:
            text += " MB"
        text += f", {rate / MB:.2f} MB/s"
        if self.total and rate > 0:
            text += f", ETA {_duration((self.total - done) / rate)}"
        return text

    def update(self, done: int) -> bool:
        """Record that `done` bytes are on disk; log a line (and return True) when the interval has passed."""
        now = self.clock()
        if now - self.last < self.interval_s:
            return False
        self.last = now
        self.log.info("%s", self.line(done, now))
        return True
