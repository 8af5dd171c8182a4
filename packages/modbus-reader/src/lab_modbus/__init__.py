"""lab-modbus: the ``modbus`` reader (Modbus TCP, RTU, RTU over TCP) and a simulated device.

Modules: ``address`` (the address grammar, pure), ``planner`` (request
coalescing, pure), ``reader`` (``ModbusReader``), ``simulator`` (``Simulator``),
``cli`` (``lab modbus simulate|read``), ``plugin`` (the hook implementations).
Importing this package does not import pymodbus; ``reader`` and ``simulator`` do.
"""

__version__ = "1.0.0"
