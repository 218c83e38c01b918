"""Transports on the simulated clock.

`Link` is one direction of a WebSocket (or of a WebRTC media track): reliable and ordered,
with its own base latency, uniform jitter and latency spikes (an extra delay for messages sent inside a window — a stall is a
big spike). Order is kept: a message never overtakes an earlier one.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from vadlock.simulator.scenario import LatencySpike

JITTER_BLOCK = 256


class Link:
    def __init__(self, latency_ms: int, jitter_ms: int, spikes: tuple[LatencySpike, ...],
                 rng: np.random.Generator) -> None:
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.spikes = spikes
        self.rng = rng
        self._queue: deque[tuple[int, Any]] = deque()
        self._last_arrival_ms = 0
        self._jitter: list[int] = []  # drawn in blocks: one numpy call per JITTER_BLOCK sends

    def send(self, t_ms: int, message: Any) -> None:
        delay = self.latency_ms
        if self.jitter_ms:
            if not self._jitter:
                self._jitter = self.rng.integers(0, self.jitter_ms + 1, JITTER_BLOCK).tolist()
                self._jitter.reverse()
            delay += self._jitter.pop()
        for spike in self.spikes:
            if spike.start_ms <= t_ms < spike.start_ms + spike.duration_ms:
                delay += spike.extra_ms
        arrival = max(self._last_arrival_ms, t_ms + delay)
        self._last_arrival_ms = arrival
        self._queue.append((arrival, message))

    @property
    def next_arrival_ms(self) -> int | None:
        return self._queue[0][0] if self._queue else None

    def due(self, t_ms: int) -> bool:
        """Whether a message arrives by `t_ms`."""
        return bool(self._queue) and self._queue[0][0] <= t_ms

    def deliver(self, t_ms: int) -> list[Any]:
        out = []
        while self._queue and self._queue[0][0] <= t_ms:
            out.append(self._queue.popleft()[1])
        return out

    def reset(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)
