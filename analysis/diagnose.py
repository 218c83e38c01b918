"""Diagnosis: a ranked differential of the causes of the field report's freeze.

Each observation O1-O10 of design.md is a predicate over the traces of one cause
(`analysis/causes.py`: server behaviours, capture faults, client mechanisms, each graded).
Each cause runs the field report's story (good turns, typing during a reply, an
application switch, the user then speaking louder) and its variants without typing and
without the switch, over a few seeds, with the diagnosed build; the story once with the
development build; and the session after a full restart. A capture fault that can happen
without a switch happens in the story without one too (spontaneously, at the same moment).

The report's numbers are used literally (O6: raw int16 peaks 41-96); every tolerance is a
parameter (`Params`) and is printed. "More likely with X" (O3, O9) is judged as
consistency: the freeze happens with X at least as often as without it; O9 also needs the
freeze to happen without a switch ("not consistently tied to switching applications").
An observation that no modelled cause fails cannot discriminate: it is reported, and
weighs nothing in the ranking. Causes are ranked by how many discriminating observations
they fail, then by evidence grade; ties stay ties.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from statistics import median
from typing import Callable

from vadlock.analysis.causes import GRADES, Cause, causes
from vadlock.model.client.capture import ATTENUATION_DB, CaptureState
from vadlock.model.protocol import PROGRESS_TYPES
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.simulator.presets import _utterances, field_report
from vadlock.simulator.scenario import CaptureFault, Scenario, Typing
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
    "O9": "switching applications makes it more likely (not consistently tied to it)",
    "O10": "only the production build shows it",
}
SEEDS = (0, 1)
STORY_MS = 100_000
RESTART_MS = 40_000
FLAGGED_SILENT_RMS = 0.03  # the worklet's own test: below clientVADThreshold
TYPING_PEAK_DBFS = -6.0  # the story's keyboard (scenario.Typing's default)
PROBE_DESIGNS = ("capture-health", "liveness-watchdog")  # the separating experiments' runs


@dataclass(frozen=True)
class Params:
    """The acceptance parameters of the predicates (the report's literal numbers by
    default)."""

    o6_peak_range: tuple[int, int] = (41, 96)  # the report's "max: 41 .. 96"
    good_turns_min: int = 2  # "responds correctly several times"
    # the observations that hold in the report being diagnosed (None: all of O1-O10, as
    # in the field report); a cause reproduces an observation when its predicate agrees
    observed: frozenset[str] | None = None

    def holds(self, observation: str) -> bool:
        return self.observed is None or observation in self.observed


@dataclass(frozen=True)
class Story:
    """One variant of the report's story: the free parameters that change a run."""

    typing: bool = True
    switch: bool = True
    typing_peak_dbfs: float = TYPING_PEAK_DBFS
    attenuation_db: float = ATTENUATION_DB
    restart: bool = False  # the session after a full restart, not the story


def story(cause: Cause, typing: bool = True, app_switch: bool = True,
          variant: Story | None = None, development: bool = False) -> Scenario:
    """The field report's story under this cause (or, with `variant.restart`, the session
    that follows a full restart)."""
    v = replace(variant or Story(), typing=typing, switch=app_switch)
    capture = cause.capture_cause
    if development and capture is not None and capture.production_only:
        capture = None  # a mechanism of the production build's own code
    base = field_report(STORY_MS)
    onset = base.capture_faults[0].start_ms
    faults = ()
    if capture is not None and (v.switch or not capture.switch_only):
        faults = (CaptureFault(onset, capture.fault, None, "app_switch" if v.switch else "fault",
                               survives_reacquire=capture.survives != "nothing"),)
    if v.restart:  # a new session: only a fault that survives a restart is still there
        kept = tuple(replace(f, start_ms=0) for f in faults if capture.survives == "restart")
        return Scenario(name="after-restart", duration_ms=RESTART_MS,
                        description="The session after a full restart: the user speaks, "
                        "loudly, every 10 s.",
                        utterances=tuple(_utterances(1_000, RESTART_MS + 8_000, -12.0)),
                        capture_faults=kept, attenuation_db=v.attenuation_db)
    typing_at = base.typing[0]
    return replace(base, typing=(Typing(typing_at.start_ms, typing_at.duration_ms,
                                        peak_dbfs=v.typing_peak_dbfs),) if v.typing else (),
                   capture_faults=faults, attenuation_db=v.attenuation_db)


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
    loud_peaks: tuple[int, int] | None  # raw int16 peaks while the user spoke, after
    loud_rms_max: float | None  # the loudest of those chunks (RMS)
    started_after: int
    heard: bool = False  # any speech_started at all (the run after a restart)
    # median raw peaks after the freeze while the user speaks and in the pauses
    speech_peak_median: float | None = None
    pause_peak_median: float | None = None


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
    peaks = [trace.chunks["peak_int16"][i] for i in loud_rows]
    spoken = set(loud_rows)
    pauses = [p for i, (t, p) in enumerate(zip(trace.chunks["t_ms"], trace.chunks["peak_int16"]))
              if freeze_ms is not None and t > freeze_ms and i not in spoken and not any(
                  u.start_ms - 500 <= t < u.start_ms + u.duration_ms + 500 for u in loud)]
    return FreezeFacts(
        frozen=bool(violations), freeze_ms=freeze_ms, good_turns=good,
        last_progress_type=last_type,
        errors=sum(1 for r in trace.wire if r.direction == S2C and r.type == "error"),
        reconnects=trace.reconnects, events_after=len(after),
        loud_chunks_after=len(loud_rows),
        loud_peaks=(min(peaks), max(peaks)) if peaks else None,
        loud_rms_max=max(trace.chunks["rms"][i] for i in loud_rows) if loud_rows else None,
        started_after=sum(1 for r in after if r.type == "input_audio_buffer.speech_started"),
        heard=any(r.direction == S2C and r.type == "input_audio_buffer.speech_started"
                  for r in trace.wire),
        speech_peak_median=float(median(peaks)) if peaks else None,
        pause_peak_median=float(median(pauses)) if pauses else None)


