"""vadlock simulator: synthetic audio, scenarios, transport, the discrete-time engine, traces, plots, recordings, log replay."""
