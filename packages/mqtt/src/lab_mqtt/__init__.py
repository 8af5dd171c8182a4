"""lab-mqtt: the ``mqtt`` reader and writer (paho-mqtt 2) and ``lab mqtt watch``."""

__version__ = "1.0.0"
