"""lab-core's built-in stream processors: deadband, window aggregates and transforms."""
