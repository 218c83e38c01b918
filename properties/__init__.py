"""vadlock properties: temporal predicates over traces, Hypothesis search, exhaustive exploration (networkx)."""
