"""The identity service's rules: accounts and who manages whom, lock-outs, one-time codes and
the claims of a token. No I/O."""
