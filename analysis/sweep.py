"""Freeze rate in the field: many random sessions per design, from a realistic distribution.

Each session is a scenario drawn with numpy from
`np.random.default_rng([seed, session_index])` — every design meets the same sessions
(common random numbers, so designs differ only by design) — simulated, and checked for
the freeze property (`recovery`): a session *freezes* when it is violated, at the first
violation's `start_ms`. Results depend only on the seed, never on which worker ran what.

The session distribution (`Distribution`; all ranges uniform, all processes Poisson):
- the user speaks every 8-20 s (onset to onset; the first turn at 1-5 s), for 1-4 s, at
  -30..-15 dBFS; an utterance can fall on the previous reply (a barge-in);
- assistant replies (response audio) last 2-8 s each;
- keyboard typing bursts about one per 2 minutes, 2-10 s long, 4-8 keys/s, clicks peaking
  at -20..-6 dBFS;
- room noise at -60..-45 dBFS for the whole session;
- application switches about one per 5 minutes, each causing a capture fault: muted (60%),
  attenuated (25%) or suspended (15%), lasting 2-30 s, or for the rest of the session with
  probability 0.2 (then no further switch is drawn); the next switch is drawn from the end
  of the previous fault, so faults never overlap;
- loud noise events (a fan, music: steady noise) about one per 10 minutes, 2-10 s, at
  -35..-20 dBFS;
- network latency spikes about one per 5 minutes, 1-5 s long, adding 200-2000 ms;
- the base network of `Network()` (40 ms each way, 10 ms jitter), echo at -30 dB.

A freeze can only be told from a slow recovery once 45 s of speech follow the last fault
(the `recovery` window), so freezes in a session's last minute go unnoticed; sessions of
5 minutes or more make that censoring small. The freeze rate is the number of frozen
sessions per simulated hour, with an exact (Garwood) Poisson 95% confidence interval.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from vadlock.analysis.executor import cluster_workers, run_jobs
from vadlock.model.client.capture import CaptureState
from vadlock.model.designs import Design, get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.properties.checks import FREEZE_PROPERTY, check
from vadlock.simulator.engine import simulate
from vadlock.simulator.trace import S2C
from vadlock.simulator.scenario import (MAX_DURATION_MS, CaptureFault, LatencySpike, Network,
                                Scenario, Segment, Typing, Utterance)


@dataclass(frozen=True)
class Distribution:
    """The numbers of the session distribution (ranges in seconds, dBFS; rates per minute)."""

    first_turn_s: tuple[float, float] = (1.0, 5.0)
    turn_gap_s: tuple[float, float] = (8.0, 20.0)
    utterance_s: tuple[float, float] = (1.0, 4.0)
    utterance_dbfs: tuple[float, float] = (-30.0, -15.0)
    reply_s: tuple[float, float] = (2.0, 8.0)
    typing_per_min: float = 0.5
    typing_s: tuple[float, float] = (2.0, 10.0)
    typing_keys_per_s: tuple[float, float] = (4.0, 8.0)
    typing_peak_dbfs: tuple[float, float] = (-20.0, -6.0)
    room_noise_dbfs: tuple[float, float] = (-60.0, -45.0)
    app_switch_per_min: float = 0.2
    fault_kinds: tuple[tuple[str, float], ...] = (
        (CaptureState.MUTED, 0.60), (CaptureState.ATTENUATED, 0.25),
        (CaptureState.SUSPENDED, 0.15))
    fault_s: tuple[float, float] = (2.0, 30.0)
    fault_permanent_p: float = 0.2
    noise_per_min: float = 0.1
    noise_s: tuple[float, float] = (2.0, 10.0)
    noise_dbfs: tuple[float, float] = (-35.0, -20.0)
    spike_per_min: float = 0.2
    spike_s: tuple[float, float] = (1.0, 5.0)
    spike_extra_ms: tuple[int, int] = (200, 2000)


DISTRIBUTION = Distribution()
MAX_MINUTES = MAX_DURATION_MS / 60_000


# -- the session distribution -----------------------------------------------------------
def _ms(rng: np.random.Generator, range_s: tuple[float, float]) -> int:
    return int(round(rng.uniform(*range_s) * 1000))


def _db(rng: np.random.Generator, range_db: tuple[float, float]) -> float:
    return round(float(rng.uniform(*range_db)), 1)


def _arrivals(rng: np.random.Generator, per_min: float, duration_ms: int) -> list[int]:
    """Times (ms) of a Poisson process with `per_min` events per minute."""
    times, t = [], 0.0
    while True:
        t += rng.exponential(60_000 / per_min)
        if t >= duration_ms:
            return times
        times.append(int(t))


def session_scenario(seed: int, session_index: int, minutes: float,
                     dist: Distribution = DISTRIBUTION) -> Scenario:
    """One random session of `minutes`, a function of (seed, session_index) only: every
    design meets the same sessions."""
    rng = np.random.default_rng([seed, session_index])
    duration_ms = int(round(minutes * 60_000))
    audio_seed = int(rng.integers(0, 2 ** 31))
    utterances, t = [], _ms(rng, dist.first_turn_s)
    while t < duration_ms:
        utterances.append(Utterance(t, _ms(rng, dist.utterance_s), _db(rng, dist.utterance_dbfs)))
        t += _ms(rng, dist.turn_gap_s)
    replies = tuple(_ms(rng, dist.reply_s) for _ in range(len(utterances) + 1))
    typing = tuple(Typing(t, _ms(rng, dist.typing_s), _db(rng, dist.typing_keys_per_s),
                          _db(rng, dist.typing_peak_dbfs))
                   for t in _arrivals(rng, dist.typing_per_min, duration_ms))
    kinds = [k for k, _ in dist.fault_kinds]
    weights = np.array([p for _, p in dist.fault_kinds])
    faults, t = [], 0
    while True:
        t += int(rng.exponential(60_000 / dist.app_switch_per_min))
        if t >= duration_ms:
            break
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        length = None if rng.random() < dist.fault_permanent_p else _ms(rng, dist.fault_s)
        faults.append(CaptureFault(t, kind, length, "app_switch"))
        if length is None:
            break
        t += length
    noises = tuple(Segment(t, _ms(rng, dist.noise_s), "noise", _db(rng, dist.noise_dbfs))
                   for t in _arrivals(rng, dist.noise_per_min, duration_ms))
    low, high = dist.spike_extra_ms
    spikes = tuple(LatencySpike(t, _ms(rng, dist.spike_s), int(rng.integers(low, high + 1)))
                   for t in _arrivals(rng, dist.spike_per_min, duration_ms))
    return Scenario(
        name=f"sweep-{seed}-{session_index}", duration_ms=duration_ms,
        utterances=tuple(utterances), typing=typing, capture_faults=tuple(faults),
        room_noise_dbfs=_db(rng, dist.room_noise_dbfs), response_audio_ms=replies,
        network=Network(spikes=spikes), segments=noises, seed=audio_seed,
        description=f"vadlock sweep session {session_index} (seed {seed}, {minutes:g} min)")


# -- statistics ---------------------------------------------------------------------------
def _poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) for X ~ Poisson(mu)."""
    if mu <= 0:
        return 1.0
    log_mu = math.log(mu)
    return min(1.0, math.fsum(math.exp(i * log_mu - mu - math.lgamma(i + 1))
                              for i in range(k + 1)))


