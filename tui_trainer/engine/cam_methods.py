"""The class-activation map methods on offer, readable without importing torch (the command line's
`--method` choices are listed before torch is loaded). Why HiResCAM is the default: `engine.cam`."""

from __future__ import annotations

METHODS: dict[str, str] = {
    "hirescam": "HiResCAM",
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "layercam": "LayerCAM",
}
"""Method name (as `--method` takes it) -> its class in the grad-cam package."""
DEFAULT_METHOD = "hirescam"
