"""`vadlock serve`: real clients (the official SDK, plain websockets) against the endpoint."""

import asyncio
import base64
import json
import time

import pytest
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter
from websockets.asyncio.client import connect

from serving import chunks, control, event_of, served, utterance_pcm16
from vadlock.simulator.logreplay import read_log, replay
from vadlock.simulator.trace import C2S, S2C

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)
RECV_TIMEOUT_S = 10


def http_base(url: str) -> str:
    return url.replace("ws://", "http://").removesuffix("/realtime")


async def recv_event(conn, timeout: float = RECV_TIMEOUT_S) -> dict:
    """The next server event as sent (raw JSON), validated strictly against the SDK."""
    event = event_of(await asyncio.wait_for(conn.recv_bytes(), timeout))
    SERVER_EVENT.validate_python(event)
    return event


async def until(conn, kind: str, seen: list) -> dict:
    while True:
        event = await recv_event(conn)
        seen.append(event)
        if event["type"] == kind:
            return event


async def say(conn, pcm: bytes) -> None:
    for chunk in chunks(pcm):
        await conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())


def test_the_official_sdk_holds_a_conversation(tmp_path):
    log = tmp_path / "session.jsonl"

    async def talk(url):
        client = AsyncOpenAI(base_url=http_base(url), api_key="test")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            seen: list = []
            assert (await recv_event(conn))["type"] == "session.created"
            await conn.session.update(session={"type": "realtime", "audio": {"input": {
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}})
            updated = await until(conn, "session.updated", seen)
            assert updated["session"]["audio"]["input"]["turn_detection"][
                "silence_duration_ms"] == 500
            await say(conn, utterance_pcm16())
            done = await until(conn, "response.done", seen)
            return seen, done

    with served("--log", str(log)) as (url, _):
        seen, done = asyncio.run(talk(url))
    kinds = [e["type"] for e in seen]
    for kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                 "input_audio_buffer.committed", "response.created",
                 "response.output_audio.delta", "response.output_audio_transcript.delta"):
        assert kind in kinds
    assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
        "input_audio_buffer.committed") < kinds.index("response.created")
    audio_bytes = sum(len(base64.b64decode(e["delta"])) for e in seen
                      if e["type"] == "response.output_audio.delta")
    response_ms = audio_bytes // 48  # 24 kHz pcm16
    assert response_ms > 1000 and any(base64.b64decode(e["delta"]).strip(b"\0")
                                      for e in seen if e["type"] == "response.output_audio.delta")
    words = "".join(e["delta"] for e in seen
                    if e["type"] == "response.output_audio_transcript.delta")
    assert done["response"]["status"] == "completed"
    assert done["response"]["output"][0]["content"][0]["transcript"] == words
    # the log: every event both ways, and the model finds nothing the server could not do
    records = read_log(log)
    assert sum(r.direction == S2C for r in records) >= len(seen) + 1
    assert sum(r.type == "input_audio_buffer.append" for r in records) == len(
        chunks(utterance_pcm16()))
    report = replay(records, "production", "energy", str(log)).to_dict()
    assert report["divergences"] == [] and report["invalid"] == []


def test_a_stall_leaves_the_socket_open_and_silent_until_lifted():
    async def talk(url):
        client = AsyncOpenAI(base_url=http_base(url), api_key="test")
        async with client.realtime.connect(model="gpt-realtime") as conn:
            seen: list = []
            await until(conn, "session.created", seen)
            await say(conn, utterance_pcm16())
            await until(conn, "response.done", seen)  # turn 1 is answered
            await say(conn, utterance_pcm16(seed=1))  # turn 2: the server is stalled
            with pytest.raises(asyncio.TimeoutError):
                await recv_event(conn, timeout=3)
            status, body = await asyncio.to_thread(control, url, "remove=stall")
            assert status == 200 and json.loads(body) == {"faults": []}
            await say(conn, utterance_pcm16(seed=2))  # the same socket is still open
            started = await until(conn, "input_audio_buffer.speech_started", seen)
            return started

    with served("--fault", "stall:after=1") as (url, _):
        started = asyncio.run(talk(url))
    assert started["audio_start_ms"] > 0


async def _raw_session(url: str, frames: list, expect: int) -> list[dict]:
    async with connect(url + "?model=gpt-realtime", max_size=None,
                       additional_headers={"Authorization": "Bearer anything"}) as ws:
        events = [event_of(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))]
        for frame in frames:
            await ws.send(frame)
        while len(events) < expect:
            events.append(event_of(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)))
    for event in events:
        SERVER_EVENT.validate_python(event)
    return events


