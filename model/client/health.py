"""Capture-health watchdog (a fix): notices a microphone that has gone near-silent.

Raw input below the near-silence edge (int16 peaks under ~50, like the report's
"max: 41..96" chunks) for `timeout_ms` is not what a live microphone in a room delivers.
The watchdog then re-acquires the microphone / resumes the AudioContext and surfaces a
notice to the UI. A missing chunk (suspended context) counts as near-silent too.
"""

from vadlock.model.client.outputs import Notice, Reacquire
from vadlock.model.machine import ProtocolMachine, Timer


class HealthState:
    """The states of `CaptureHealthWatchdog`."""

    HEALTHY = "healthy"
    SUSPECT = "suspect"


class CaptureHealthWatchdog(ProtocolMachine):
    NAME = "capture_health"
    STATES = (HealthState.HEALTHY, HealthState.SUSPECT)
    INITIAL = HealthState.HEALTHY
    TRANSITIONS = (
        {"trigger": "audible_chunk", "source": "*", "dest": HealthState.HEALTHY,
         "after": "_reset"},
        {"trigger": "silent_chunk", "source": HealthState.HEALTHY, "dest": HealthState.SUSPECT,
         "after": "_count"},
        {"trigger": "silent_chunk", "source": HealthState.SUSPECT, "dest": HealthState.HEALTHY,
         "conditions": "_too_long", "after": "_reacquire"},
        {"trigger": "silent_chunk", "source": HealthState.SUSPECT, "dest": None,
         "after": "_count"},
        {"trigger": "silence_timeout", "source": HealthState.SUSPECT,
         "dest": HealthState.HEALTHY, "after": "_reacquire"},
    )
    DATA = ("silent_ms",)
    # counted in captured (or missing) chunks, not wall time
    TIMERS = (Timer("capture_health", "silent_ms", "timeout_ms", (HealthState.SUSPECT,),
                    "silence_timeout", clock=False, zero_is_stopped=True),)

    TRIGGER_ARGS = {"silent_chunk": ("duration_ms",)}

    def __init__(self, timeout_ms: int, near_silent_level: int) -> None:
        self.timeout_ms = timeout_ms
        self.near_silent_level = near_silent_level
        self.silent_ms = 0
        super().__init__()

    def chunk(self, level: int | None, duration_ms: int) -> None:
        """`level` None: the context delivered no chunk for `duration_ms`."""
        if level is not None and level >= self.near_silent_level:
            self.audible_chunk()
        else:
            self.silent_chunk(duration_ms=duration_ms)

    def _reset(self, event) -> None:
        self.silent_ms = 0

    def _count(self, event) -> None:
        self.silent_ms += event.kwargs["duration_ms"]

    def _too_long(self, event) -> bool:
        return self.silent_ms + event.kwargs["duration_ms"] >= self.timeout_ms

    def _reacquire(self, event) -> None:
        self.silent_ms = 0
        self.emit(Notice("microphone silent: re-acquiring capture"))
        self.emit(Reacquire())
