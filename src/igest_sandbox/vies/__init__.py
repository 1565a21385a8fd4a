"""The VIES emulator (vies.md)."""
