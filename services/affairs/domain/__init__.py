"""The affairs service's rules: items and their stages, the moves between them, time limits,
who may see and do what, and the ledger's figures. No I/O."""
