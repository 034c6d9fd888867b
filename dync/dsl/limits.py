"""Bounds on what the front end reads (specs are data from anywhere)."""

#: the largest spec file read, in bytes (1 MiB)
MAX_SPEC_BYTES = 1 << 20
