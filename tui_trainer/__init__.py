"""tui-trainer: a terminal training console for image classifiers in PyTorch."""

__version__ = "0.1.0"
