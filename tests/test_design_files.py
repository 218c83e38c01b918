"""Design files: a user's own client as TOML, through the real CLI; the generic watchdog
rules; the server couplings create_response / interrupt_response."""

import base64
import json

import pytest

import vadlock.cli as cli
from vadlock.model.designs import DESIGNS, FILE_DESIGNS, get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.simulator.designfile import DesignFileError, design_toml, parse_design
from vadlock.simulator.engine import simulate
from vadlock.simulator.scenario import Scenario, Utterance
from vadlock.simulator.trace import C2S, S2C

OWN_CLIENT = """\
name = "own-client"
summary = "A team's own client, unlike every built-in design"
chunk_ms = 20

[gate]
mode = "zeros"
threshold_rms = 0.01
hangover_ms = 300

[turn_detection]
threshold = 0.6
prefix_padding_ms = 100
silence_duration_ms = 120
interrupt_response = false
"""


def run_cli(argv) -> int:
    """The real CLI, `vadlock.cli.main`: a command it lacks fails the test."""
    try:
        return cli.main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        return exc.code


@pytest.fixture
def own_client(tmp_path):
    path = tmp_path / "own.toml"
    path.write_text(OWN_CLIENT)
    yield path
    FILE_DESIGNS.pop("own-client", None)


def test_own_design_is_unlike_every_built_in_one():
    design = parse_design(OWN_CLIENT)
    assert all(design != d for d in DESIGNS.values())
    assert (design.chunk_ms, design.gate.threshold_rms, design.gate.hangover_ms) == (20, 0.01, 300)
    assert design.stuck_vad_watchdog_ms is None and design.liveness is None
    assert (design.vad_threshold, design.prefix_padding_ms, design.silence_duration_ms,
            design.interrupt_response) == (0.6, 100, 120, False)


def test_own_design_runs_through_simulate(own_client, tmp_path, capsys):
    out = tmp_path / "trace.jsonl"
    code = run_cli(["simulate", "--design-file", str(own_client), "--preset", "conversation",
                    "--duration-s", "20", "--json", "--out", str(out)])
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert code == (1 if summary["violations"] else 0)
    assert summary["design"] == "own-client"
    # the threshold is honoured (the symbols' speech edge moved to 0.6): no warning
    assert "not modelled" not in captured.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    update = next(r["event"] for r in records if r["event"]["type"] == "session.update")
    td = update["session"]["audio"]["input"]["turn_detection"]
    assert (td["prefix_padding_ms"], td["silence_duration_ms"], td["interrupt_response"],
            td["threshold"]) == (100, 120, False, 0.6)
    appends = [r["event"] for r in records if r["event"]["type"] == "input_audio_buffer.append"]
    assert {len(base64.b64decode(a["audio"])) for a in appends} == {20 * 24 * 2}
    assert not any(r["event"]["type"] == "input_audio_buffer.clear" for r in records)


def test_own_design_runs_through_search_and_explore(own_client, tmp_path, capsys):
    code = run_cli(["search", "--design-file", str(own_client), "--max-examples", "2",
                    "--faults", "capture", "--out", str(tmp_path), "--json"])
    found = json.loads(capsys.readouterr().out)
    assert found["design"] == "own-client" and code == (1 if found["counterexample"] else 0)
    code = run_cli(["explore", "--design-file", str(own_client), "--faults", "acoustic",
                    "--out", str(tmp_path), "--json"])
    explored = json.loads(capsys.readouterr().out)
    assert explored["design"] == "own-client" and explored["states"] > 0
    assert code == (1 if explored["confirmed"] else 0)


def test_design_show_piped_back_gives_a_byte_identical_trace(tmp_path, capsys):
    assert run_cli(["design", "show", "production"]) == 0
    path = tmp_path / "production.toml"
    path.write_text(capsys.readouterr().out)
    args = ["simulate", "--preset", "field-report", "--duration-s", "60", "--quiet"]
    run_cli([*args, "--design", "production", "--out", str(tmp_path / "a.jsonl")])
    run_cli([*args, "--design-file", str(path), "--out", str(tmp_path / "b.jsonl")])
    capsys.readouterr()
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


@pytest.mark.parametrize("name", sorted(DESIGNS))
def test_every_built_in_design_shows_as_a_file_that_reads_back_equal(name):
    assert parse_design(design_toml(DESIGNS[name])) == DESIGNS[name]


