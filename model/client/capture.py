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


class CaptureState:
    """The states of `Capture` (a fault's name is the state it puts the capture in)."""

    LIVE = "live"
    MUTED = "muted"
    ATTENUATED = "attenuated"
    DISABLED = "disabled"
    SUSPENDED = "suspended"


FAULTS = (CaptureState.MUTED, CaptureState.ATTENUATED, CaptureState.DISABLED,
          CaptureState.SUSPENDED)
ATTENUATION_DB = -54.0


def through_capture(state: str, audio_context: bool) -> str:
    """What the capture does to the audio in `state`, for a client whose audio does or does
    not go through an AudioContext (a suspended context cannot stop a WebRTC track)."""
    return CaptureState.LIVE if state == CaptureState.SUSPENDED and not audio_context else state


class Capture(ProtocolMachine):
    NAME = "capture"
    STATES = (CaptureState.LIVE, *FAULTS)
    INITIAL = CaptureState.LIVE
    TRANSITIONS = (
        {"trigger": "mute", "source": "*", "dest": CaptureState.MUTED},
        {"trigger": "attenuate", "source": "*", "dest": CaptureState.ATTENUATED},
        {"trigger": "disable", "source": "*", "dest": CaptureState.DISABLED},
        {"trigger": "suspend", "source": "*", "dest": CaptureState.SUSPENDED},
        {"trigger": "restore", "source": "*", "dest": CaptureState.LIVE},
        {"trigger": "reacquire", "source": "*", "dest": CaptureState.LIVE},
    )

    def start_fault(self, fault: str) -> None:
        {CaptureState.MUTED: self.mute, CaptureState.ATTENUATED: self.attenuate,
         CaptureState.DISABLED: self.disable, CaptureState.SUSPENDED: self.suspend}[fault]()

    @property
    def delivers_chunks(self) -> bool:
        return self.state != CaptureState.SUSPENDED
