"""Processing jobs and plugins (dahu-compatible)."""

__version__ = "1.0.0"
