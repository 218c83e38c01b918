"""Diagnosis: which causes reproduce what the field report's author saw.

Each observation O1-O10 of design.md is a predicate over the traces of one cause. A cause
is a server VAD hypothesis set plus, optionally, a capture fault that the application
switch brings on. Each cause runs the field report's story (good turns, typing during a
reply, an application switch, the user then speaking louder) and its variants without
typing and without the switch, over a few seeds, with the production design, and the
full story once with the development design.

"More likely with X" (O3, O9) can only be judged as *consistency*: the freeze happens with
X, at least as often as without it.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Callable

from vadlock.model.client.capture import FAULTS
from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.protocol import PROGRESS_TYPES
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.simulator.engine import simulate
from vadlock.simulator.presets import field_report
from vadlock.simulator.scenario import Scenario
from vadlock.simulator.trace import S2C, Trace

OBSERVATIONS = {
    "O1": "several good turns before the freeze",
    "O2": "it starts after an assistant response",
    "O3": "more likely with keyboard noise",
    "O4": "the socket stays open, no error",
    "O5": "no server event at all afterwards",
    "O6": "every chunk flagged silent, raw int16 peak 41-96, even while speaking loudly",
    "O7": "speaking louder does not recover",
    "O8": "only a full restart recovers",
    "O9": "switching applications makes it more likely",
    "O10": "only the production build shows it",
}

SERVER_CAUSES = ("energy", "zero-skip", "floor-adapt", "deadband", "clear-keeps-vad",
                 "noise-as-speech", "zero-skip,clear-keeps-vad")
CAPTURE_CAUSE_SERVERS = ("energy", "floor-adapt")
SEEDS = (0, 1)
STORY_MS = 100_000
FLAGGED_SILENT_RMS = 0.03  # the worklet's own test: below clientVADThreshold
# O6: the report logs raw int16 peaks of 41, 78, 96 ("hundreds" alike) while the user
# speaks loudly: near-silent, but not digital silence. Its three numbers widened by ~25 %:
O6_PEAK_INT16 = (30, 120)
GOOD_TURNS_MIN = 2


@dataclass(frozen=True)
class Cause:
    server: str
    capture_fault: str | None = None

    @property
    def name(self) -> str:
        if self.capture_fault is None:
            return f"server:{self.server}"
        return f"capture:{self.capture_fault}" + (
            "" if self.server == "energy" else f" + server:{self.server}")


def causes() -> list[Cause]:
    out = [Cause(s) for s in SERVER_CAUSES]
    out += [Cause(s, f) for f in FAULTS for s in CAPTURE_CAUSE_SERVERS]
    return out


def story(cause: Cause, typing: bool = True, app_switch: bool = True) -> Scenario:
    """The field report's story for this cause (the switch brings on its capture fault)."""
    base = field_report(STORY_MS)
    faults = ()
    if app_switch and cause.capture_fault is not None:
        switch = base.capture_faults[0]
        faults = (replace(switch, kind=cause.capture_fault),)
    return replace(base, typing=base.typing if typing else (), capture_faults=faults)


# -- observations over traces --------------------------------------------------------------
@dataclass
class FreezeFacts:
    frozen: bool
    freeze_ms: int | None  # the last progress before the freeze (or the start)
    good_turns: int
    last_progress_type: str | None
    errors: int
    reconnects: int
    events_after: int
    loud_chunks_after: int
    loud_peaks_ok: bool
    loud_peaks: tuple[int, int] | None  # raw int16 peaks while the user spoke, after
    started_after: int


