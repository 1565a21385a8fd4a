"""Fiscal rules: pure functions from a Jumpseller order to an iGEST document (no I/O)."""
