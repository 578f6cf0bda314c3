"""Presentation of fitted models: R-formatted summaries, broom.mixed tidiers, formatters."""