def test_malformed_frames_get_an_error_each_and_the_session_goes_on():
    too_big = base64.b64encode(bytes(15 * 2**20 + 4)).decode()
    frames = [
        "this is not json",
        "[1, 2, 3]",
        json.dumps({"no": "type"}),
        json.dumps({"type": "no.such.event", "event_id": "evt_unknown"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "%%% not base64 %%%"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": 1234}),
        json.dumps({"type": "input_audio_buffer.append", "audio": too_big}),
        json.dumps({"type": "session.update", "session": {"audio": {"input": {
            "turn_detection": {"type": "server_vad", "silence_duration_ms": -5}}}}}),
        json.dumps({"type": "session.update", "event_id": "evt_ok", "session": {
            "type": "realtime", "audio": {"input": {"turn_detection": {
                "type": "server_vad", "silence_duration_ms": 700}}}}}),
    ]
    with served() as (url, _):
        events = asyncio.run(_raw_session(url, frames, expect=1 + len(frames)))
    kinds = [e["type"] for e in events]
    assert kinds == ["session.created"] + ["error"] * (len(frames) - 1) + ["session.updated"]
    unknown = events[4]["error"]
    assert unknown["code"] == "invalid_value" and unknown["event_id"] == "evt_unknown"
    assert {e["error"]["param"] for e in events[5:8]} == {"audio"}
    assert events[-1]["session"]["audio"]["input"]["turn_detection"][
        "silence_duration_ms"] == 700


def test_faults_switch_at_run_time_through_the_control_endpoint():
    async def timed_update(url):
        async with connect(url + "?model=m") as ws:
            await ws.recv()
            started = time.monotonic()
            await ws.send(json.dumps({"type": "session.update", "session": {}}))
            event = event_of(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S))
            return event["type"], time.monotonic() - started

    with served() as (url, _):
        assert control(url, "") == (200, '{"faults": []}\n')
        status, body = control(url, "add=latency:ms=400&add=zero-skip")
        assert status == 200 and json.loads(body)["faults"] == ["latency:ms=400", "zero-skip"]
        kind, delay_s = asyncio.run(timed_update(url))
        assert kind == "session.updated" and delay_s >= 0.4
        status, body = control(url, "add=bogus")
        assert status == 400 and "unknown name 'bogus'" in body
        assert control(url, "clear=1") == (200, '{"faults": []}\n')


def test_concurrent_sessions_are_independent():
    pcm = utterance_pcm16()
    quiet = bytes(len(pcm))

    async def session(url, data):
        async with connect(url + "?model=m") as ws:
            events = [json.loads(await ws.recv())]
            for chunk in chunks(data):
                await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                          "audio": base64.b64encode(chunk).decode()}))
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while events[-1]["type"] != "input_audio_buffer.cleared":
                events.append(json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)))
            return events

    async def together(url):
        return await asyncio.gather(session(url, pcm), session(url, quiet), session(url, pcm))

    with served("--clock", "audio") as (url, _):
        alone = asyncio.run(session(url, pcm))
        first, silent, second = asyncio.run(together(url))
    assert "input_audio_buffer.speech_started" in [e["type"] for e in alone]
    assert first == alone and second == alone  # same audio, same answers, byte for byte
    assert [e["type"] for e in silent] == ["session.created", "input_audio_buffer.cleared"]


def test_an_abrupt_disconnect_loses_no_log_line(tmp_path):
    log = tmp_path / "cut.jsonl"
    pcm = utterance_pcm16()

    async def cut(url):
        received = []
        async with connect(url + "?model=m") as ws:
            received.append(json.loads(await ws.recv()))
            for chunk in chunks(pcm):
                await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                          "audio": base64.b64encode(chunk).decode()}))
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while received[-1]["type"] != "input_audio_buffer.cleared":
                received.append(json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)))
            ws.transport.abort()  # no close frame
        return received

    with served("--log", str(log)) as (url, _):
        received = asyncio.run(cut(url))
    records = read_log(log)
    c2s = [r for r in records if r.direction == C2S]
    s2c = [r.event for r in records if r.direction == S2C]
    assert len(c2s) == len(chunks(pcm)) + 1
    assert s2c[:len(received)] == received
    assert log.read_text().endswith("\n")


def test_expire_closes_and_drop_cuts_the_connection():
    from websockets.exceptions import ConnectionClosed

    async def first_input(url):
        async with connect(url + "?model=m") as ws:
            received = [json.loads(await ws.recv())]
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
            with pytest.raises(ConnectionClosed):
                while True:
                    received.append(json.loads(await asyncio.wait_for(ws.recv(),
                                                                      RECV_TIMEOUT_S)))
            return received, ws.close_code

    with served() as (url, _):
        assert control(url, "set=expire")[0] == 200
        expired, close_code = asyncio.run(first_input(url))
        assert [e["type"] for e in expired] == ["session.created", "error"]
        assert expired[1]["error"]["code"] == "session_expired"
        assert close_code == 1000
        assert control(url, "set=drop")[0] == 200
        dropped, close_code = asyncio.run(first_input(url))
        assert [e["type"] for e in dropped] == ["session.created"]
        assert close_code == 1006  # no close frame: the connection was cut


def test_the_page_serves_the_browser_client_and_its_designs(tmp_path):
    import urllib.error
    import urllib.request

    (tmp_path / "index.html").write_text("<!doctype html><title>client</title>")
    (tmp_path / "client.js").write_text("export const x = 1;")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "key.txt").write_text("no")

    def get(base, path):
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, response.headers["Content-Type"], response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, None, b""

    with served("--page", str(tmp_path)) as (url, _):
        base = url.replace("ws://", "http://").removesuffix("/v1/realtime")
        assert get(base, "/") == (200, "text/html", b"<!doctype html><title>client</title>")
        assert get(base, "/client.js")[:2] == (200, "text/javascript")
        status, kind, body = get(base, "/design/production.json")
        design = json.loads(body)
        assert status == 200 and design["name"] == "production"
        assert design["gate"]["threshold_rms"] == 0.03
        assert design["turn_detection"]["type"] == "server_vad"
        assert get(base, "/design/nope.json")[0] == 404
        assert get(base, "/secret/key.txt")[0] == 404


def test_jitter_delays_events_but_keeps_their_order():
    pcm = utterance_pcm16()

    async def session(url):
        async with connect(url + "?model=m") as ws:
            events = [json.loads(await ws.recv())]
            for chunk in chunks(pcm):
                await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                          "audio": base64.b64encode(chunk).decode()}))
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while events[-1]["type"] != "input_audio_buffer.cleared":
                events.append(json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT_S)))
            return events

    with served("--clock", "audio") as (url, _):
        plain = asyncio.run(session(url))
        assert control(url, "set=jitter:ms=40")[0] == 200
        jittered = asyncio.run(session(url))
    assert jittered == plain and len(plain) > 20  # (the delay itself: the latency test)
