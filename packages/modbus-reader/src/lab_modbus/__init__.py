"""Modbus TCP/RTU reader."""

__version__ = "1.0.0"
