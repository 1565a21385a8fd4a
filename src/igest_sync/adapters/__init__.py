"""Adapters: the one HTTP boundary and one client per external API (Jumpseller, iGEST, VIES)."""
