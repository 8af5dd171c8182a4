"""lab-mysql's hook implementations (filled in by its issue)."""
