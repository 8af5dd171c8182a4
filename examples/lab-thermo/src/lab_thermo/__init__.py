"""Thermo reader for lab."""

__version__ = "0.1.0"
