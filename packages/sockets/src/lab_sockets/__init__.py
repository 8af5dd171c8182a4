"""PyExpLabSys-compatible data sockets, transports and client."""

__version__ = "1.0.0"
