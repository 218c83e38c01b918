"""The review's outputs: the verdict matrix as a picture and `review.md`.

Every sentence that claims something is built from the results — the cells, the stories,
the variants and the diagnosis; nothing here knows an answer in advance. What comes from
the reference instead of from a result is marked as such.
"""

from __future__ import annotations

from pathlib import Path

from vadlock.analysis.causes import GRADES, Cause
from vadlock.model.designs import DESIGNS, FILE_DESIGNS, get_design
from vadlock.model.hypotheses import HYPOTHESES

QUESTIONS = (
    "Has anyone experienced the WebSocket entering a state where it appears connected but "
    "stops receiving server events?",
    "Is there a known issue with the server VAD getting stuck after receiving a mix of real "
    "audio and silence (zeros)?",
    "Are there recommended patterns for detecting and recovering from this frozen state "
    "without doing a full session restart?",
    "Would migrating from WebSocket to WebRTC fix it? Trade-offs?",
)
BASELINE = "production"


# the colour of each evidence grade in the verdict matrix's column labels
GRADE_COLOURS = {"documented": "#1b5e20", "measured": "#1565c0", "reported": "#6a1b9a",
                 "analogy": "#e65100", "speculative": "#b71c1c"}
FIRM_GRADES = ("documented", "measured")  # a verdict on these holds without a hypothesis


def by_grade(hypotheses, grades: dict) -> list[str]:
    """The hypothesis sets ordered by evidence grade, strongest first (stable within one)."""
    return sorted(hypotheses, key=lambda h: GRADES.index(grades[h]))


