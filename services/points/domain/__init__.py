"""The points service's rules: pure, no I/O."""
