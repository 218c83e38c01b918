"""Progress on stderr for long runs: a rewritten line on a terminal, sparse lines otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, enabled: bool = True, every_s: float = 2.0) -> None:
        self.label = label
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.every_s = every_s
        self._last = 0.0
        self._shown = False

    def __call__(self, text: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not self.tty and now - self._last < self.every_s:
            return
        self._last = now
        if self.tty:
            sys.stderr.write(f"\r{self.label}: {text}\033[K")
        else:
            sys.stderr.write(f"{self.label}: {text}\n")
        sys.stderr.flush()
        self._shown = True

    def done(self) -> None:
        if self.enabled and self.tty and self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