def facts(trace: Trace) -> FreezeFacts:
    violations = check(trace, (FREEZE_PROPERTY,))
    progress = [r for r in trace.wire if r.direction == S2C and r.type in PROGRESS_TYPES]
    if violations:
        start = violations[0].start_ms
        before = [r for r in progress if r.t_ms <= start]
        freeze_ms = before[-1].t_ms if before else 0
        last_type = before[-1].type if before else None
    else:
        freeze_ms, last_type = None, None
    cut = freeze_ms if freeze_ms is not None else trace.duration_ms
    good = sum(1 for r in trace.wire if r.direction == S2C and r.type == "response.done"
               and r.t_ms <= cut and r.event["response"]["status"] == "completed")
    after = [r for r in trace.wire if r.direction == S2C and freeze_ms is not None
             and r.t_ms > freeze_ms]
    loud = [u for u in trace.utterances if freeze_ms is not None and u.start_ms > freeze_ms]
    loud_rows = [i for i, t in enumerate(trace.chunks["t_ms"]) for u in loud
                 if u.start_ms <= t < u.start_ms + u.duration_ms]
    low, high = O6_PEAK_INT16
    peaks_ok = bool(loud_rows) and all(
        trace.chunks["rms"][i] < FLAGGED_SILENT_RMS and
        low <= trace.chunks["peak_int16"][i] <= high for i in loud_rows)
    return FreezeFacts(
        frozen=bool(violations), freeze_ms=freeze_ms, good_turns=good,
        last_progress_type=last_type,
        errors=sum(1 for r in trace.wire if r.direction == S2C and r.type == "error"),
        reconnects=trace.reconnects, events_after=len(after),
        loud_chunks_after=len(loud_rows), loud_peaks_ok=peaks_ok,
        loud_peaks=(min(peaks), max(peaks)) if (peaks := [trace.chunks["peak_int16"][i]
                                                          for i in loud_rows]) else None,
        started_after=sum(1 for r in after if r.type == "input_audio_buffer.speech_started"))


@dataclass
class CauseResult:
    cause: Cause
    observations: dict[str, bool] = field(default_factory=dict)
    build_frozen: bool = False  # the diagnosed design (production by default) froze
    development_frozen: bool = False
    rates: dict[str, float] = field(default_factory=dict)
    loud_peaks: tuple[int, int] | None = None  # raw peaks while the user spoke after it

    @property
    def reproduces_all(self) -> bool:
        return all(self.observations.values())

    @property
    def ruled_out_by(self) -> list[str]:
        return [o for o, ok in self.observations.items() if not ok]

    def to_dict(self) -> dict:
        return {"cause": self.cause.name, "server": self.cause.server,
                "capture_fault": self.cause.capture_fault,
                "reproduces_all": self.reproduces_all, "ruled_out_by": self.ruled_out_by,
                "observations": self.observations,
                "build_frozen": self.build_frozen,
                "development_frozen": self.development_frozen, "freeze_rates": self.rates,
                "loud_peaks_int16": list(self.loud_peaks) if self.loud_peaks else None}

    @classmethod
    def from_dict(cls, data: dict) -> "CauseResult":
        peaks = data["loud_peaks_int16"]
        return cls(Cause(data["server"], data["capture_fault"]), data["observations"],
                   data["build_frozen"], data["development_frozen"], data["freeze_rates"],
                   tuple(peaks) if peaks else None)


def _run(job: tuple) -> FreezeFacts:
    design, cause, typing, app_switch, seed = job
    trace = simulate(get_design(design), ServerVadHypotheses.parse(cause.server),
                     story(cause, typing, app_switch), seed=seed)
    return facts(trace)


def judge(cause: Cause, runs: dict[tuple, FreezeFacts]) -> CauseResult:
    """The observations under one cause; `runs` keyed by (build, typing, switch, seed),
    build "build" (the design diagnosed) or "development"."""
    def rate(typing: bool, switch: bool) -> float:
        return sum(runs[("build", typing, switch, s)].frozen for s in SEEDS) / len(SEEDS)

    full = runs[("build", True, True, SEEDS[0])]
    dev = runs[("development", True, True, SEEDS[0])]
    r_full, r_no_typing, r_no_switch = rate(True, True), rate(False, True), rate(True, False)
    obs = {
        "O1": full.frozen and full.good_turns >= GOOD_TURNS_MIN,
        "O2": full.frozen and full.last_progress_type == "response.done",
        "O3": r_full > 0 and r_full >= r_no_typing,
        "O4": full.errors == 0 and full.reconnects == 0,
        "O5": full.frozen and full.events_after == 0,
        "O6": full.frozen and full.loud_peaks_ok,
        "O7": full.frozen and full.loud_chunks_after > 0 and full.started_after == 0,
        "O8": full.frozen,
        "O9": r_full > 0 and r_full >= r_no_switch,
        "O10": full.frozen and not dev.frozen,
    }
    return CauseResult(cause, obs, full.frozen, dev.frozen,
                       {"story": r_full, "without_typing": r_no_typing,
                        "without_app_switch": r_no_switch},
                       full.loud_peaks if full.frozen else None)


