"""MySQL/MariaDB writer and ContinuousLogger."""

__version__ = "1.0.0"
