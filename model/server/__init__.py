"""Server-side machines: an approximation of the Realtime API session."""
