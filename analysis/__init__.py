"""vadlock analysis: the design review and its report, the diagnosis, calibration, sweeps, benchmarks."""