def _solve(f: Callable[[float], float], target: float, hi: float) -> float:
    """The mu in [0, hi] where the decreasing f(mu) crosses target, by bisection."""
    lo = 0.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if f(mid) > target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def poisson_interval(events: int, exposure: float = 1.0, confidence: float = 0.95
                     ) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of a Poisson rate: `events` in `exposure` units.

    The bounds are the means whose Poisson tails hold (1 - confidence) / 2 each, which is
    the chi-square relation chi2(a/2, 2k)/2 .. chi2(1 - a/2, 2k + 2)/2.
    """
    if events < 0 or exposure <= 0 or not 0 < confidence < 1:
        raise ValueError("poisson_interval needs events >= 0, exposure > 0, 0 < confidence < 1")
    tail = (1 - confidence) / 2
    hi_mu = events + 20 * math.sqrt(events + 1) + 20
    upper = _solve(lambda mu: _poisson_cdf(events, mu), tail, hi_mu)
    lower = 0.0 if events == 0 else _solve(lambda mu: _poisson_cdf(events - 1, mu),
                                           1 - tail, hi_mu)
    return lower / exposure, upper / exposure


# -- results ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionOutcome:
    design_index: int
    session_index: int
    duration_ms: int
    freeze_ms: int | None  # start of the first `recovery` violation, None if none
    server_events: int = 0  # events the client received: a fingerprint of the session


@dataclass
class DesignRow:
    """One design's sessions and what they add up to."""

    design: str
    outcomes: list[SessionOutcome]

    @property
    def sessions(self) -> int:
        return len(self.outcomes)

    @property
    def hours(self) -> float:
        return sum(o.duration_ms for o in self.outcomes) / 3_600_000

    @property
    def freeze_minutes(self) -> list[float]:
        return [o.freeze_ms / 60_000 for o in self.outcomes if o.freeze_ms is not None]

    @property
    def frozen(self) -> int:
        return len(self.freeze_minutes)

    @property
    def rate_per_h(self) -> float:
        return self.frozen / self.hours

    @property
    def ci_per_h(self) -> tuple[float, float]:
        return poisson_interval(self.frozen, self.hours)

    def to_dict(self) -> dict:
        lo, hi = self.ci_per_h
        first = self.freeze_minutes
        return {
            "design": self.design, "sessions": self.sessions, "hours": round(self.hours, 4),
            "frozen_sessions": self.frozen, "freezes_per_hour": round(self.rate_per_h, 4),
            "freezes_per_hour_ci95": [round(lo, 4), round(hi, 4)],
            "first_freeze_median_min": round(statistics.median(first), 3) if first else None,
            "first_freeze_mean_min": round(statistics.fmean(first), 3) if first else None,
            "frozen": [{"session": o.session_index, "freeze_min": round(o.freeze_ms / 60_000, 3)}
                       for o in self.outcomes if o.freeze_ms is not None]}