def draw_matrix(cells, designs, hypotheses, classes, path: Path,
                grades: dict | None = None) -> Path:
    """The verdict matrix; with `grades` ({set: grade}) its columns are ordered by grade and
    each set's label carries its grade in the grade's colour."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    if grades:
        hypotheses = by_grade(hypotheses, grades)
    index = {(c.design, c.server, c.fault_class): c for c in cells}
    columns = [(h, f) for h in hypotheses for f in classes]
    grid = [[1 if index[(d, h, f)].verdict == "freeze" else 0 for h, f in columns]
            for d in designs]
    fig, ax = plt.subplots(figsize=(2 + 0.42 * len(columns), 1.4 + 0.42 * len(designs)))
    ax.imshow(grid, cmap=ListedColormap(["#4caf50", "#e53935"]), vmin=0, vmax=1,
              aspect="auto")
    ax.set_yticks(range(len(designs)), designs, fontsize=8)
    ax.set_xticks(range(len(columns)), [f for _, f in columns], rotation=90, fontsize=7)
    for k, h in enumerate(hypotheses):
        label, colour = (f"{h}\n({grades[h]})", GRADE_COLOURS[grades[h]]) if grades else (h, "k")
        ax.text(k * len(classes) + (len(classes) - 1) / 2, -0.9, label, ha="center",
                va="bottom", fontsize=7, rotation=20, color=colour)
        if k:
            ax.axvline(k * len(classes) - 0.5, color="white", lw=2)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, "F" if v else "", ha="center", va="center", color="white",
                    fontsize=7)
    if grades:
        ax.set_title("vadlock review: freeze (red, F) or no freeze (green)\n"
                     "rows: designs; columns: server hypothesis set (evidence grade, strongest "
                     "first) x fault class", fontsize=9, pad=44)
    else:
        ax.set_title("vadlock review: freeze (red, F) or no freeze (green)\n"
                     "rows: designs; columns: server hypothesis x fault class", fontsize=9,
                     pad=34)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


# -- review.md ------------------------------------------------------------------------------
def write_report(results: dict, cells, variant_cells, outcomes, diagnosis, path: Path) -> Path:
    path.write_text(render_report(results, cells, variant_cells, outcomes, diagnosis))
    return path


def render_from_json(results: dict) -> str:
    """review.md as the generator makes it from a review.json (a committed review's
    report can be checked against its own results)."""
    from vadlock.analysis.diagnose import Diagnosis
    from vadlock.analysis.outcomes import Outcome
    from vadlock.analysis.review import Cell

    diagnosis = results.get("diagnosis")
    return render_report(results, [Cell(**c) for c in results["cells"]],
                         [Cell(**c) for c in results.get("variant_cells", [])],
                         [Outcome.from_dict(o) for o in results.get("outcomes", [])],
                         Diagnosis.from_dict(diagnosis) if diagnosis else None)


def draw_sensitivity(diagnosis, path: Path) -> Path:
    """Which causes fit where: per sensitivity setting (columns) and cause (rows), the
    number of observations it fails (0: it explains every one)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = diagnosis.sensitivity
    names = [r.cause.name for r in diagnosis.causes]
    grid = [[len(row["fails"].get(n, [])) for row in rows] for n in names]
    fig, ax = plt.subplots(figsize=(2.5 + 0.55 * len(rows), 1.2 + 0.3 * len(names)))
    image = ax.imshow(grid, cmap="RdYlGn_r", vmin=0, vmax=len(diagnosis.causes[0].observations),
                      aspect="auto")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.set_xticks(range(len(rows)), [f"{r['parameter']}\n{r['value']}" for r in rows],
                  rotation=90, fontsize=7)
    for i, line in enumerate(grid):
        for j, v in enumerate(line):
            ax.text(j, i, "fit" if v == 0 else str(v), ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label="observations failed")
    ax.set_title("vadlock diagnosis: observations each cause fails, one parameter moved at "
                 "a time", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path


def _calibration_section(r: "_Results") -> list[str]:
    from vadlock.analysis.calibrate import WEBRTC_MODE, Row, findings
    rows = [Row(**row) for row in r.results.get("calibration", [])]
    if not rows:
        return []
    engines = list(rows[0].speech)
    if not engines:  # results from before the engines: the base model against WebRTC VAD
        out = ["## Calibration: the base server VAD against WebRTC VAD", "",
               "Every 10 ms frame of synthetic audio judged by the base hypothesis `energy` (as "
               f"the server model classifies it) and by WebRTC VAD (mode {WEBRTC_MODE}, on the "
               "audio resampled to 16 kHz); `vadlock calibrate` prints the same, and compares on "
               "a recording with `--audio`.", "",
               "| audio | frames | base model: speech | WebRTC VAD: speech | agreement |",
               "| --- | ---: | ---: | ---: | ---: |"]
        out += [f"| {row.kind} | {row.frames} | {row.model_speech:.1%} | "
                f"{row.webrtc_speech:.1%} | {row.agreement:.1%} |" for row in rows]
        return [*out, "", *findings(rows), ""]
    out = ["## Calibration: the detector engines, frame by frame", "",
           "Every 10 ms frame of synthetic audio and of espeak-ng speech judged by each detector "
           "engine as the server would run it (threshold 0.5; `energy` is the base model's "
           f"rule; WebRTC VAD in mode {WEBRTC_MODE}): the share of frames each takes for "
           "speech. `vadlock calibrate` prints the same, and compares on a recording with "
           "`--audio`.", "",
           "| audio | frames | " + " | ".join(engines) + " | energy = webrtc-vad |",
           "| --- | ---: | " + " | ".join("---:" for _ in engines) + " | ---: |"]
    out += [f"| {row.kind} | {row.frames} | "
            + " | ".join(f"{row.speech.get(name, 0.0):.1%}" for name in engines)
            + f" | {row.agreement:.1%} |" for row in rows]
    return [*out, "", *findings(rows), ""]


def render_report(results: dict, cells, variant_cells, outcomes, diagnosis) -> str:
    r = _Results(results, cells, variant_cells, outcomes, diagnosis)
    lines = ["# vadlock review", "",
             "Generated by `vadlock review` (the README's main job); do not edit by hand. "
             "Every verdict below is backed by evidence in this folder: a counterexample "
             "scenario (replay it with `vadlock simulate --design D --server H --scenario "
             "FILE`; in the verdict matrix also its timeline), or the number of states "
             "explored and scenarios searched (search budget "
             f"{results['search_examples']} scenarios per cell{_engine_budget(results)}, "
             f"seed {results['seed']}).", "",
             "![verdict matrix](verdicts.png)", ""]
    lines += _summary_section(r)
    for section in (_designs_section, _matrix_section, _grades_section, _fixes_section,
                    _stories_section,
                    _variants_section, _diagnosis_section, _calibration_section,
                    _answers_section, _method_section):
        lines += section(r)
    return "\n".join(lines) + "\n"


# -- per evidence grade ----------------------------------------------------------------------
def freeze_grades(verdicts: dict, hypotheses, classes, grades: dict) -> dict:
    """One design's freezes by evidence: `verdicts` is {(set, fault class): verdict}; for
    every fault class in which it freezes, (the strongest grade of a set under which it
    freezes, every set that freezes it there, strongest first). A class whose grade is
    documented or measured freezes on that behaviour alone; a weaker one needs that kind of
    hypothesis."""
    out = {}
    for f in classes:
        frozen = by_grade([h for h in hypotheses if verdicts.get((h, f)) == "freeze"], grades)
        if frozen:
            out[f] = (grades[frozen[0]], frozen)
    return out


def grade_line(design: str, rests: dict, hypotheses, grades: dict) -> str:
    """One design's verdict per grade, in words, from `freeze_grades`: each freezing set
    is named with its grade."""
    def named(sets) -> str:
        return ", ".join(f"`{h}` ({grades[h]})" for h in sets)

    firm_sets = [h for h in hypotheses if grades[h] in FIRM_GRADES]
    firm = {f: v for f, v in rests.items() if v[0] in FIRM_GRADES}
    weak: dict[str, tuple[list[str], list[str]]] = {}  # grade -> (classes, sets)
    for f, (grade, sets) in rests.items():
        if grade not in FIRM_GRADES:
            classes, names = weak.setdefault(grade, ([], []))
            classes.append(f)
            names[:] = by_grade(dict.fromkeys([*names, *sets]), grades)
    if not rests:
        return f"`{design}`: freeze-free under every hypothesis set reviewed."
    if not firm_sets:
        head = f"`{design}`: no documented or measured hypothesis set was reviewed"
    elif not firm:
        head = (f"`{design}`: **holds on documented/measured behaviour alone** (no freeze "
                f"under {_codes(firm_sets)})")
    else:
        firm_by: dict[tuple, list[str]] = {}
        for f, (grade, sets) in firm.items():
            firm_by.setdefault((grade, tuple(sets)), []).append(f)
        head = f"`{design}`: " + "; ".join(
            f"its {_and(classes)} freeze{'s' if len(classes) > 1 else ''} "
            f"hold{'' if len(classes) > 1 else 's'} on {grade} behaviour alone "
            f"(under {named(sets)})" for (grade, sets), classes in firm_by.items())
    tail = [f"its {_and(classes)} freeze{'s' if len(classes) > 1 else ''} "
            f"need{'' if len(classes) > 1 else 's'} {_article(grade)} {grade} hypothesis "
            f"(under {named(sets)})" for grade, (classes, sets) in
            sorted(weak.items(), key=lambda kv: GRADES.index(kv[0]))]
    return head + ("; " + "; ".join(tail) if tail else "") + "."


def _and(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _engine_budget(results: dict) -> str:
    """The detector engines' search budget, when it differs from the other cells'."""
    engines = results.get("engine_search_examples")
    if engines is None or engines == results["search_examples"]:
        return ""
    return f", {engines} per cell of a detector engine"


class _Results:
    """The review's results, indexed for the sections."""

    def __init__(self, results, cells, variant_cells, outcomes, diagnosis) -> None:
        self.results = results
        self.designs = results["designs"]
        self.hypotheses = results["hypotheses"]
        self.classes = results["fault_classes"]
        self.cells = {(c.design, c.server, c.fault_class): c for c in cells}
        self.variants = variant_cells
        self.variant_names = results.get("variants", [])
        self.outcomes = {(o.cause, o.design): o for o in outcomes}
        self.causes = list(dict.fromkeys(o.cause for o in outcomes))
        self.diagnosis = diagnosis
        # {set: grade}; empty for a review from before the grades (rendered as it was)
        self.grades = results.get("grades") or {}

    @property
    def graded(self) -> bool:
        return bool(self.grades)

    @property
    def columns(self) -> list[str]:
        """The hypothesis sets as the matrix shows them: by grade when graded."""
        return by_grade(self.hypotheses, self.grades) if self.graded else list(self.hypotheses)

    def rests(self, design: str) -> dict:
        return freeze_grades({(h, f): c.verdict for (d, h, f), c in self.cells.items()
                              if d == design}, self.hypotheses, self.classes, self.grades)

    def per_grade(self, design: str) -> dict[str, tuple[int, int, list[str]]]:
        """{grade: (cells that freeze, cells, fault classes that freeze)} of one design."""
        out = {}
        for grade in GRADES:
            sets = [h for h in self.hypotheses if self.grades[h] == grade]
            if sets:
                cells = [self.cells[(design, h, f)] for h in sets for f in self.classes]
                frozen = [c for c in cells if c.verdict == "freeze"]
                out[grade] = (len(frozen), len(cells), list(dict.fromkeys(
                    f for f in self.classes if any(c.fault_class == f for c in frozen))))
        return out

    @property
    def total(self) -> int:
        return len(self.hypotheses) * len(self.classes)

    def freezes(self, design: str) -> list[tuple[str, str]]:
        return [(h, f) for h in self.hypotheses for f in self.classes
                if self.cells[(design, h, f)].verdict == "freeze"]

    def frozen_causes(self, design: str) -> list[str]:
        return [c for c in self.causes if (c, design) in self.outcomes
                and self.outcomes[(c, design)].frozen]

    def has(self, design: str) -> bool:
        return design in self.designs


def _lasting(causes: list[str]) -> list[str]:
    """The causes whose capture fault survives re-acquiring the microphone."""
    return [c for c in causes if (fault := Cause.parse(c).capture_cause) is not None
            and fault.survives != "nothing"]


def _grades_of(servers) -> str:
    """The evidence behind claims that hold under these server hypotheses."""
    from vadlock.analysis.causes import server_grade
    if not servers:
        return "no hypothesis is involved"
    return "it rests on " + ", ".join(f"`{h}` ({server_grade(h)})" for h in servers)


def _codes(names) -> str:
    return ", ".join(f"`{n}`" for n in names) or "none"


def _fixes(name: str) -> str:
    """What a design (built-in or from a design file) changes."""
    known = {**DESIGNS, **FILE_DESIGNS}
    return known[name].fixes if name in known else ""


def _designs_section(r: _Results) -> list[str]:
    out = ["## Designs", "", "| design | what it is | what it changes |", "| --- | --- | --- |"]
    known = {**DESIGNS, **FILE_DESIGNS}  # built-in and from design files
    out += [f"| `{d}` | {known[d].summary} | {known[d].fixes or '—'} |" for d in r.designs
            if d in known]
    if r.graded:
        from vadlock.model.evidence import ENGINE_EVIDENCE, HYPOTHESIS_EVIDENCE
        out += ["", "## Server VAD hypotheses and detector engines", "",
                "| hypothesis | grade | what differs | source |", "| --- | --- | --- | --- |"]
        out += [f"| `{h.name}` | {HYPOTHESIS_EVIDENCE[h.name].grade} | {h.summary} | "
                f"{h.provenance} |" for h in HYPOTHESES.values()]
        out += [f"| `{e.name}` (engine) | {e.grade} | {e.summary} | {', '.join(e.sources)} |"
                for e in ENGINE_EVIDENCE.values()]
    else:
        out += ["", "## Server VAD hypotheses", "", "| hypothesis | what differs | source |",
                "| --- | --- | --- |"]
        out += [f"| `{h.name}` | {h.summary} | {h.provenance} |" for h in HYPOTHESES.values()]
    out += ["", "Fault classes: **acoustic** (typing, loud noise, barge-ins, echo, any level "
            "and kind of sound), **capture** (muted, attenuated, disabled or suspended "
            "capture, with or without an application switch; a fault may never end), "
            "**network** (explored: the transport as a FIFO per direction holding at most "
            "one batch of events in flight, a stall that resumes, a dropped connection the "
            "client is not told of, WebRTC media loss; searched: latency spikes), **server** (after one of "
            "the good turns of the first connection: a stall with the socket open, a failed "
            "response, or an expired session; a reconnect is a healthy session; search "
            "only).", ""]
    return out


def _cell_link(c) -> str:
    if c.verdict == "freeze":
        parts = [f"[scenario]({c.counterexample})"]
        if c.timeline:
            parts.append(f"[timeline]({c.timeline})")
        return "**F** " + " ".join(parts)
    bits = []
    if c.states is not None:
        bits.append(f"{c.states} states")
    if c.searched:
        bits.append(f"{c.searched} searched")
    return "ok (" + ", ".join(bits) + ")"


def _matrix_section(r: _Results) -> list[str]:
    intro = ("A cell is **F** when the session freezes: the `recovery` property fails in a "
             "scenario the exploration or the search found, replayed in the full simulator.")
    if r.graded:
        intro += (" Columns are the hypothesis sets ordered by evidence grade, strongest first "
                  "(" + ", ".join(GRADES) + "); a set's grade is its weakest member's "
                  "(`vadlock hypotheses`). It grades the server VAD only: the faults' own "
                  "grades are in the diagnosis and in `vadlock hypotheses`.")
    out = ["## Verdict matrix", "", intro, ""]
    head = [f"`{h}` ({r.grades[h]})" if r.graded else f"`{h}`" for h in r.columns]
    for f in r.classes:
        out += [f"### Fault class: {f}", "",
                "| design | " + " | ".join(head) + " |",
                "| --- |" + " --- |" * len(r.columns)]
        for d in r.designs:
            out.append(f"| `{d}` | " + " | ".join(_cell_link(r.cells[(d, h, f)])
                                                 for h in r.columns) + " |")
        out.append("")
    return out


def _grades_section(r: _Results) -> list[str]:
    """Which verdicts hold on documented or measured behaviour alone, and which need a
    reported, analogy or speculative hypothesis (only for a review with grades)."""
    if not r.graded or not r.cells:
        return []
    grades = [g for g in GRADES if any(r.grades[h] == g for h in r.hypotheses)]
    out = ["## Verdicts per evidence grade", "",
           "Each hypothesis set's grade is the weakest of its members: "
           + "; ".join(f"{g}: {_codes([h for h in r.hypotheses if r.grades[h] == g])}"
                       for g in grades)
           + ". A design **holds on documented/measured behaviour alone** when no set graded "
           "documented or measured freezes it in any fault class; a freeze in a fault class "
           "*needs* a weaker hypothesis when only sets of that grade (or weaker) freeze it "
           "there.", "",
           "| design | " + " | ".join(grades) + " |", "| --- |" + " --- |" * len(grades)]
    for d in r.designs:
        cells = []
        for grade in grades:
            frozen, total, classes = r.per_grade(d)[grade]
            cells.append(f"**F** {frozen} of {total}: {', '.join(classes)}" if frozen
                         else f"ok (0 of {total})")
        out.append(f"| `{d}` | " + " | ".join(cells) + " |")
    out.append("")
    out += [f"- {grade_line(d, r.rests(d), r.hypotheses, r.grades)}" for d in r.designs]
    out.append("")
    return out


def _fixes_section(r: _Results) -> list[str]:
    out = ["## What each design leaves frozen", ""]
    for d in r.designs:
        left = r.freezes(d)
        if not left:
            out.append(f"- `{d}`: **freeze-free** in all {r.total} cells.")
            continue
        by_class: dict[str, list[str]] = {}
        for h, f in left:
            by_class.setdefault(f, []).append(h)
        detail = "; ".join(f"{f}: {', '.join(hs)}" for f, hs in by_class.items())
        out.append(f"- `{d}`: {len(left)} of {r.total} cells freeze ({detail}).")
    out.append("")
    return out


def _stories_section(r: _Results) -> list[str]:
    if not r.outcomes:
        return []
    designs = [d for d in r.designs if any((c, d) in r.outcomes for c in r.causes)]
    out = ["## The report's story under each cause, with each design", "",
           "The field report's story (five good turns, keyboard typing during the fifth "
           "reply, an application switch that brings on the cause's capture fault, then the "
           "user speaking louder, seed 0) with every design. **frozen**: the `recovery` "
           "property fails; *heard*: a `speech_started` reaches the client after the fault "
           "began, and how the client got there; *not heard*: no freeze by the property "
           "(the server still sends events) but the user is never heard again.", "",
           "| cause | " + " | ".join(f"`{d}`" for d in designs) + " |",
           "| --- |" + " --- |" * len(designs)]
    for cause in r.causes:
        out.append(f"| {cause} | " + " | ".join(
            r.outcomes[(cause, d)].label if (cause, d) in r.outcomes else "" for d in designs)
            + " |")
    out.append("")
    return out


def _variants_section(r: _Results) -> list[str]:
    if not r.variants:
        return []
    # the baseline's verdict by exploration alone (the variants are explored, not searched)
    base = {(c.server, c.fault_class): "freeze" if c.verdict == "freeze"
            and c.method == "explore" else "no-freeze"
            for c in r.cells.values() if c.design == BASELINE and c.states is not None}
    explored = [h for h in r.hypotheses if any(c.server == h for c in r.variants)]
    out = ["## Do the verdicts hang on the chunk size, the silence duration or the gate's "
           "lag?", "",
           f"`{BASELINE}` with 20 ms chunks (the designs use 100 ms; browser clients send "
           "20-100 ms), a `silence_duration_ms` of 200 (the documented default is 500; 200 "
           "is seen in real `session.created` events), and a gate that decides on the "
           "previous chunk's energy (`lastMicrophoneEnergy`), each explored under every "
           "hypothesis" + (" set the explorer supports" if len(explored) < len(r.hypotheses)
                           else "") + ".", "",
           "| variant | " + " | ".join(f"{h} / {f}" for h in explored
                                       for f in ("acoustic", "capture")) + " |",
           "| --- |" + " --- |" * (2 * len(explored))]
    by_variant: dict[str, list] = {}
    for c in r.variants:
        by_variant.setdefault(c.design, []).append(c)
    changed = []
    for name in r.variant_names:
        index = {(c.server, c.fault_class): c for c in by_variant.get(name, [])}
        row = []
        for h in explored:
            for f in ("acoustic", "capture"):
                c = index.get((h, f))
                if c is None:
                    row.append("")
                    continue
                row.append(_cell_link(c))
                if base.get((h, f)) and c.verdict != base[(h, f)]:
                    changed.append(f"`{name}` {h}/{f}: {base[(h, f)]} -> {c.verdict}")
        out.append(f"| `{name}` | " + " | ".join(row) + " |")
    out.append("")
    if changed:
        out.append(f"Exploration verdicts that differ from `{BASELINE}`'s: " + "; ".join(changed)
                   + ".")
    else:
        out.append(f"Exploration reaches the same verdict for every variant as for "
                   f"`{BASELINE}` in every cell: its findings do not hang on these values.")
    out.append("")
    return out


def _diagnosis_section(r: _Results) -> list[str]:
    d = r.diagnosis
    if d is None:
        return []
    from vadlock.analysis.diagnose import OBSERVATIONS, conclusion
    from vadlock.analysis.sensitivity import sensitivity_lines
    low, high = d.params.o6_peak_range
    out = ["## Diagnosis: a ranked differential of the field report's freeze", "",
           "Each cause runs the report's story with the production design, its variants "
           "without typing and without the switch (two seeds each), once with the "
           "development design and once as the session after a full restart; observations "
           "O1-O10 are predicates over those traces (`analysis/diagnose.py`). O6 accepts "
           f"raw int16 peaks {low}-{high} (the report's own numbers unless stated). Causes "
           "are ranked by the discriminating observations they fail, then by evidence "
           "grade; equal ranks are ties. Grades: " + ", ".join(GRADES) + " (strongest "
           "first); a combination is as strong as its weakest part. `vadlock diagnose` "
           "prints the same.", ""]
    out += conclusion(d)
    out += ["", "| rank | grade | cause | " + " | ".join(OBSERVATIONS) + " | all |",
            "| ---: | --- | --- |" + " :-: |" * (len(OBSERVATIONS) + 1)]
    for c in d.causes:
        marks = " | ".join("yes" if c.observations[o] else "**no**" for o in OBSERVATIONS)
        out.append(f"| {c.rank} | {c.grade} | {c.cause.name} | {marks} | "
                   f"{'**yes**' if c.reproduces_all else 'no'} |")
    out += ["", "Observations: " + "; ".join(f"{k} {v}" for k, v in OBSERVATIONS.items())
            + ".", "", "What each cause is: " + "; ".join(
                f"{c.cause.name}: {c.cause.summary}" for c in d.causes) + ".", ""]
    if d.sensitivity:
        moved, steady = sensitivity_lines(d)
        out += ["### Sensitivity: which causes explain everything where", "",
                "One free parameter moved at a time from the defaults (seed 0 only, so O3 "
                "and O9 are judged on one run each); the server VAD's threshold moves the "
                "symbolic hypotheses' speech edge under an assumed mapping (0.15 per 16 dB: "
                "0.3 is about -61 dBFS, 0.7 about -19 dBFS). "
                "![diagnosis sensitivity](diagnosis_sensitivity.png)", "",
                "| parameter | value | causes explaining all | rank 1 |", "| --- | --- | --- | --- |"]
        out += [f"| {row['parameter']} | {row['value']} | {', '.join(row['explained']) or 'none'} "
                f"| {', '.join(row['leading'])} |" for row in d.sensitivity]
        out += ["", ("What moves: " + "; ".join(moved) + ".") if moved else
                "No setting changes which causes explain everything.",
                "Explaining everything in every setting: " + (", ".join(steady) or "no cause")
                + ".", ""]
    if d.experiments:
        out += ["### Experiments that tell the leading causes apart", "",
                "What the team could log or try in their own app, and what each leading cause "
                "predicts (from the model's runs of each cause):", ""]
        for e in d.experiments:
            out.append(f"- **{e['measure']}** " + "; ".join(
                f"{cause}: {prediction}" for cause, prediction in e["predictions"].items()) + ".")
        out.append("")
    return out


def _summary_section(r: _Results) -> list[str]:
    """What is known, how sure, what to do next, under which assumptions."""
    out = ["## Summary", ""]
    d = r.diagnosis
    if d is not None:
        from vadlock.analysis.diagnose import the_cause
        from vadlock.analysis.sensitivity import sensitivity_lines
        low, high = d.params.o6_peak_range
        fits = [c for c in d.causes if c.reproduces_all]
        leading = [c for c in d.causes if c.rank == 1]
        only = the_cause(d.causes, d.params)
        if only:
            out.append(f"- **Known:** {only.cause.name} alone explains every observation at "
                       f"the report's numbers, with {only.grade} behaviour.")
        elif fits:
            out.append(f"- **Known:** {len(fits)} modelled cause(s) explain every observation "
                       f"at the report's numbers (O6 peaks {low}-{high}): " + ", ".join(
                           f"{c.cause.name} ({c.grade})" for c in fits) + "; none is known to "
                       "be *the* cause.")
        else:
            out.append(f"- **Known:** no modelled cause explains every observation at the "
                       f"report's numbers (O6 peaks {low}-{high}); the closest (rank 1): "
                       + "; ".join(f"{c.cause.name} ({c.grade}, fails "
                                   f"{', '.join(c.failed)}: {c.cause.summary})"
                                   for c in leading) + ".")
        moved, steady = sensitivity_lines(d)
        if d.sensitivity:
            out.append(f"- **How sure:** {len(moved)} of {len(d.sensitivity) - 1} "
                       "parameter settings change which causes explain everything"
                       + (f" ({'; '.join(moved)})" if moved else "") + "; "
                       + (f"{', '.join(steady)} explain(s) everything in every setting."
                          if steady else "no cause explains everything in every setting."))
        if d.experiments:
            out.append("- **Next:** tell the leading causes apart in the app itself: "
                       + "; ".join(e["measure"] for e in d.experiments) + " (predictions "
                       "per cause in the diagnosis).")
    if r.has("recommended") and r.cells:
        left = r.freezes("recommended")
        states = sum(c.states or 0 for (d_, _, _), c in r.cells.items() if d_ == "recommended")
        searched = sum(c.searched for (d_, _, _), c in r.cells.items() if d_ == "recommended")
        out.append(f"- **Fix:** `recommended` freezes in {len(left)} of {r.total} cells "
                   f"(evidence: {states} states explored, {searched} scenarios searched, "
                   "bounded)" + (_fix_per_grade(r) if r.graded else "") + ".")
    if r.graded and r.cells:
        out.append("- **Per grade** (which verdicts hold on documented or measured behaviour "
                   "alone):")
        out += [f"  - {grade_line(d, r.rests(d), r.hypotheses, r.grades)}" for d in r.designs]
    lasting = _lasting(r.causes)
    if lasting and r.outcomes:
        fates = {d_: [r.outcomes[(c, d_)] for c in lasting if (c, d_) in r.outcomes]
                 for d_ in r.designs}
        told = [d_ for d_, fs in fates.items() if fs and all(o.heard_again or o.surfaced
                                                             for o in fs)]
        out.append("- **Assumptions:** the model's server is an approximation (every "
                   "behaviour graded); capture faults that survive re-acquiring the "
                   f"microphone ({', '.join(lasting)}) defeat every recovery in the client; "
                   "designs that at least tell the user there: "
                   + (", ".join(f"`{x}`" for x in told) or "none") + ".")
    out.append("")
    return out


def _fix_per_grade(r: _Results) -> str:
    """How `recommended` does per grade, for the summary's Fix line."""
    parts = []
    for grade, (frozen, total, classes) in r.per_grade("recommended").items():
        parts.append(f"{grade} {frozen} of {total}" + (f" ({', '.join(classes)})"
                                                         if classes else ""))
    return "; per grade: " + ", ".join(parts)


# -- the four questions ------------------------------------------------------------------------
def _answers_section(r: _Results) -> list[str]:
    out = ["## Answers to the report's four questions", ""]
    for number, (question, answer) in enumerate(zip(QUESTIONS, (
            _answer_silent_state, _answer_zeros, _answer_recovery, _answer_webrtc)), 1):
        out += [f"**{number}. {question}**", "", *answer(r), ""]
    return out


def _answer_silent_state(r: _Results) -> list[str]:
    if not r.has(BASELINE):
        return ["(the production design was not reviewed)"]
    prod = r.freezes(BASELINE)
    if not prod:
        return ["No: no cell of the production design freezes in the model."]
    replays = [c for (d, h, f), c in r.cells.items() if d == BASELINE and c.verdict == "freeze"
               and c.events_after is not None]
    silent = [c for c in replays if c.events_after == 0 and c.appends_after]
    out = [f"Yes, in the model: the production client reaches a connected-but-frozen state "
           f"in {len(prod)} of {r.total} cells"
           + (f" and, in the report's own story, under {len(r.frozen_causes(BASELINE))} of "
              f"{len(r.causes)} causes ({', '.join(r.frozen_causes(BASELINE))})"
              if r.outcomes else "") + ". "
           f"In {len(silent)} of the {len(replays)} replayed counterexamples no server event "
           "at all reaches the client once the freeze begins, while it keeps appending audio "
           "— the report's symptom; the socket is never closed. The shortest ways in "
           "(exploration, replayed and confirmed in the full simulator):"]
    out[0] += (" How sure: " + _grades_of(list(dict.fromkeys(h for h, _ in prod)))
               + "; exploration is exhaustive within its abstraction, and every freeze is "
               "replayed in the full simulator.")
    shown = set()
    for h, f in prod:
        c = r.cells[(BASELINE, h, f)]
        if c.path and (f, tuple(c.path)) not in shown:
            shown.add((f, tuple(c.path)))
            out.append(f"- `{h}`, {f}: " + " -> ".join(c.path[-3:])
                       + f" ([scenario]({c.counterexample}))")
    return out


def _answer_zeros(r: _Results) -> list[str]:
    if not (r.has(BASELINE) and r.has("no-gate")):
        return ["(needs the production and no-gate designs)"]
    verdicts = {h: (r.cells[(BASELINE, h, "acoustic")].verdict,
                    r.cells[("no-gate", h, "acoustic")].verdict) for h in r.hypotheses}
    zeros = [h for h, v in verdicts.items() if v == ("freeze", "no-freeze")]
    either = [h for h, v in verdicts.items() if v == ("freeze", "freeze")]
    never = [h for h, v in verdicts.items() if v[0] == "no-freeze"]
    if zeros:
        scope = ("Under every hypothesis modelled" if len(zeros) == len(r.hypotheses)
                 else "Only under some hypotheses about the server VAD")
        out = [f"{scope}. With a live microphone (acoustic faults only), the production "
               "gate's zeros freeze the session under " + _codes(zeros) + ", where the same "
               "client without the gate does not."
               + (" Under " + _codes(either) + " it freezes with the gate and without it: "
                  "the zeros are not what freezes it." if either else "")
               + (" Under " + _codes(never) + " a mix of real audio and zeros never leaves "
                  "the VAD stuck." if never else "")]
    else:
        out = ["Not in the model: under no hypothesis does a live microphone behind the "
               "zeroing gate freeze where the same client without the gate does not."]
    theory = next((d for d in (r.diagnosis.causes if r.diagnosis else [])
                   if d.cause == Cause("zero-skip,clear-keeps-vad")), None)
    if theory is not None:
        if theory.reproduces_all:
            out.append("The report's own theory (zeros hold the VAD in speech and the "
                       "watchdog's clear does not reset it: `zero-skip,clear-keeps-vad`) "
                       "reproduces every observation.")
        else:
            out.append("The report's own theory (zeros hold the VAD in speech and the "
                       "watchdog's clear does not reset it: `zero-skip,clear-keeps-vad`) does "
                       "not fit what the report saw: it fails "
                       + ", ".join(theory.ruled_out_by) + f" (rank {theory.rank} of "
                       f"{len(r.diagnosis.causes)}; see the diagnosis).")
    out.append("How sure: " + _grades_of(zeros) + ". Whether OpenAI's server VAD behaves "
               "like any of these hypotheses cannot be known from outside; each hypothesis "
               "above carries its source.")
    return out


def _answer_recovery(r: _Results) -> list[str]:
    base_causes = r.frozen_causes(BASELINE) if r.has(BASELINE) else []
    base_cells = len(r.freezes(BASELINE)) if r.has(BASELINE) else 0
    out = []
    for d in r.designs:
        if d in (BASELINE, "development"):
            continue
        left = len(r.freezes(d))
        fewer = base_cells - left
        line = (f"- `{d}` ({_fixes(d)}): {left} of {r.total} "
                "cells still freeze ("
                + (f"{fewer} fewer than production" if fewer >= 0 else
                   f"{-fewer} more than production") + ")")
        if base_causes:
            fates = [r.outcomes[(c, d)] for c in base_causes if (c, d) in r.outcomes]
            heard = [o for o in fates if not o.frozen and o.heard_again]
            unheard = [o for o in fates if not o.frozen and not o.heard_again]
            prompting = [o for o in unheard if o.prompts]
            paths: dict[str, int] = {}
            for o in heard:
                key = "; ".join(o.path) if o.path else "without intervention"
                paths[key] = paths.get(key, 0) + 1
            line += (f"; of the {len(base_causes)} causes that freeze production in the "
                     f"report's story it hears the user again under {len(heard)}")
            if paths:
                line += " (" + ", ".join(f"{n} {how}" for how, n in paths.items()) + ")"
            if prompting:
                line += (f", keeps the server prompting without hearing the user under "
                         f"{len(prompting)}")
            if len(unheard) > len(prompting):
                line += (f", keeps events flowing without hearing the user under "
                         f"{len(unheard) - len(prompting)}")
            line += f", and stays frozen under {sum(1 for o in fates if o.frozen)}"
        out.append(line + ".")
    if "recommended" in r.designs:
        left = r.freezes("recommended")
        stories = [c for c in r.causes if (c, "recommended") in r.outcomes]
        frozen = r.frozen_causes("recommended")
        out += ["", "The recommended combination is " + (
            f"freeze-free in all {r.total} cells" if not left else
            f"still frozen in {len(left)} cells ({', '.join(f'{h}/{f}' for h, f in left)})")
            + (f" and in {len(stories) - len(frozen)} of {len(stories)} causes of the story"
               if stories else "") + "."]
        used = {step for c in stories for step in r.outcomes[(c, "recommended")].path}
        if used:
            reconnects = [c for c in stories if "reconnected with conversation replay"
                          in r.outcomes[(c, "recommended")].path]
            out.append("What it took, in the stories: " + ", ".join(sorted(used)) + ". "
                       + ("No cause needed a reconnect: recovery never came to a restart."
                          if not reconnects else
                          f"{len(reconnects)} cause(s) needed a reconnect, which opens a new "
                          "session and replays the conversation as items: a restart the user "
                          "does not see, but a restart."))
    lasting = _lasting(r.causes)
    if lasting and "recommended" in r.designs:
        fates = [r.outcomes[(c, "recommended")] for c in lasting
                 if (c, "recommended") in r.outcomes]
        out.append("How sure: the 'ok' cells are bounded evidence (states explored, scenarios "
                   "searched, shown in each cell), and they assume re-acquiring the microphone "
                   "brings capture back. Where it does not ("
                   + ", ".join(lasting) + f"), `recommended` hears the user again in "
                   f"{sum(o.heard_again for o in fates)} of {len(fates)} stories and tells the "
                   f"user (a surfaced failure) in {sum(o.surfaced for o in fates)}.")
    return out


def _answer_webrtc(r: _Results) -> list[str]:
    if not (r.has(BASELINE) and r.has("webrtc")):
        return ["(needs the production and webrtc designs)"]
    fixed, kept, new = [], [], []
    for h in r.hypotheses:
        for f in r.classes:
            p, w = r.cells[(BASELINE, h, f)].verdict, r.cells[("webrtc", h, f)].verdict
            if p == "freeze" and w == "no-freeze":
                fixed.append(f"{h}/{f}")
            elif p == "freeze":
                kept.append(f"{h}/{f}")
            elif w == "freeze":
                new.append(f"{h}/{f}")
    out = ["Per cell of the matrix: WebRTC removes the freeze in "
           f"{len(fixed)} ({', '.join(fixed) or 'none'}), keeps it in {len(kept)} "
           f"({', '.join(kept) or 'none'})"
           + (f" and adds it in {len(new)} ({', '.join(new)})" if new else "") + "."]
    base_causes = r.frozen_causes(BASELINE)
    if base_causes:
        fates = {c: r.outcomes[(c, "webrtc")] for c in base_causes if (c, "webrtc") in r.outcomes}
        heard = [c for c, o in fates.items() if not o.frozen and o.heard_again]
        frozen = [c for c, o in fates.items() if o.frozen]
        out.append(f"Per cause, in the report's story: of the {len(base_causes)} causes that "
                   f"freeze production, WebRTC hears the user again under {len(heard)} "
                   f"({', '.join(heard) or 'none'}) and stays frozen under {len(frozen)} "
                   f"({', '.join(frozen) or 'none'}).")
        dropped = [c for c in frozen if (c, "no-gate") in r.outcomes
                   and r.outcomes[(c, "no-gate")].heard_again]
        if dropped:
            from vadlock.simulator.audio import rms_to_dbfs
            from vadlock.simulator.engine import DTX_RMS
            out.append("Of those, the same client over a WebSocket hears the user under "
                       f"{', '.join(dropped)} (`no-gate`; the `webrtc` design differs from it "
                       "only in the transport, whose media path the model sends audio "
                       f"quieter than {rms_to_dbfs(DTX_RMS):.0f} dBFS as Opus DTX comfort "
                       "noise).")
    out.append("How sure: the cells " + _grades_of(list(dict.fromkeys(
        x.split("/")[0] for x in fixed))).replace("it rests", "WebRTC fixes rest")
        + "; the per-cause answers carry each cause's grade in the diagnosis.")
    out.append("From the reference, not a result of this review: over WebRTC the server owns "
               "the output buffer, truncates on interruption itself and reports "
               "`output_audio_buffer.started/stopped/cleared`; OpenAI recommends it for "
               "browsers; the client gives up fine control of audio and playback "
               "(`../shared/reference/realtime-protocol.md` §4).")
    return out


def _method_section(r: _Results) -> list[str]:
    from vadlock.properties.checks import DEFAULT_BOUNDS as b
    chunks = sorted({get_design(d).chunk_ms for d in r.designs})
    return ["## How these verdicts were reached", "",
            "- A *freeze* is the `recovery` property failing: after the last fault event, "
            f"the user speaks clearly at least {b.recovery_min_utterances} times within "
            f"{b.recovery_window_ms / 1000:g} s and the client receives no `speech_started` "
            "and no `response.done`. Exploration uses the same notion: a reachable state "
            "from which no progress is reachable with fair steps.",
            "- Exploration is an over-approximation (timers fire nondeterministically, one "
            f"symbol per block of {' or '.join(str(c) for c in chunks)} ms, the designs' "
            "chunk); a freeze found there counts only once the full simulator replays it. "
            "Cells where exploration found only spurious freeze states fall back to search.",
            "- Search is bounded: a `no-freeze` from search alone (the server class) is "
            "evidence, not proof.", *_searched_only(r), ""]


def _searched_only(r: _Results) -> list[str]:
    """The cells of an explored fault class that search alone decided, because the
    explorer has no abstraction of their set for their design (an engine without a measured
    table covering it): said, with their budget, so no reader takes them for exhaustive."""
    from vadlock.analysis.review import EXPLORED_CLASSES
    if not r.graded:
        return []
    unexplored: dict[str, list[str]] = {}
    for (d, h, f), c in r.cells.items():
        if f in EXPLORED_CLASSES and c.states is None:
            designs = unexplored.setdefault(h, [])
            designs += [d] if d not in designs else []
    if not unexplored:
        return []
    engine = r.results.get("engine_search_examples") or r.results["search_examples"]
    return ["- The explorer has no abstraction of these sets for these designs (a detector "
            "engine needs a measured table covering the design: `vadlock measure`), so their "
            "cells are decided by search alone, on the real detector, with a budget of "
            f"{engine} scenarios per cell (an engine's) or {r.results['search_examples']} "
            "(any other): bounded evidence, not proof: "
            + "; ".join(f"`{h}` ({', '.join(ds)})" for h, ds in unexplored.items()) + "."]
