"""vadlock's model: the client and server state machines, declared once with `transitions`.

Everything here is sans-IO: machines take inputs (frame symbols, protocol events, elapsed
simulated milliseconds) and return outputs (wire events, notices). Nothing reads a clock,
sleeps, starts a thread or touches audio samples.
"""
