"""vadlock simulator: synthetic audio, scenarios, transport, the discrete-time engine, traces, CLI."""
