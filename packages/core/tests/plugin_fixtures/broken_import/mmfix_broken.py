"""A plugin whose import fails, as one with a missing dependency does."""

raise ImportError("mmfix_broken needs a dependency that is not installed")