def o6_holds(f: FreezeFacts, params: Params) -> bool:
    low, high = params.o6_peak_range
    return (f.frozen and f.loud_peaks is not None and f.loud_rms_max < FLAGGED_SILENT_RMS
            and low <= f.loud_peaks[0] and f.loud_peaks[1] <= high)


# -- runs ----------------------------------------------------------------------------------
Job = tuple  # (design, cause, story variant, seed): what one simulation needs


def _canonical(cause: Cause, variant: Story, development: bool) -> Story:
    """The variant with the parameters that cannot change this run at their defaults (so
    runs they do not change are made once)."""
    capture = cause.capture_cause
    attenuated = capture is not None and capture.fault == CaptureState.ATTENUATED and not (
        development and capture.production_only) and not (
        variant.restart and capture.survives != "restart")
    if not attenuated:
        variant = replace(variant, attenuation_db=ATTENUATION_DB)
    if not variant.typing or variant.restart:
        variant = replace(variant, typing_peak_dbfs=TYPING_PEAK_DBFS)
    return variant


def cause_jobs(cause: Cause, design: str, variant: Story = Story(), seeds=SEEDS,
               probes: bool = True) -> dict[str, Job]:
    """The runs one cause needs, by role: "build:T:S:seed" (typing, switch), "development",
    "restart", and the separating experiments' designs."""
    build = design + cause.design_suffix
    shared = design[len(design.split("+")[0]):]  # variants every build shares (+chunk20ms)

    def job(name: str, v: Story, seed: int) -> Job:
        return name, cause, _canonical(cause, v, name.startswith("development")), seed

    jobs = {}
    for typing, switch in ((True, True), (False, True), (True, False)):
        for seed in seeds:
            jobs[f"build:{typing:d}:{switch:d}:{seed}"] = job(
                build, replace(variant, typing=typing, switch=switch), seed)
    jobs["development"] = job("development" + shared, variant, seeds[0])
    jobs["restart"] = job(build, replace(variant, restart=True), seeds[0])
    if probes:
        for probe in PROBE_DESIGNS:
            jobs[probe] = job(probe + shared, variant, seeds[0])
    return jobs


def diagnosis_jobs(design: str = "production", variant: Story = Story(), seeds=SEEDS,
                   probes: bool = True, only=None) -> list[Job]:
    """Every run of a diagnosis (of the causes `only`, default all), without repeats."""
    if design.split("+")[0] == "development":
        raise ValueError("diagnose compares a build with development: choose another design")
    jobs = []
    for cause in causes() if only is None else only:
        jobs += cause_jobs(cause, design, variant, seeds, probes).values()
    return list(dict.fromkeys(jobs))


def run_job(job: Job):
    """One run: (facts, outcome) of its trace."""
    from vadlock.analysis.outcomes import run_story
    return run_story(job)


