"""The production stuck-VAD watchdog.

Armed on `speech_started`, disarmed on `speech_stopped`; if still armed after 30 s it sends
`input_audio_buffer.clear`. It only ever arms on `speech_started`: a server that never
starts speech never arms it.
"""

from vadlock.model import protocol
from vadlock.model.machine import ProtocolMachine, Timer


class StuckVadWatchdog(ProtocolMachine):
    NAME = "stuck_vad_watchdog"
    STATES = ("disarmed", "armed")
    INITIAL = "disarmed"
    TRANSITIONS = (
        {"trigger": "speech_started", "source": "*", "dest": "armed", "after": "_restart"},
        {"trigger": "speech_stopped", "source": "*", "dest": "disarmed"},
        {"trigger": "expire", "source": "armed", "dest": "disarmed", "after": "_send_clear"},
    )
    DATA = ("elapsed_ms",)
    TIMERS = (Timer("watchdog", "elapsed_ms", "timeout_ms", ("armed",), "expire"),)

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms
        self.elapsed_ms = 0
        super().__init__()

    def _restart(self, event) -> None:
        self.elapsed_ms = 0

    def _send_clear(self, event) -> None:
        self.elapsed_ms = 0
        self.emit(protocol.clear())
