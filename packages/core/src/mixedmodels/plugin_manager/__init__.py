"""The plugin manager: discovery through entry points, registries, look-up by name."""