def run_jobs(jobs: list[Job], workers: int = 1,
             progress: Callable[[int, int], None] | None = None) -> dict[Job, tuple]:
    results = []
    if workers > 1:
        from vadlock.model.designs import FILE_DESIGNS, register_designs

        with ProcessPoolExecutor(workers, initializer=register_designs,  # design files
                                 initargs=(tuple(FILE_DESIGNS.values()),)) as pool:
            for i, r in enumerate(pool.map(run_job, jobs, chunksize=2)):
                results.append(r)
                if progress:
                    progress(i + 1, len(jobs))
    else:
        for i, job in enumerate(jobs):
            results.append(run_job(job))
            if progress:
                progress(i + 1, len(jobs))
    return dict(zip(jobs, results))


# -- judgement -----------------------------------------------------------------------------
@dataclass
class CauseResult:
    cause: Cause
    observations: dict[str, bool] = field(default_factory=dict)
    build_frozen: bool = False  # the diagnosed design (production by default) froze
    development_frozen: bool = False
    rates: dict[str, float] = field(default_factory=dict)
    loud_peaks: tuple[int, int] | None = None  # raw peaks while the user spoke after it
    probes: dict[str, str] = field(default_factory=dict)  # what the experiments would show
    rank: int = 0
    failed: list[str] = field(default_factory=list)  # failed discriminating observations

    @property
    def grade(self) -> str:
        return self.cause.grade

    @property
    def reproduces_all(self) -> bool:
        return all(self.observations.values())

    @property
    def ruled_out_by(self) -> list[str]:
        return [o for o, ok in self.observations.items() if not ok]

    def to_dict(self) -> dict:
        return {"cause": self.cause.name, "rank": self.rank, "grade": self.grade,
                "summary": self.cause.summary,
                "observations": self.observations, "explained": self.reproduces_all,
                "fails": self.ruled_out_by,
                # the previous keys, kept
                "reproduces_all": self.reproduces_all, "ruled_out_by": self.ruled_out_by,
                "capture_fault": (c.fault if (c := self.cause.capture_cause) else None),
                "server": self.cause.server, "capture": self.cause.capture,
                "client": self.cause.client,
                "build_frozen": self.build_frozen,
                "development_frozen": self.development_frozen, "freeze_rates": self.rates,
                "loud_peaks_int16": list(self.loud_peaks) if self.loud_peaks else None,
                "probes": self.probes}

    @classmethod
    def from_dict(cls, data: dict) -> "CauseResult":
        peaks = data["loud_peaks_int16"]
        cause = Cause(data["server"], data["capture"], data["client"])
        return cls(cause, data["observations"], data["build_frozen"],
                   data["development_frozen"], data["freeze_rates"],
                   tuple(peaks) if peaks else None, data.get("probes", {}), data["rank"],
                   [o for o in data["fails"]])


def _raw_input(peaks: tuple[int, int] | None) -> str:
    if peaks is None:
        return "no chunks at all"
    if peaks == (0, 0):
        return "exact zeros"
    return f"near-silent (peaks {peaks[0]}-{peaks[1]})" if peaks[1] < 1_000 else \
        f"audible (peaks up to {peaks[1]})"


def _raw_kind(peaks: tuple[int, int] | None) -> str:
    """The raw input's kind, without the model's made-up levels."""
    return _raw_input(peaks).split(" (")[0]


VOICE_FOLLOWS_RATIO = 2.0  # speech peaks this many times the pauses' (6 dB): a voice in it


def _voice_in_raw(f: FreezeFacts) -> str:
    if f.speech_peak_median is None:
        return "no chunks"
    if not f.speech_peak_median:
        return "all zero"
    if f.pause_peak_median is None:
        return "no pauses logged"
    follows = f.speech_peak_median >= VOICE_FOLLOWS_RATIO * max(f.pause_peak_median, 1.0)
    return "follows the voice" if follows else "flat: no voice in it"


PROBES = {
    "raw_input": "log the raw int16 peak of every captured chunk (before the gate) while "
                 "the user speaks after the freeze",
    "voice_in_raw": "compare the raw int16 peaks while the user speaks with those in the "
                    "pauses, after the freeze",
    "ungated": "send the same audio un-gated (as the development build does): does "
               "speech_started come?",
    "restart": "after a full restart, speak loudly: is the user heard?",
    "reacquire": "when raw input stays near-silent, re-acquire the microphone "
                 "(getUserMedia again) and surface it: what happens?",
    "server_ladder": "when the server is silent while audio flows, re-apply turn_detection, "
                     "then clear/commit, then reconnect: what happens?",
    "without_typing": "does the freeze also come without keyboard noise?",
}