@dataclass
class SweepResult:
    server: str
    seed: int
    sessions: int
    minutes: float
    rows: list[DesignRow]
    workers: int = field(default=1, compare=False)
    seconds: float = field(default=0.0, compare=False)

    @property
    def any_frozen(self) -> bool:
        return any(row.frozen for row in self.rows)

    def to_dict(self) -> dict:
        return {"server": self.server, "seed": self.seed, "sessions_per_design": self.sessions,
                "minutes": self.minutes, "property": FREEZE_PROPERTY,
                "distribution": asdict(DISTRIBUTION),
                "designs": [row.to_dict() for row in self.rows],
                "workers": self.workers, "seconds": round(self.seconds, 3)}


# -- running ------------------------------------------------------------------------------
def run_session(job: tuple[Design, ServerVadHypotheses, int, int, int, float]
                ) -> SessionOutcome:
    """Simulate one session and find its freeze (a module-level function: it is pickled)."""
    design, hypotheses, seed, design_index, session_index, minutes = job
    scenario = session_scenario(seed, session_index, minutes)  # the same sessions per design
    trace = simulate(design, hypotheses, scenario, scenario.seed or 0)
    violations = check(trace, (FREEZE_PROPERTY,))
    return SessionOutcome(design_index, session_index, scenario.duration_ms,
                          violations[0].start_ms if violations else None,
                          sum(1 for r in trace.wire if r.direction == S2C))


def _designs(designs: Sequence[str | Design]) -> list[Design]:
    out: list[Design] = []
    for d in designs:
        design = d if isinstance(d, Design) else get_design(d)
        if design.name not in (o.name for o in out):
            out.append(design)
    if not out:
        raise ValueError("no design given")
    return out


