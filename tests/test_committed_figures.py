"""The committed figures are what the commands produce from the current declarations."""

from pathlib import Path

from vadlock.cli import main
from vadlock.simulator.diagrams import diagrams_markdown

FIGURES = Path(__file__).resolve().parent.parent / "figures"


def test_committed_mermaid_diagrams_match_the_machine_declarations():
    committed = (FIGURES / "machines.md").read_text()
    assert committed == diagrams_markdown(), (
        "figures/machines.md is out of date: run `vadlock diagrams` and commit the result")


def test_diagrams_check_command(capsys):
    assert main(["diagrams", "--check", "--out", str(FIGURES)]) == 0


def test_review_report_is_committed_with_its_evidence():
    review = (FIGURES / "review.md").read_text()
    assert "## Verdict matrix" in review and "## Answers to the report's four questions" in review
    for line in review.splitlines():
        for target in [part.split(")")[0] for part in line.split("](")[1:]]:
            assert (FIGURES / target).exists(), f"review.md links to a missing file: {target}"


def test_committed_review_md_is_what_the_generator_makes_of_review_json():
    """No hand edits: review.md is the report the current code renders from the committed
    results (and a change of a design's text or of the report means: run `make review`)."""
    import json

    from vadlock.analysis.report import render_from_json
    results = json.loads((FIGURES / "review.json").read_text())
    assert (FIGURES / "review.md").read_text() == render_from_json(results), (
        "figures/review.md does not match figures/review.json: run `make review` and commit")
    for cell in results["cells"]:
        if cell["verdict"] == "freeze":
            assert (FIGURES / cell["counterexample"]).exists()
            assert (FIGURES / cell["timeline"]).exists()
