"""The production stuck-VAD watchdog.

Armed on `speech_started`, disarmed on `speech_stopped`; if still armed after 30 s it sends
`input_audio_buffer.clear`. It only ever arms on `speech_started`: a server that never
starts speech never arms it.
"""

from vadlock.model import protocol
from vadlock.model.machine import ProtocolMachine, Timer


class WatchdogState:
    """The states of `StuckVadWatchdog`."""

    DISARMED = "disarmed"
    ARMED = "armed"


class StuckVadWatchdog(ProtocolMachine):
    NAME = "stuck_vad_watchdog"
    STATES = (WatchdogState.DISARMED, WatchdogState.ARMED)
    INITIAL = WatchdogState.DISARMED
    TRANSITIONS = (
        {"trigger": "speech_started", "source": "*", "dest": WatchdogState.ARMED,
         "after": "_restart"},
        {"trigger": "speech_stopped", "source": "*", "dest": WatchdogState.DISARMED},
        {"trigger": "expire", "source": WatchdogState.ARMED, "dest": WatchdogState.DISARMED,
         "after": "_send_clear"},
    )
    DATA = ("elapsed_ms",)
    TIMERS = (Timer("watchdog", "elapsed_ms", "timeout_ms", (WatchdogState.ARMED,), "expire"),)

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.elapsed_ms = 0
        super().__init__()

    def _restart(self, event) -> None:
        self.elapsed_ms = 0

    def _send_clear(self, event) -> None:
        self.elapsed_ms = 0
        self.emit(protocol.clear())
