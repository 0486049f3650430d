"""The confusion screens: matrix, per-class chart, sample gallery and its drill-down, and what they read."""