def diagnosis_jobs(design: str = "production") -> list[tuple]:
    """The runs the diagnosis needs: (design, cause, typing, app switch, seed)."""
    if design.split("+")[0] == "development":
        raise ValueError("diagnose compares a build with development: choose another design")
    jobs = []
    for cause in causes():
        for typing, switch in ((True, True), (False, True), (True, False)):
            jobs += [(design, cause, typing, switch, s) for s in SEEDS]
        jobs.append(("development", cause, True, True, SEEDS[0]))
    return jobs


def conclude(design: str, runs: dict[tuple, FreezeFacts]) -> list[CauseResult]:
    """Judge every cause from the facts of its runs (keyed by `diagnosis_jobs`' tuples)."""
    by_cause: dict[Cause, dict[tuple, FreezeFacts]] = {}
    for (name, cause, typing, switch, seed), r in runs.items():
        build = "build" if name == design else "development"
        by_cause.setdefault(cause, {})[(build, typing, switch, seed)] = r
    return [judge(cause, cause_runs) for cause, cause_runs in by_cause.items()]


def diagnose(workers: int = 1, progress: Callable[[int, int], None] | None = None,
             design: str = "production") -> list[CauseResult]:
    """Which causes reproduce O1-O10 with `design` (the report's production build by
    default) and not with the development build."""
    jobs = diagnosis_jobs(design)
    results: list[FreezeFacts] = []
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            for i, r in enumerate(pool.map(_run, jobs, chunksize=2)):
                results.append(r)
                if progress:
                    progress(i + 1, len(jobs))
    else:
        for i, job in enumerate(jobs):
            results.append(_run(job))
            if progress:
                progress(i + 1, len(jobs))
    return conclude(design, dict(zip(jobs, results)))


def _share(rate: float) -> str:
    return f"{round(rate * len(SEEDS))}/{len(SEEDS)}"


def _needs(r: CauseResult) -> str:
    """What the freeze needed under this cause, from its rates."""
    parts = []
    for key, what in (("without_typing", "typing"), ("without_app_switch",
                                                     "the application switch")):
        if r.rates[key] < r.rates["story"]:
            parts.append(f"{what} is needed (or makes it more likely)")
        else:
            parts.append(f"{what} is not needed")
    return "; ".join(parts)


def _raw_input(peaks: tuple[int, int] | None) -> str:
    if peaks is None:
        return "no chunks at all"
    if peaks == (0, 0):
        return "exact zeros"
    return f"raw peaks {peaks[0]}-{peaks[1]}"


def conclusion(results: list[CauseResult], design: str = "production") -> list[str]:
    """The diagnosis in sentences, generated from the results for `design`."""
    lines = []
    full = [r for r in results if r.reproduces_all]
    if full:
        lines.append(f"Causes that reproduce all of O1-O10 with the {design} design and not "
                     "with the development design: " + ", ".join(r.cause.name for r in full) + ".")
        for r in full:
            lines.append(f"{r.cause.name}: {design} froze in " + ", ".join(
                f"{_share(r.rates[key])} {label}" for key, label in (
                    ("story", "of the report's stories"),
                    ("without_typing", "without the typing"),
                    ("without_app_switch", "without the application switch"))) + "; "
                + _needs(r) + ".")
    else:
        best = min(len(r.ruled_out_by) for r in results)
        closest = [r for r in results if len(r.ruled_out_by) == best]
        lines.append("No modelled cause reproduces all of O1-O10. Closest "
                     f"(failing {best}): " + "; ".join(
                         f"{r.cause.name} (fails {', '.join(r.ruled_out_by)})" for r in closest)
                     + ".")
    o6 = [r.cause.name for r in results if r.observations.get("O6")]
    not_o6 = [f"{r.cause.name} ({_raw_input(r.loud_peaks)})" for r in results
              if r.build_frozen and not r.observations["O6"]]
    low, high = O6_PEAK_INT16
    lines.append("The report's own evidence O6 (every chunk silent while the user speaks "
                 f"loudly, raw int16 peaks 41-96; accepted {low}-{high}) is reproduced only by: "
                 + (", ".join(o6) or "none") + f"; it rules out these, which freeze {design} "
                 "with other raw input while the user speaks: " + ("; ".join(not_o6) or "none")
                 + ".")
    both = [r.cause.name for r in results if r.build_frozen and r.development_frozen]
    if both:
        lines.append("These freeze the development build too, so O10 rules them out as "
                     f"{design}-only causes: " + ", ".join(both) + ".")
    never = [r.cause.name for r in results if not r.build_frozen]
    if never:
        lines.append(f"These never freeze the {design} build in the story: "
                     + ", ".join(never) + ".")
    return lines