def judge(cause: Cause, runs: dict[str, tuple], params: Params = Params(),
          seeds=SEEDS) -> CauseResult:
    """Which observations of the report one cause reproduces (its predicate agrees with
    what the report saw); `runs` maps `cause_jobs`' roles to (facts, outcome)."""
    def rate(typing: bool, switch: bool) -> float:
        return sum(runs[f"build:{typing:d}:{switch:d}:{s}"][0].frozen for s in seeds) / len(seeds)

    full = runs[f"build:1:1:{seeds[0]}"][0]
    dev = runs["development"][0]
    restart = runs["restart"][0]
    r_full, r_no_typing, r_no_switch = rate(True, True), rate(False, True), rate(True, False)
    obs = {
        "O1": full.frozen and full.good_turns >= params.good_turns_min,
        "O2": full.frozen and full.last_progress_type == "response.done",
        "O3": r_full > 0 and r_full >= r_no_typing,
        "O4": full.errors == 0 and full.reconnects == 0,
        "O5": full.frozen and full.events_after == 0,
        "O6": o6_holds(full, params),
        "O7": full.frozen and full.loud_chunks_after > 0 and full.started_after == 0,
        "O8": full.frozen and restart.heard,
        "O9": r_no_switch > 0 and r_full >= r_no_switch,
        "O10": full.frozen and not dev.frozen,
    }
    obs = {o: value == params.holds(o) for o, value in obs.items()}
    probes = {
        "raw_input": _raw_kind(full.loud_peaks) if full.frozen else "no freeze",
        "voice_in_raw": _voice_in_raw(full) if full.frozen else "no freeze",
        "ungated": "heard" if not dev.frozen else "not heard",
        "restart": "heard" if restart.heard else "not heard",
        "without_typing": "freezes" if r_no_typing > 0 else "no freeze",
    }
    for role, key in zip(PROBE_DESIGNS, ("reacquire", "server_ladder")):
        if role in runs:
            probes[key] = runs[role][1].label.replace("*", "")
    return CauseResult(cause, obs, full.frozen, dev.frozen,
                       {"story": r_full, "without_typing": r_no_typing,
                        "without_app_switch": r_no_switch},
                       full.loud_peaks if full.frozen else None, probes)


def discriminating(results: list[CauseResult]) -> list[str]:
    """The observations some modelled cause fails (the others cannot tell causes apart)."""
    return [o for o in OBSERVATIONS if any(not r.observations[o] for r in results)]


def rank(results: list[CauseResult]) -> list[CauseResult]:
    """Rank by failed discriminating observations, then by grade; ties share a rank."""
    useful = discriminating(results)
    for r in results:
        r.failed = [o for o in useful if not r.observations[o]]

    def key(r: CauseResult) -> tuple:
        return len(r.failed), GRADES.index(r.grade)

    ordered = sorted(results, key=lambda r: (*key(r), r.cause.name))
    for r in ordered:
        r.rank = 1 + sum(1 for other in ordered if key(other) < key(r))
    return ordered


def conclude(design: str, runs: dict[Job, tuple], params: Params = Params(),
             variant: Story = Story(), seeds=SEEDS, only=None) -> list[CauseResult]:
    """Judge and rank every cause from the results of its runs (keyed by job)."""
    out = []
    for cause in causes() if only is None else only:
        roles = cause_jobs(cause, design, variant, seeds)
        out.append(judge(cause, {role: runs[job] for role, job in roles.items()
                                 if job in runs}, params, seeds))
    return rank(out)


def the_cause(results: list[CauseResult], params: Params = Params()) -> CauseResult | None:
    """The cause, if one alone explains everything at the report's literal numbers with
    documented or measured behaviour."""
    if params.o6_peak_range != Params().o6_peak_range:
        return None
    fits = [r for r in results if r.reproduces_all]
    if len(fits) == 1 and fits[0].grade in ("documented", "measured"):
        return fits[0]
    return None


# -- separating experiments ----------------------------------------------------------------
def experiments(results: list[CauseResult], top: int = 4) -> list[dict]:
    """For the leading causes (the best ranks, at most `top` causes unless tied), the
    measurements whose outcome the model predicts differently for them."""
    ranked = sorted(results, key=lambda r: r.rank)
    leading = [r for r in ranked if r.rank <= ranked[min(top, len(ranked)) - 1].rank]
    if len(leading) < 2:
        leading = ranked[:2]
    out = []
    for key, what in PROBES.items():
        predictions = {r.cause.name: r.probes.get(key) for r in leading}
        if None in predictions.values() or len(set(predictions.values())) < 2:
            continue
        out.append({"probe": key, "measure": what, "predictions": predictions})
    return out