@pytest.mark.parametrize("text,key", [
    ('name = "x"\nchunk_size = 20\n', "chunk_size: unknown key"),
    ('name = "x"\n[gate]\nthreshold_rms = "high"\n', "gate.threshold_rms: expected a number"),
    ('name = "x"\nchunk_ms = 15\n', "chunk_ms: 15 out of range"),
    ('name = "x"\n[turn_detection]\nsilence_duration_ms = 10\n',
     "turn_detection.silence_duration_ms: 10 out of range"),
    ('name = "x"\n[turn_detection]\ncreate_response = "no"\n',
     "turn_detection.create_response: expected true or false"),
    ('name = "x"\n[[watchdogs]]\nafter_ms = 100\nwhen = "never"\ndo = ["clear"]\n',
     "watchdogs[0].when"),
    ('name = "x"\n[[watchdogs]]\nafter_ms = 100\nwhen = "near_silent_input"\ndo = ["sing"]\n',
     "watchdogs[0].do[0]: unknown action"),
    ('name = "production"\nchunk_ms = 20\n', "name: 'production' is a built-in design"),
    ('chunk_ms = 20\n', "name: missing"),
    ('name = "x"\nchunk_ms = \n', "not TOML"),
])
def test_design_check_names_the_bad_key_in_one_line(text, key, tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert run_cli(["design", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vadlock design: error:"), err
    assert key in err[0] and "Traceback" not in err[0]
    with pytest.raises(DesignFileError):
        parse_design(text)


def test_design_check_reports_what_the_model_does_not_honour(tmp_path, capsys):
    path = tmp_path / "semantic.toml"
    # semantic_vad and noise reduction are modelled; idle_timeout_ms is server_vad's only
    path.write_text('name = "semantic"\nnoise_reduction = "far_field"\n[turn_detection]\n'
                    'type = "semantic_vad"\neagerness = "low"\nidle_timeout_ms = 5000\n')
    assert run_cli(["design", "check", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] and len(report["unhonoured"]) == 1
    assert "idle_timeout_ms" in report["unhonoured"][0]


def test_review_takes_design_files_next_to_the_built_in_ones(own_client, monkeypatch, capsys):
    import vadlock.analysis.review as review
    seen = {}

    def run_review(out, designs=None, **kwargs):  # what the CLI asks the review for
        seen["designs"] = designs
        return {"cells": []}

    monkeypatch.setattr(review, "run_review", run_review)
    assert run_cli(["review", "--design-file", str(own_client), "--out", "unused"]) == 0
    assert seen["designs"] == [*DESIGNS, "own-client"]
    assert get_design("own-client").chunk_ms == 20  # known by name to the review's jobs


# -- generic watchdogs ---------------------------------------------------------------------
RECONNECT_ON_SILENCE = """\
name = "reconnect-on-silence"
[[watchdogs]]
after_ms = 10000
when = "no_server_event_while_sending"
do = ["reconnect_with_replay", "notify"]
"""


def test_a_reconnect_on_silence_watchdog_is_a_few_lines_of_a_file():
    """Plant the cause (the field report's freeze: no server event while the client
    sends zeros) and show the rule acts 10 s after the last server event."""
    design = parse_design(RECONNECT_ON_SILENCE)
    assert design.stuck_vad_watchdog_ms is None and len(design.watchdog_rules) == 1
    from vadlock.simulator.presets import preset
    scenario = preset("field-report", 90_000)
    frozen = simulate(parse_design('name = "plain"\n'), ServerVadHypotheses(), scenario, 0)
    silent_from = max(r.t_ms for r in frozen.wire if r.direction == S2C)
    trace = simulate(design, ServerVadHypotheses(), scenario, 0)
    assert trace.reconnects >= 1
    first_notice = min(t for t, _ in trace.notices)
    assert silent_from + 10_000 <= first_notice <= silent_from + 10_000 + 200
    fired = [t for t, side, machine, *_ in trace.transitions if machine == "watchdog_rule_1"]
    assert fired, "the rule's machine records its transitions"


def test_generic_rule_actions_go_on_the_wire():
    design = parse_design('name = "commit-when-stuck"\n[[watchdogs]]\nafter_ms = 2000\n'
                          'when = "speech_not_stopped"\ndo = ["commit", "notify"]\n')
    assert design.stuck_vad_watchdog_ms is None  # not the built-in (that one clears)
    from vadlock.model.client.session import ClientSession
    client = ClientSession(design)
    assert client.receive({"type": "input_audio_buffer.speech_started"}) == []
    assert client.advance(1_990) == []
    assert client.advance(10) == [{"type": "input_audio_buffer.commit"}]
    assert client.notices and "speech not stopped" in client.notices[0]
    client.receive({"type": "input_audio_buffer.speech_stopped"})
    assert client.advance(5_000) == []


# -- server couplings --------------------------------------------------------------------
# the second utterance starts while the first answer is still being generated (8 s of
# audio at 4x: ~2 s)
BARGE_IN = Scenario(name="barge-in", duration_ms=20_000, response_audio_ms=(8_000,),
                    utterances=(Utterance(1_000, 1_500), Utterance(3_600, 1_500, -12.0)))


def _responses(design_text: str):
    trace = simulate(parse_design(design_text), ServerVadHypotheses(), BARGE_IN, 0)
    done = [r.event["response"] for r in trace.wire if r.direction == S2C
            and r.type == "response.done"]
    created = sum(1 for r in trace.wire if r.direction == S2C and r.type == "response.created")
    commits = sum(1 for r in trace.wire if r.direction == S2C
                  and r.type == "input_audio_buffer.committed")
    return done, created, commits


def test_interrupt_response_false_keeps_the_response_when_speech_starts():
    base = 'name = "x"\n'
    done, _, _ = _responses(base)
    assert any(d["status"] == "cancelled" for d in done)  # the default: speech cancels it
    done, _, _ = _responses(base + "[turn_detection]\ninterrupt_response = false\n")
    assert done and all(d["status"] == "completed" for d in done)


def test_create_response_false_commits_without_responding():
    done, created, commits = _responses('name = "x"\n[turn_detection]\ncreate_response = false\n')
    assert commits >= 2 and created == 0 and done == []
    _, created, _ = _responses('name = "x"\n')
    assert created >= 1


def test_watchdog_rule_table_runs_the_same_on_stock_and_lean_dispatch():
    """The rule machine's table (not yet in `declared_machines`: the committed diagrams are
    regenerated at integration) under transitions' stock `Event` and under `LeanEvent`."""
    from hypothesis import given, settings, strategies as st
    from transitions import Machine
    from transitions.core import MachineError

    from vadlock.model import protocol
    from vadlock.model.client.rules import WatchdogRule

    states = set(WatchdogRule.STATES)
    for t in WatchdogRule.TRANSITIONS:
        assert t["source"] in (*states, "*") and t["dest"] in (*states, None)

    def build(machine_class):
        variant = type("WatchdogRule", (WatchdogRule,), {"MACHINE_CLASS": machine_class})
        return variant("speech_not_stopped", 500, ("commit_or_clear", "reconnect", "notify"),
                       protocol.turn_detection_config())

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.sampled_from(["condition_began", "condition_ended", "expire",
                                     "advance"]), max_size=30))
    def run(steps):
        stock, lean = build(Machine), build(WatchdogRule.MACHINE_CLASS)
        for step in steps:
            seen = []
            for machine in (stock, lean):
                try:
                    result = machine.advance(300) if step == "advance" else getattr(machine, step)()
                except MachineError:
                    result = "MachineError"
                seen.append((result, machine.snapshot(), machine.drain(), list(machine.changes)))
            assert seen[0] == seen[1], step

    run()


def test_a_watchdog_rule_is_explored_like_any_declared_timer(tmp_path, capsys):
    """The rule's timer is a declared one: the session lists it while its condition holds,
    its expiry does what the rule says, and explore takes the design with no caveat."""
    from vadlock.model.client.outputs import Reconnect
    from vadlock.model.client.session import ClientSession
    from vadlock.simulator.designfile import load_design

    path = tmp_path / "ros.toml"
    path.write_text(RECONNECT_ON_SILENCE)
    client = ClientSession(load_design(path))
    assert client.running_timers() == ()
    client.on_chunk(client.speech_level, 100)  # an append: no server event since
    assert client.running_timers() == ("watchdog_rule_1",)
    client.expire_timer("watchdog_rule_1")
    assert client.requests == [Reconnect(replay=True)]
    code = run_cli(["explore", "--design-file", str(path), "--faults", "capture", "--json"])
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    assert json.loads(captured.out)["states"] > 0 and code in (0, 1)