def sweep(designs: Sequence[str | Design], hypotheses: str | ServerVadHypotheses,
          sessions: int, minutes: float, workers: int | None = None, seed: int = 0,
          progress: Callable[[str], None] | None = None,
          scheduler: str | None = None) -> SweepResult:
    """Run `sessions` random sessions of `minutes` per design; identical for any `workers`
    and on a Dask cluster (`scheduler`, its address; then `workers` is the cluster's)."""
    chosen = _designs(designs)
    hyp = (hypotheses if isinstance(hypotheses, ServerVadHypotheses)
           else ServerVadHypotheses.parse(hypotheses))
    if sessions <= 0:
        raise ValueError(f"--sessions must be positive, got {sessions}")
    if not 0 < minutes <= MAX_MINUTES or round(minutes * 60_000) < 1:
        raise ValueError(f"--minutes must be in (0, {MAX_MINUTES:g}], got {minutes:g}")
    if scheduler is not None and workers is not None:
        raise ValueError("--workers and --scheduler exclude each other (the cluster has its "
                         "own workers)")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers <= 0:
        raise ValueError(f"--workers must be positive, got {workers}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    jobs = [(d, hyp, seed, i, s, minutes) for i, d in enumerate(chosen) for s in range(sessions)]
    started = time.perf_counter()
    outcomes: dict[tuple[int, int], SessionOutcome] = {}

    def record(outcome: SessionOutcome) -> None:
        outcomes[outcome.design_index, outcome.session_index] = outcome
        if progress is not None:
            frozen = sum(o.freeze_ms is not None for o in outcomes.values())
            progress(f"{len(outcomes)}/{len(jobs)} sessions, {frozen} frozen")

    if scheduler is not None:
        workers = cluster_workers(scheduler)
    for _, outcome in run_jobs(run_session, jobs, workers, scheduler):
        record(outcome)
    rows = [DesignRow(d.name, [outcomes[i, s] for s in range(sessions)])
            for i, d in enumerate(chosen)]
    return SweepResult(hyp.label, seed, sessions, minutes, rows, workers,
                       time.perf_counter() - started)


# -- command line -------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_result(result: SweepResult) -> None:
    print(f"vadlock sweep: server={result.server} seed={result.seed}, {result.sessions} "
          f"sessions x {result.minutes:g} min per design, {result.workers} workers, "
          f"{result.seconds:.1f} s")
    print(f"\n{'design':20} {'sessions':>8} {'hours':>7} {'frozen':>6} {'freezes/h':>9}  "
          f"{'95% CI':17} first freeze (min): median / mean")
    for row in result.rows:
        d = row.to_dict()
        lo, hi = d["freezes_per_hour_ci95"]
        print(f"{row.design:20} {row.sessions:8d} {row.hours:7.2f} {row.frozen:6d} "
              f"{row.rate_per_h:9.2f}  [{lo:6.2f}, {hi:6.2f}]  "
              f"{_fmt(d['first_freeze_median_min']):>27} / {_fmt(d['first_freeze_mean_min'])}")
    print(f"\nfreeze = the {FREEZE_PROPERTY} property violated; CI: exact Poisson (Garwood)")


def cmd_sweep(args: argparse.Namespace) -> int:
    from vadlock.simulator.options import design_names
    from vadlock.simulator.progress import Progress

    bar = Progress("vadlock sweep", enabled=not args.json)
    result = sweep(design_names(args), args.server, args.sessions, args.minutes,
                   args.workers, args.seed, progress=bar, scheduler=args.scheduler)
    bar.done()
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print_result(result)
    return 1 if result.any_frozen else 0


def add_parser(subparsers) -> argparse.ArgumentParser:
    from vadlock.model.hypotheses import HYPOTHESES
    from vadlock.simulator.options import (add_design_options, add_json_option,
                                           add_scheduler_option, add_server_option,
                                           add_workers_option, help_formatter)

    p = subparsers.add_parser(
        "sweep", formatter_class=help_formatter,
        help="freeze rate per hour over many random realistic sessions",
        description="Run N random sessions per design from a realistic distribution (turns "
        "every 8-20 s,\ntyping, room noise, application switches that fault the capture, "
        "loud noise,\nlatency spikes; see analysis/sweep.py), check each for a freeze "
        "(recovery),\nand report per design the freeze rate per hour with an exact 95% "
        "confidence\ninterval and the time to the first freeze. Deterministic from the "
        "seed for any\nnumber of workers, locally or on a Dask cluster (--scheduler). Exit 1 "
        "when any session\nfroze, 0 otherwise.")
    add_design_options(p, many=True)
    add_server_option(p, help="one server VAD hypothesis set, flags combined (default "
                      "energy): " + ", ".join(HYPOTHESES))
    p.add_argument("--sessions", type=int, default=20, metavar="N",
                   help="sessions per design (default 20)")
    p.add_argument("--minutes", type=float, default=10.0, metavar="M",
                   help="length of each session in minutes (default 10)")
    add_workers_option(p, help="worker processes (default: the number of CPUs)")
    add_scheduler_option(p, "sessions")
    p.add_argument("--seed", type=int, default=0, help="seed of the sessions (default 0)")
    add_json_option(p)
    p.set_defaults(run=cmd_sweep)
    return p
