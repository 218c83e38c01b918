"""A bounded load run: N concurrent sessions against an in-process `vadlock serve`.

The server listens on 127.0.0.1 (any free port) with the audio clock, so each client
sends its audio as fast as the connection takes it (faster than real time) and the
server's answers depend only on what it received. Client k sends the environment audio
of the `conversation` preset (a user turn every 10 s, a quiet room; seed k) in 100 ms
appends, then `input_audio_buffer.clear` and waits for `input_audio_buffer.cleared`,
the server's last word, and closes. Afterwards every session's log is checked: complete
(one line per event the client sent and received) and replayed by `vadlock replay`'s
reconstruction under the same design and hypotheses (divergences, invalid events).
Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from vadlock.simulator import audio
from vadlock.simulator.engine import environment_audio
from vadlock.simulator.logreplay import read_log, replay
from vadlock.simulator.presets import preset
from vadlock.simulator.serve.server import CLOSE_WAIT_S, Endpoint, ServeOptions
from vadlock.simulator.trace import C2S

CHUNK_MS = 100
CLIENT_TIMEOUT_S = 120.0  # one session's bound
END_EVENT = "load_end"


async def _client(url: str, k: int, audio_ms: int) -> dict[str, Any]:
    signal = environment_audio(preset("conversation", audio_ms), seed=k)[
        : audio_ms * audio.SAMPLES_PER_MS]
    pcm = audio.to_pcm16(signal)
    step = CHUNK_MS * audio.SAMPLES_PER_MS * 2
    sent = received = 0
    types: dict[str, int] = {}
    started = time.perf_counter()
    async with connect(f"{url}?model=gpt-realtime", max_size=None, compression=None,
                       additional_headers={"Authorization": "Bearer load-test"}) as ws:
        async def receive() -> None:
            nonlocal received
            async for message in ws:
                event = json.loads(message)
                received += 1
                types[event["type"]] = types.get(event["type"], 0) + 1
                if event["type"] == "input_audio_buffer.cleared":
                    return

        receiver = asyncio.create_task(receive())
        for i in range(0, len(pcm), step):
            await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                      "event_id": f"load_{k}_{i // step}",
                                      "audio": base64.b64encode(pcm[i:i + step]).decode()}))
            sent += 1
        await ws.send(json.dumps({"type": "input_audio_buffer.clear", "event_id": END_EVENT}))
        sent += 1
        await asyncio.wait_for(receiver, CLIENT_TIMEOUT_S)
    return {"client": k, "sent": sent, "received": received, "types": types,
            "seconds": time.perf_counter() - started}


async def _load(options: ServeOptions, sessions: int, audio_ms: int
                ) -> tuple[list[dict[str, Any]], float]:
    endpoint = Endpoint(options)
    loop = asyncio.get_running_loop()
    stop, ready = loop.create_future(), loop.create_future()
    server = asyncio.create_task(endpoint.run(ready.set_result, stop))
    url = await asyncio.wait_for(ready, CLOSE_WAIT_S)
    started = time.perf_counter()
    try:
        clients = await asyncio.wait_for(
            asyncio.gather(*(_client(url, k, audio_ms) for k in range(sessions))),
            CLIENT_TIMEOUT_S * 2)
        wall_s = time.perf_counter() - started
        deadline = time.perf_counter() + CLOSE_WAIT_S
        while len(endpoint.finished) < sessions and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)  # the handlers close their logs
    finally:
        stop.set_result(None)
        await server
    return clients, wall_s


def run_load(options: ServeOptions, sessions: int, audio_ms: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="vadlock-load-") as scratch:
        log = options.log or Path(scratch) / "session.jsonl"
        options = replace(options, host="127.0.0.1", port=0, clock="audio", log=log)
        clients, wall_s = asyncio.run(_load(options, sessions, audio_ms))
        return _check_logs(options, clients, wall_s, sessions, audio_ms)


def _check_logs(options: ServeOptions, clients: list[dict[str, Any]], wall_s: float,
                sessions: int, audio_ms: int) -> dict[str, Any]:
    from vadlock.simulator.serve.server import log_path

    by_client = {c["client"]: c for c in clients}
    started = time.perf_counter()
    rows = []
    for number in range(1, sessions + 1):
        path = log_path(options.log, number)
        records = read_log(path)
        first = next(r for r in records if r.direction == C2S)
        client = by_client[int(first.event["event_id"].split("_")[1])]
        found = replay(records, options.design.name, options.server, str(path)).to_dict()
        c2s = sum(1 for r in records if r.direction == C2S)
        rows.append({"session": number, "client": client["client"], "lines": len(records),
                     "complete": c2s == client["sent"] and
                     len(records) - c2s == client["received"],
                     "divergences": len(found["divergences"]), "invalid": len(found["invalid"]),
                     "responses": client["types"].get("response.done", 0)})
    replay_s = time.perf_counter() - started
    total_audio_s = sessions * audio_ms / 1000
    session_s = [c["seconds"] for c in clients]
    return {
        "sessions": sessions, "audio_per_session_s": audio_ms / 1000,
        "clock": "audio (clients send faster than real time)",
        "design": options.design.name, "server": options.server,
        "wall_s": round(wall_s, 2), "audio_s": total_audio_s,
        "real_time_factor": round(total_audio_s / wall_s, 1),
        "session_wall_s_median": round(statistics.median(session_s), 2),
        "session_wall_s_max": round(max(session_s), 2),
        "events_client_to_server": sum(c["sent"] for c in clients),
        "events_server_to_client": sum(c["received"] for c in clients),
        "responses": sum(r["responses"] for r in rows),
        "log_lines": sum(r["lines"] for r in rows),
        "incomplete_logs": sum(1 for r in rows if not r["complete"]),
        "divergences": sum(r["divergences"] for r in rows),
        "invalid_events": sum(r["invalid"] for r in rows),
        "replay_s": round(replay_s, 2), "per_session": rows,
    }


def print_load(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2))
        return
    r = result
    print(f"vadlock serve --load: {r['sessions']} concurrent sessions x "
          f"{r['audio_per_session_s']:g} s of audio on 127.0.0.1, clock {r['clock']}; "
          f"design={r['design']} server={r['server']}")
    print(f"  {r['audio_s']:g} s of audio served in {r['wall_s']} s wall "
          f"({r['real_time_factor']}x real time); per session median "
          f"{r['session_wall_s_median']} s, max {r['session_wall_s_max']} s")
    print(f"  events: {r['events_client_to_server']} client->server, "
          f"{r['events_server_to_client']} server->client, {r['responses']} responses")
    print(f"  logs: {r['log_lines']} lines, {r['sessions'] - r['incomplete_logs']}/"
          f"{r['sessions']} complete")
    print(f"  replay ({r['replay_s']} s): {r['divergences']} divergences, "
          f"{r['invalid_events']} invalid events")
