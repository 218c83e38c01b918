"""`vadlock serve`: the model's server machines behind a Realtime-compatible WebSocket.

An I/O edge around the sans-IO machines: `session` drives one connection's
`ServerSession` (no sockets), `faults` names what can be injected, `voice` renders the
assistant's audio and transcripts, `server` is the asyncio + `websockets` endpoint and its
control endpoint, `load` a bounded many-session run whose logs are replayed.
"""

CLOCKS = ("wall", "audio")  # the session clock of the server's timers (see `session`)
