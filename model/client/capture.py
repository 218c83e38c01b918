"""Capture: what the microphone path delivers to the worklet.

- `live`: the microphone signal.
- `muted`: the track is muted or another application holds the microphone; the worklet
  gets near-silent samples (int16 peaks about 41-96), whatever the user does.
- `attenuated`: the user's signal arrives about 40 dB down (a clamped AGC or an
  OS communications ducking): loud speech also peaks at only ~41-96.
- `disabled`: `track.enabled = false`; every sample is exactly 0.
- `suspended`: the AudioContext is suspended or interrupted; no chunks at all.

Faults are driven by the environment; `reacquire` is the client's own recovery (the
capture-health watchdog re-acquires the microphone / resumes the AudioContext).
"""

from model.machine import ProtocolMachine

FAULTS = ("muted", "attenuated", "disabled", "suspended")


class Capture(ProtocolMachine):
    NAME = "capture"
    STATES = ("live", *FAULTS)
    INITIAL = "live"
    TRANSITIONS = (
        {"trigger": "mute", "source": "*", "dest": "muted"},
        {"trigger": "attenuate", "source": "*", "dest": "attenuated"},
        {"trigger": "disable", "source": "*", "dest": "disabled"},
        {"trigger": "suspend", "source": "*", "dest": "suspended"},
        {"trigger": "restore", "source": "*", "dest": "live"},
        {"trigger": "reacquire", "source": "*", "dest": "live"},
    )

    def start_fault(self, fault: str) -> None:
        {"muted": self.mute, "attenuated": self.attenuate, "disabled": self.disable,
         "suspended": self.suspend}[fault]()

    @property
    def delivers_chunks(self) -> bool:
        return self.state != "suspended"
