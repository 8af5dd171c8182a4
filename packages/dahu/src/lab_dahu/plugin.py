"""lab-dahu's hook implementations (filled in by its issue)."""
