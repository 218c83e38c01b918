"""Capture: what the microphone path delivers to the worklet.

- `live`: the microphone signal.
- `muted`: the track is muted or another application holds the microphone; the worklet
  gets near-silent samples (int16 peaks about 41-96), whatever the user does.
- `attenuated`: the user's signal arrives attenuated (the OS input volume pulled down, a
  clamped AGC, communications ducking): by ATTENUATION_DB unless the scenario's
  `attenuation_db` says otherwise. The value is a free parameter, not a measurement: the
  diagnosis shows over which attenuations loud speech logs the report's "max: 41..96".
- `disabled`: `track.enabled = false`; every sample is exactly 0.
- `suspended`: the AudioContext is suspended or interrupted; no chunks at all. Only a
  client whose audio goes through an AudioContext (the WebSocket worklet) is affected:
  a WebRTC client hands the track to the peer connection directly.

Faults are driven by the environment; `reacquire` is the client's own recovery (the
capture-health watchdog re-acquires the microphone / resumes the AudioContext). The
machine assumes nothing about whether that works: `reacquire` returns to `live`, and a
fault whose cause outlives the re-acquisition (the OS input volume stays at zero, another
application keeps the microphone) is the environment's to re-impose — a scenario's
capture fault with `survives_reacquire` comes back at once while it lasts.
"""

from vadlock.model.machine import ProtocolMachine

FAULTS = ("muted", "attenuated", "disabled", "suspended")
ATTENUATION_DB = -54.0


def through_capture(state: str, audio_context: bool) -> str:
    """What the capture does to the audio in `state`, for a client whose audio does or does
    not go through an AudioContext (a suspended context cannot stop a WebRTC track)."""
    return "live" if state == "suspended" and not audio_context else state


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