@dataclass
class Diagnosis:
    design: str
    params: Params
    causes: list[CauseResult]
    discriminating: list[str]
    sensitivity: list[dict] = field(default_factory=list)
    experiments: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"design": self.design, "o6_peak_range": list(self.params.o6_peak_range),
                "good_turns_min": self.params.good_turns_min,
                "observations": OBSERVATIONS,
                "discriminating": self.discriminating,
                "causes": [r.to_dict() for r in self.causes],
                "the_cause": (c.cause.name if (c := the_cause(self.causes, self.params))
                              else None),
                "sensitivity": self.sensitivity, "experiments": self.experiments}

    @classmethod
    def from_dict(cls, data: dict) -> "Diagnosis":
        return cls(data["design"], Params(tuple(data["o6_peak_range"]),
                                          data["good_turns_min"]),
                   [CauseResult.from_dict(c) for c in data["causes"]],
                   data["discriminating"], data["sensitivity"], data["experiments"])


def diagnosis_all_jobs(design: str = "production", with_sensitivity: bool = True) -> list[Job]:
    from vadlock.analysis.sensitivity import sensitivity_jobs
    jobs = diagnosis_jobs(design)
    if with_sensitivity:
        jobs += sensitivity_jobs(design)
    return list(dict.fromkeys(jobs))


def assemble(design: str, runs: dict[Job, tuple], params: Params = Params(),
             with_sensitivity: bool = True) -> Diagnosis:
    from vadlock.analysis.sensitivity import default_row, sensitivity
    results = conclude(design, runs, params)
    rows = ([default_row(results)] + sensitivity(design, runs, results)
            if with_sensitivity else [])
    return Diagnosis(design, params, results, discriminating(results), rows,
                     experiments(results))


def diagnose(workers: int = 1, progress: Callable[[int, int], None] | None = None,
             design: str = "production", params: Params = Params(),
             with_sensitivity: bool = True) -> Diagnosis:
    """The differential for `design` (the report's production build by default) against
    the development build, with its sensitivity and separating experiments."""
    runs = run_jobs(diagnosis_all_jobs(design, with_sensitivity), workers, progress)
    return assemble(design, runs, params, with_sensitivity)


# -- sentences -----------------------------------------------------------------------------
def _names(results) -> str:
    return ", ".join(r.cause.name for r in results) or "none"


def conclusion(d: Diagnosis) -> list[str]:
    """The diagnosis in sentences, generated from its results."""
    results, lines = d.causes, []
    low, high = d.params.o6_peak_range
    fits = [r for r in results if r.reproduces_all]
    blind = [o for o in OBSERVATIONS if o not in d.discriminating]
    if blind:
        lines.append("Every modelled cause reproduces " + ", ".join(blind) + ": these "
                     "observations cannot tell the causes apart and weigh nothing in the "
                     "ranking.")
    only = the_cause(results, d.params)
    if only:
        lines.append(f"{only.cause.name} alone reproduces all of O1-O10 at the report's "
                     f"numbers (O6 peaks {low}-{high}), with {only.grade} behaviour.")
    elif fits:
        lines.append(f"{len(fits)} cause(s) reproduce all of O1-O10 at O6 peaks {low}-{high}: "
                     + "; ".join(f"{r.cause.name} ({r.grade})" for r in fits) + ". None "
                     "is *the* cause: " + ("they tie" if len(fits) > 1 else
                                           f"its evidence is only {fits[0].grade}") + ".")
    else:
        best = min(len(r.failed) for r in results)
        lines.append(f"No modelled cause reproduces all of O1-O10 at O6 peaks {low}-{high}. "
                     f"The best fail {best} discriminating observation(s): " + "; ".join(
                         f"{r.cause.name} ({r.grade}; fails {', '.join(r.failed)})"
                         for r in results if r.rank == 1) + ".")
    o6 = [r for r in results if r.observations["O6"]]
    lines.append(f"O6 (raw peaks {low}-{high} while the user speaks loudly) holds under: "
                 f"{_names(o6)}. Other raw input while frozen: " + "; ".join(
                     f"{r.cause.name}: {_raw_input(r.loud_peaks)}" for r in results
                     if r.build_frozen and not r.observations["O6"]) + ".")
    both = [r for r in results if r.build_frozen and r.development_frozen]
    if both:
        lines.append(f"These freeze the development build too (O10 fails): {_names(both)}.")
    never = [r for r in results if not r.build_frozen]
    if never:
        lines.append(f"These never freeze the {d.design} build in the story: {_names(never)}.")
    return lines
