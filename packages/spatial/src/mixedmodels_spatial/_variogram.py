"""Variograms (filled in next)."""
