"""lab-sockets's hook implementations (filled in by its issue)."""
