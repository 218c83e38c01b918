"""vadlock properties: temporal predicates over traces, search (Hypothesis), exploration (networkx), review."""
