"""One legality source: `vadlock replay` judges a logged server's events with the model's
own tables (`ProtocolMachine.states_emitting`), not with a second copy of the rules."""

import json

from vadlock.model.server.response import ResponseLifecycle
from vadlock.model.server.vad import ServerVad
from vadlock.simulator import logreplay


def _divergences(events):
    records = logreplay.parse_lines([json.dumps(e) for e in events])
    return [d["event"] for d in logreplay.replay(records).divergences]


def test_the_tables_say_where_each_event_can_be_emitted():
    assert ServerVad.states_emitting("_started") == {"silence": "speech"}
    assert ServerVad.states_emitting("_stopped") == {"speech": "silence"}
    assert ResponseLifecycle.states_emitting("_completed", "_cancelled") == {
        "in_progress": "idle"}


class ForgivingResponse(ResponseLifecycle):
    """A response table in which `response.created` may also come while one is active."""

    TRANSITIONS = tuple(
        {**row, "after": "_created"} if row["trigger"] == "create"
        and row["source"] == "in_progress" else row for row in ResponseLifecycle.TRANSITIONS)


def test_changing_a_table_changes_what_replay_calls_impossible(monkeypatch):
    two_creates = [{"type": "session.created"},
                   {"type": "response.created", "response": {"id": "resp_1"}},
                   {"type": "response.created", "response": {"id": "resp_2"}}]
    assert _divergences(two_creates) == ["response.created"]
    monkeypatch.setitem(logreplay.EMITTED_BY, "response.created",
                        (ForgivingResponse, ("_created",)))
    monkeypatch.setattr(logreplay, "ResponseLifecycle", ForgivingResponse)
    assert _divergences(two_creates) == []
