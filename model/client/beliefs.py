"""What the client believes the server is doing, from the events it has received.

`listening` (nothing going on), `user_speaking` (after speech_started), `awaiting_response`
(after speech_stopped / committed), `responding` (after response.created, until
response.done). Divergence from the server's real state is what the `beliefs agree`
property checks.
"""

from vadlock.model.machine import ProtocolMachine


class BeliefState:
    """The states of `ServerBeliefs`."""

    LISTENING = "listening"
    USER_SPEAKING = "user_speaking"
    AWAITING_RESPONSE = "awaiting_response"
    RESPONDING = "responding"


class ServerBeliefs(ProtocolMachine):
    NAME = "beliefs"
    STATES = (BeliefState.LISTENING, BeliefState.USER_SPEAKING, BeliefState.AWAITING_RESPONSE,
              BeliefState.RESPONDING)
    INITIAL = BeliefState.LISTENING
    TRANSITIONS = (
        {"trigger": "speech_started", "source": "*", "dest": BeliefState.USER_SPEAKING},
        {"trigger": "speech_stopped", "source": BeliefState.USER_SPEAKING,
         "dest": BeliefState.AWAITING_RESPONSE},
        {"trigger": "speech_stopped", "source": [BeliefState.LISTENING,
                                                 BeliefState.AWAITING_RESPONSE,
                                                 BeliefState.RESPONDING], "dest": None},
        {"trigger": "response_created", "source": "*", "dest": BeliefState.RESPONDING},
        {"trigger": "response_done", "source": BeliefState.RESPONDING,
         "dest": BeliefState.LISTENING},
        {"trigger": "response_done", "source": [BeliefState.LISTENING,
                                                BeliefState.USER_SPEAKING,
                                                BeliefState.AWAITING_RESPONSE], "dest": None},
        {"trigger": "buffer_cleared", "source": BeliefState.USER_SPEAKING,
         "dest": BeliefState.LISTENING},
        {"trigger": "buffer_cleared", "source": [BeliefState.LISTENING,
                                                 BeliefState.AWAITING_RESPONSE,
                                                 BeliefState.RESPONDING], "dest": None},
        {"trigger": "reset", "source": "*", "dest": BeliefState.LISTENING},
    )
