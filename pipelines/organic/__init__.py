"""Organic analytics: planning the calls, normalizing the answers (user account and pins)."""
