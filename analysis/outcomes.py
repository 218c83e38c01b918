"""What each design does under each cause: the field report's story, replayed per design.

For every cause of the diagnosis (`analysis/causes.py`) and every design, the report's
story runs once (seed 0) and its outcome is recorded: whether the session froze (the
`recovery` property), whether an utterance after the incident (the capture fault, or the
typing for a cause without one) was heard, whether the client told the user (a notice
after the incident: a surfaced failure, not a silent one), and how the client got there —
the path its recovery took, read from its notices, its reconnects and the server's
idle-timeout prompts. This is the evidence behind the review's answers to "which recovery
pattern works without a restart" and "would WebRTC fix it, per cause"; the diagnosis'
separating experiments read the same outcomes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vadlock.analysis.causes import Cause, causes
from vadlock.analysis.diagnose import FreezeFacts, Story, facts, story
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.simulator.engine import simulate
from vadlock.simulator.trace import HEARD_EARLY_MS, HEARD_WITHIN_MS, S2C, Trace

# the client's notices, by the rung or watchdog that raised them
PATH_STEPS = (
    ("re-acquiring capture", "re-acquired the microphone"),
    ("re-applying turn_detection", "re-applied turn_detection"),
    ("committing or clearing", "committed or cleared the buffer"),
    ("reconnecting", "reconnected with conversation replay"),
)


@dataclass
class Outcome:
    cause: str
    design: str
    frozen: bool
    heard_again: bool  # an utterance after the incident began got its speech_started
    path: list[str] = field(default_factory=list)  # recovery steps, in the order taken
    reconnects: int = 0
    prompts: int = 0  # the server's idle-timeout prompts after the fault began
    surfaced: bool = False  # the client told the user (a notice) after the incident

    @property
    def label(self) -> str:
        """A short cell text for the review's table."""
        if self.frozen:
            return "**frozen**" + (" (surfaced)" if self.surfaced else "")
        if not self.heard_again:
            return ("not heard; server prompts" if self.prompts else "not heard") + (
                "; surfaced" if self.surfaced else "; silent")
        return "heard: " + ("; ".join(self.path) if self.path else "without intervention")

    def to_dict(self) -> dict:
        return {**asdict(self), "label": self.label}

    @classmethod
    def from_dict(cls, data: dict) -> "Outcome":
        return cls(**{k: v for k, v in data.items() if k != "label"})


def outcome_of(trace: Trace, cause: Cause, design: str, incident_ms: int) -> Outcome:
    """The outcome of a story whose incident (the capture fault, or the typing for a cause
    without one) began at `incident_ms`."""
    started = [r.t_ms for r in trace.wire if r.direction == S2C
               and r.type == "input_audio_buffer.speech_started"]
    heard_again = any(
        any(u.start_ms - HEARD_EARLY_MS <= t <= u.start_ms + HEARD_WITHIN_MS for t in started)
        for u in trace.utterances if u.start_ms >= incident_ms)
    path = []
    for t, text in trace.notices:
        for needle, step in PATH_STEPS:
            if needle in text and t >= incident_ms and step not in path:
                path.append(step)
    return Outcome(
        cause.name, design, frozen=bool(check(trace, (FREEZE_PROPERTY,))),
        heard_again=heard_again, path=path, reconnects=trace.reconnects,
        prompts=sum(1 for r in trace.wire if r.direction == S2C and r.t_ms >= incident_ms
                    and r.type == "input_audio_buffer.timeout_triggered"),
        surfaced=any(t >= incident_ms for t, _ in trace.notices))


def run_story(job: tuple) -> tuple[FreezeFacts, Outcome]:
    """One run of the report's story: (design, cause, story variant, seed), as the
    diagnosis schedules them. Returns the diagnosis' facts and the outcome, from one trace."""
    design, cause, variant, seed = job
    development = design.split("+")[0] == "development"
    scenario = story(cause, variant.typing, variant.switch, variant, development)
    incident_ms = min([f.start_ms for f in scenario.capture_faults] or
                      [t.start_ms for t in scenario.typing] or [scenario.duration_ms])
    trace = simulate(get_design(design), ServerVadHypotheses.parse(cause.server), scenario,
                     seed=seed)
    return facts(trace), outcome_of(trace, cause, design, incident_ms)


def story_jobs(designs: list[str]) -> list[tuple]:
    """The whole story (typing and the application switch), seed 0, per cause and design."""
    return [(design, cause, Story(), 0) for cause in causes() for design in designs]
