"""lab-modbus's hook implementations (filled in by its issue)."""
