"""Placeholder until this module lands; see the package __init__ for its API."""

DIAGNOSTICS: list[object] = []
