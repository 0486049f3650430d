"""Sweeps: a study's trials, curves and values."""
