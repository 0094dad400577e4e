"""The matching solver: a pure library (arrays in, assignment out), no I/O."""
