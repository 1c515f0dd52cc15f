"""Pure domain: no I/O. Aggregates, events, policies, fragments and hashing."""
