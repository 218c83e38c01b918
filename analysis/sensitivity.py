"""The diagnosis' sensitivity: how the differential moves over its free parameters.

One parameter moved at a time from the defaults, on a coarse grid: the acceptance
parameters (O6's peak range, the good turns O1 needs: judged again on the same runs) and
the model's free parameters (the attenuation of an attenuated capture, the typing level,
the chunk size, the silence duration, the server VAD's threshold: run again, on one seed).
Each row says which causes explain every observation there, which rank first, and what
each cause fails.

The server threshold's grid, fixed before any result was seen: 0.3, 0.4, 0.6 and 0.7
around the documented default 0.5 (the API takes 0-1). Every cause runs at it, the design
variant `+thresholdX.Y` in the diagnosed build and in the development build alike (one
server). The symbolic hypotheses move their speech edge with it (`speech_edge_rms`: about
-61, -51, -29 and -19 dBFS), under an ASSUMED mapping of threshold to level (0.15 per
16 dB); 0.8 and above would put the edge at -8 dBFS or above full scale, where that
assumption, not the server, would decide, so they are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vadlock.analysis.causes import Cause, causes
from vadlock.analysis.diagnose import (SEEDS, CauseResult, Diagnosis, Job, Params, Story,
                                       conclude, diagnosis_jobs, rank)
from vadlock.model.client.capture import CaptureState

ATTENUATIONS_DB = (-50.0, -52.0, -53.0, -55.0, -56.0, -58.0, -60.0)  # around the default
TYPING_PEAKS_DBFS = (-18.0, 0.0)
O6_RANGES = ((30, 120),)  # the tolerance the previous review used
GOOD_TURNS = (4,)  # "several" read as more than two
SERVER_THRESHOLDS = (0.3, 0.4, 0.6, 0.7)  # server_vad threshold; default 0.5 (see above)
SENSITIVITY_SEEDS = SEEDS[:1]


@dataclass(frozen=True)
class Setting:
    parameter: str
    value: str
    design: str
    variant: Story
    params: Params
    only_attenuated: bool = False  # only causes an attenuation can change


def settings(design: str = "production", base: Story = Story()) -> list[Setting]:
    """One free parameter moved at a time from the diagnosis' defaults (`base`, the
    report's story by default), on a coarse grid."""
    out = [Setting("o6_peak_range", f"{lo}-{hi}", design, base, Params((lo, hi)))
           for lo, hi in O6_RANGES]
    out += [Setting("good_turns_min", str(n), design, base, Params(good_turns_min=n))
            for n in GOOD_TURNS]
    out += [Setting("attenuation_db", f"{db:g}", design, replace(base, attenuation_db=db),
                    Params(), only_attenuated=True) for db in ATTENUATIONS_DB]
    out += [Setting("typing_peak_dbfs", f"{db:g}", design,
                    replace(base, typing_peak_dbfs=db), Params()) for db in TYPING_PEAKS_DBFS]
    out += [Setting("chunk_ms", "20", f"{design}+chunk20ms", base, Params()),
            Setting("silence_duration_ms", "200", f"{design}+silence200ms", base, Params())]
    out += [Setting("server_threshold", f"{t:g}", f"{design}+threshold{t:g}", base, Params())
            for t in SERVER_THRESHOLDS]
    return out


def _attenuated(cause: Cause) -> bool:
    capture = cause.capture_cause
    return capture is not None and capture.fault == CaptureState.ATTENUATED


def setting_causes(setting: Setting) -> list[Cause]:
    return [c for c in causes() if _attenuated(c) or not setting.only_attenuated]


def sensitivity_jobs(design: str = "production", base: Story = Story(),
                     parameters=None) -> list[Job]:
    """The runs the sensitivity needs beyond the diagnosis' own (of the `parameters` named,
    default all)."""
    jobs = []
    for s in settings(design, base):
        if s.design == design and s.variant == base or not _chosen(s, parameters):
            continue
        jobs += diagnosis_jobs(s.design, s.variant, SENSITIVITY_SEEDS, probes=False,
                               only=setting_causes(s))
    return list(dict.fromkeys(jobs))


def _chosen(setting: Setting, parameters) -> bool:
    return parameters is None or setting.parameter in parameters


def sensitivity(design: str, runs: dict[Job, tuple], baseline: list[CauseResult],
                base: Story = Story(), parameters=None) -> list[dict]:
    """Per setting, what each cause fails. Settings that need new runs are judged on the
    sensitivity's single seed (causes a setting cannot change on that seed's baseline
    runs), and compared with the defaults judged on that seed too (the first row).
    `base`: the story the parameters move from; `parameters`: the rows wanted (all)."""
    reference = conclude(design, runs, Params(), base, SENSITIVITY_SEEDS)
    rows = [_row("defaults", f"seeds {_seeds(SENSITIVITY_SEEDS)}", reference,
                 SENSITIVITY_SEEDS)]
    for s in settings(design, base):
        if not _chosen(s, parameters):
            continue
        moved = setting_causes(s)
        if s.design == design and s.variant == base:  # acceptance only: no new runs
            judged = conclude(design, runs, s.params, s.variant, SEEDS)
        else:
            same = [c for c in causes() if c not in moved]
            judged = conclude(s.design, runs, s.params, s.variant, SENSITIVITY_SEEDS, moved)
            judged = rank(judged + conclude(design, runs, s.params, base,
                                            SENSITIVITY_SEEDS, same))
        rows.append(_row(s.parameter, s.value, judged, SEEDS if s.design == design
                         and s.variant == base else SENSITIVITY_SEEDS))
    return rows


def _seeds(seeds) -> str:
    return ",".join(str(s) for s in seeds)


def _row(parameter: str, value: str, judged: list[CauseResult], seeds) -> dict:
    return {"parameter": parameter, "value": value, "seeds": list(seeds),
            "explained": [r.cause.name for r in judged if r.reproduces_all],
            "leading": [r.cause.name for r in judged if r.rank == 1],
            "fails": {r.cause.name: r.ruled_out_by for r in judged}}


def default_row(baseline: list[CauseResult]) -> dict:
    """The differential at the defaults (the diagnosis' own seeds)."""
    return _row("defaults", f"seeds {_seeds(SEEDS)}", baseline, SEEDS)


def sensitivity_lines(d: Diagnosis) -> tuple[list[str], list[str]]:
    """How the set of causes that explain everything moves, from the sensitivity rows; and
    the causes that explain everything in every row."""
    if not d.sensitivity:
        return [], []
    # each setting against the defaults judged on the same seeds
    reference = {tuple(row.get("seeds", ())): set(row["explained"]) for row in d.sensitivity
                 if row["parameter"] == "defaults"}
    lines = []
    for row in d.sensitivity:
        if row["parameter"] == "defaults":
            continue
        base = reference.get(tuple(row.get("seeds", ())), set(d.sensitivity[0]["explained"]))
        now = set(row["explained"])
        if now != base:
            gained, lost = sorted(now - base), sorted(base - now)
            lines.append(f"{row['parameter']} = {row['value']}: "
                         + "; ".join(([f"now explained: {', '.join(gained)}"] if gained else [])
                                     + ([f"no longer: {', '.join(lost)}"] if lost else [])))
    steady = [r.cause.name for r in d.causes if all(
        r.cause.name in row["explained"] for row in d.sensitivity)]
    return lines, steady
