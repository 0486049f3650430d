"""A heat map drawn over an image, in plain numpy: blue where a map is 0, through green and yellow, to red at 1.

The colours are the "jet" ramp as piecewise-linear channels (no matplotlib, no OpenCV), so the
console's half-block thumbnails, a terminal image protocol and a PNG all show the same pixels.
"""

from __future__ import annotations

import numpy as np

OPACITY = 0.5
"""How much of the heat colour covers the image (0: only the image, 1: only the map)."""


def jet(values: np.ndarray) -> np.ndarray:
    """H×W values in [0, 1] (clipped) as H×W×3 uint8 colours: dark blue, blue, cyan, yellow, red, dark red."""
    x = np.clip(np.asarray(values, dtype=np.float32), 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # where red, green and blue peak, in quarters of the ramp
    channels = np.clip(1.5 - np.abs(4.0 * x - centres), 0.0, 1.0)
    return np.rint(channels * 255).astype(np.uint8)


def overlay(image: np.ndarray, values: np.ndarray, opacity: float = OPACITY) -> np.ndarray:
    """`image` (H×W×3 uint8) with the `jet` colours of `values` (H×W in [0, 1], same H×W) blended over it."""
    if image.shape[:2] != values.shape:
        raise ValueError(f"a map of {values.shape} does not fit an image of {image.shape[:2]}")
    blended = (1.0 - opacity) * image[..., :3].astype(np.float32) + opacity * jet(values).astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
