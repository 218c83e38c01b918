"""The candidate causes of the field report's freeze, each with its evidence grade.

A cause has up to three parts, each a hypothesis, never a fact:
- a server behaviour: a `--server` string (hypotheses combined with commas), graded by
  by name from the evidence registry (`model/evidence.py`);
- a capture fault (`CAPTURE`): what the microphone path delivers, whether it can happen
  without an application switch, and what it survives (a re-acquisition of the
  microphone, a full session restart);
- a client-side mechanism of the production build that the report does not show
  (`CLIENT`): a design variant, or a capture fault the build's own code brings on.
A combination is as strong as its weakest part.
"""

from __future__ import annotations

from dataclasses import dataclass

from vadlock.model.client.capture import CaptureState
from vadlock.model.evidence import ENGINE_EVIDENCE, GRADES, HYPOTHESIS_EVIDENCE, Evidence


def server_evidence(part: str) -> Evidence:
    """The evidence registry's entry (`model/evidence.py`) for one part of a `--server`
    string: a hypothesis, or an engine (`webrtc-vad:2` is the engine `webrtc-vad`);
    GRADES are ordered strongest first."""
    name = part.strip()
    entry = HYPOTHESIS_EVIDENCE.get(name) or ENGINE_EVIDENCE.get(name.split(":")[0])
    if entry is None:
        raise ValueError(f"no evidence grade for server behaviour {name}")
    return entry


def weakest(grades) -> str:
    return max(grades, key=GRADES.index)


def server_grade(server: str) -> str:
    """The grade of a `--server` string: its weakest part (an unknown part is an error)."""
    parts = [p.strip() for p in server.split(",") if p.strip()]
    return weakest(server_evidence(p).grade for p in parts)


@dataclass(frozen=True)
class CaptureCause:
    fault: str  # the capture state it puts the microphone in (model/client/capture.py)
    survives: str  # "nothing" | "re-acquisition" | "restart" (a restart re-acquires too)
    switch_only: bool  # happens only when an application switch brings it on
    production_only: bool  # the production build's own code brings it on
    grade: str
    summary: str


CAPTURE: dict[str, CaptureCause] = {
    "muted": CaptureCause(CaptureState.MUTED, "nothing", False, False, "documented",
                          "the track is muted (MDN: the source temporarily cannot provide "
                          "data); its near-silent samples are modelled on the report's own "
                          "log, so O6 cannot test it"),
    "attenuated": CaptureCause(CaptureState.ATTENUATED, "nothing", False, False, "speculative",
                               "the signal arrives attenuated (a clamped AGC, ducking); no "
                               "source, and its level is a free parameter"),
    "disabled": CaptureCause(CaptureState.DISABLED, "nothing", False, False, "documented",
                             "track.enabled = false: exact zeros (MDN)"),
    "suspended": CaptureCause(CaptureState.SUSPENDED, "nothing", False, False, "documented",
                              "the AudioContext is suspended: no chunks (Web Audio spec; "
                              "that no chunk comes is an inference)"),
    "held": CaptureCause(CaptureState.MUTED, "restart", True, False, "speculative",
                         "another application keeps the microphone: a re-acquisition and a "
                         "restart get the same silent device (modelled as muted, on the "
                         "report's own log)"),
    "volume-low": CaptureCause(CaptureState.ATTENUATED, "restart", False, False, "speculative",
                               "the OS input volume is turned down: survives a re-acquisition "
                               "and a restart"),
}

# Client-side mechanisms a production build could contain that the report does not show.
CLIENT: dict[str, tuple[str, CaptureCause | None, str]] = {
    # name: (design suffix, capture fault it brings on, summary); all speculative
    "gate-lag": ("+lag1", None, "the gate decides on the previous chunk's energy (suggested "
                 "only by the name lastMicrophoneEnergy)"),
    "gain-stuck": ("", CaptureCause(CaptureState.ATTENUATED, "re-acquisition", False, True,
                                    "speculative", "an app-side gain stage left low (e.g. ducking during "
                                    "playback never restored): survives a re-acquisition, "
                                    "not a restart; production-only by hypothesis, so O10 "
                                    "holds by construction"), ""),
}
CLIENT_GRADE = "speculative"


@dataclass(frozen=True)
class Cause:
    server: str = "energy"
    capture: str | None = None  # a key of CAPTURE
    client: str | None = None  # a key of CLIENT

    @property
    def name(self) -> str:
        parts = []
        if self.client:
            parts.append(f"client:{self.client}")
        if self.capture:
            parts.append(f"capture:{self.capture}")
        if self.server != "energy" or not parts:
            parts.append(f"server:{self.server}")
        return " + ".join(parts)

    @property
    def capture_cause(self) -> CaptureCause | None:
        if self.capture:
            return CAPTURE[self.capture]
        return CLIENT[self.client][1] if self.client else None

    @property
    def design_suffix(self) -> str:
        return CLIENT[self.client][0] if self.client else ""

    @property
    def grade(self) -> str:
        grades = [server_grade(self.server)]
        if self.capture:
            grades.append(CAPTURE[self.capture].grade)
        if self.client:
            grades.append(CLIENT_GRADE)
        return weakest(grades)

    @property
    def summary(self) -> str:
        parts = []
        if self.client:
            suffix, fault, text = CLIENT[self.client]
            parts.append(text or fault.summary)
        if self.capture:
            parts.append(CAPTURE[self.capture].summary)
        if self.server != "energy" or not parts:
            parts.append("; ".join(server_evidence(p).summary for p in self.server.split(",")))
        return "; ".join(parts)

    @classmethod
    def parse(cls, name: str) -> "Cause":
        fields = {"server": "energy", "capture": None, "client": None}
        for part in name.split(" + "):
            kind, _, value = part.partition(":")
            fields[kind] = value
        return cls(**fields)


SERVER_CAUSES = ("energy", "zero-skip", "floor-adapt", "deadband", "clear-keeps-vad",
                 "noise-as-speech", "zero-skip,clear-keeps-vad")
COMBINED_SERVERS = ("energy", "floor-adapt")


def causes() -> list[Cause]:
    """Every candidate: each server behaviour alone (a live microphone), and each capture
    fault and client mechanism with the base server and with floor-adapt."""
    out = [Cause(s) for s in SERVER_CAUSES]
    out += [Cause(s, capture=c) for c in CAPTURE for s in COMBINED_SERVERS]
    out += [Cause(s, client=c) for c in CLIENT for s in COMBINED_SERVERS]
    return out
