"""The server session answers each client event as its declared table, `RECEIVE`, says."""

from vadlock.model.designs import get_design
from vadlock.model.hypotheses import ServerVadHypotheses
from vadlock.model.server.session import RECEIVE, ServerSession


def _server() -> ServerSession:
    return ServerSession(ServerVadHypotheses.parse("energy"),
                         get_design("production").level_scale)


def test_every_handler_the_table_names_exists():
    server = _server()
    assert all(callable(getattr(server, handler)) for handler in RECEIVE.values())


def test_a_client_event_outside_the_table_is_answered_with_nothing_and_changes_nothing():
    server = _server()
    before = [m.snapshot() for m in server.machines]
    assert server.receive({"type": "conversation.item.delete", "item_id": "item_0001"}) == []
    assert [m.snapshot() for m in server.machines] == before


def test_the_table_decides_what_an_event_does(monkeypatch):
    server = _server()
    cancel = {"type": "response.cancel"}
    assert [e["error"]["code"] for e in server.receive(cancel)] == ["response_cancel_not_active"]
    monkeypatch.setitem(RECEIVE, "response.cancel", "_on_response_create")  # planted
    assert server.receive(cancel)[0]["type"] == "response.created"
