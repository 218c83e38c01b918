"""Frame symbols: the only form in which audio reaches a machine.

A frame (or a chunk of frames) is summarised as a `FrameSymbol`: its level band and its
kind. The band edges are the RMS thresholds that some machine guard compares against —
the client gate, the interruption threshold, the server VAD's energy edge and the
near-silence edges — so two frames with the same symbol are indistinguishable to every
machine. That is what lets the exhaustive explorer enumerate symbols instead of samples
without losing anything a guard can see.
"""

from __future__ import annotations

import enum
from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property


class Kind(enum.IntEnum):
    """What a frame sounds like."""

    SPEECH = 0  # voiced, periodic: the user, or the echo of the assistant
    TRANSIENT = 1  # impulsive: key clicks
    STATIONARY = 2  # steady noise: room noise, hum, near-silent capture


# Fixed physical edges (float RMS). Everything else comes from the design and hypotheses.
TRACE_RMS = 0.0003  # about -70 dBFS: below this a frame is digital near-nothing
NEAR_SILENT_RMS = 0.0015  # about -56 dBFS: a muted track (int16 peaks 41-96) stays below


@dataclass(frozen=True)
class LevelScale:
    """Ordered RMS edges, each named after the guard that uses it.

    Level 0 is *exact digital zero*. Level k >= 1 means the RMS is at least the (k-1)-th
    edge (level 1 = non-zero but below the first edge).
    """

    edges: tuple[tuple[str, float], ...]

    @classmethod
    def build(cls, **named_rms: float) -> "LevelScale":
        named = {"trace": TRACE_RMS, "near_silent": NEAR_SILENT_RMS, **named_rms}
        return cls(tuple(sorted(named.items(), key=lambda kv: (kv[1], kv[0]))))

    @property
    def names(self) -> tuple[str, ...]:
        """Human names of levels 0..n."""
        return ("zero", "below_" + self.edges[0][0]) + tuple(f"{n}+" for n, _ in self.edges)

    @property
    def count(self) -> int:
        return len(self.edges) + 2

    def level_of(self, rms: float, exact_zero: bool) -> int:
        if exact_zero:
            return 0
        return 1 + bisect_right(self.values, rms)

    @cached_property
    def values(self) -> tuple[float, ...]:
        """The edges' RMS values, ascending."""
        return tuple(value for _, value in self.edges)

    def threshold_level(self, name: str) -> int:
        """The lowest level whose frames have RMS >= the edge called `name`."""
        for i, (edge_name, _) in enumerate(self.edges):
            if edge_name == name:
                return i + 2
        raise KeyError(name)

    def representative_rms(self, level: int) -> float:
        """An RMS well inside `level` (turns explorer symbols back into audio)."""
        if level == 0:
            return 0.0
        if level == 1:
            return self.edges[0][1] * 0.5
        lo = self.edges[level - 2][1]
        hi = self.edges[level - 1][1] if level - 1 < len(self.edges) else min(1.0, lo * 3.0)
        return float((lo * hi) ** 0.5)


class Detection(enum.IntEnum):
    """A detector engine's verdict on a frame against the session's `threshold` (the
    simulator's real detectors; the explorer's symbols carry none)."""

    BELOW = 0  # p < threshold - 0.15
    DEAD_BAND = 1  # threshold - 0.15 <= p < threshold (Silero's hysteresis band)
    SPEECH = 2  # p >= threshold

    @classmethod
    def of(cls, probability: float, threshold: float) -> "Detection":
        if probability >= threshold:
            return cls.SPEECH
        return cls.DEAD_BAND if probability >= threshold - DEAD_BAND_WIDTH else cls.BELOW


DEAD_BAND_WIDTH = 0.15  # silero-vad's neg_threshold = threshold - 0.15


@dataclass(frozen=True, order=True)
class FrameSymbol:
    """One frame as a machine sees it; `detection`: a detector engine's verdict, if any."""

    level: int
    kind: Kind
    detection: Detection | None = None

    def __repr__(self) -> str:
        heard = "" if self.detection is None else f":{self.detection.name.lower()}"
        return f"<{self.level}:{self.kind.name.lower()}{heard}>"


ZERO = FrameSymbol(0, Kind.STATIONARY)
