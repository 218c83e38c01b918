"""What the client believes the server is doing, from the events it has received.

`listening` (nothing going on), `user_speaking` (after speech_started), `awaiting_response`
(after speech_stopped / committed), `responding` (after response.created, until
response.done). Divergence from the server's real state is what the `beliefs agree`
property checks.
"""

from vadlock.model.machine import ProtocolMachine


class ServerBeliefs(ProtocolMachine):
    NAME = "beliefs"
    STATES = ("listening", "user_speaking", "awaiting_response", "responding")
    INITIAL = "listening"
    TRANSITIONS = (
        {"trigger": "speech_started", "source": "*", "dest": "user_speaking"},
        {"trigger": "speech_stopped", "source": "user_speaking", "dest": "awaiting_response"},
        {"trigger": "speech_stopped", "source": ["listening", "awaiting_response", "responding"],
         "dest": None},
        {"trigger": "response_created", "source": "*", "dest": "responding"},
        {"trigger": "response_done", "source": "responding", "dest": "listening"},
        {"trigger": "response_done", "source": ["listening", "user_speaking", "awaiting_response"],
         "dest": None},
        {"trigger": "buffer_cleared", "source": "user_speaking", "dest": "listening"},
        {"trigger": "buffer_cleared",
         "source": ["listening", "awaiting_response", "responding"], "dest": None},
        {"trigger": "reset", "source": "*", "dest": "listening"},
    )
