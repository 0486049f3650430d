"""What torchrun told this process through its environment, readable without importing torch.

The command line and the run launcher need it before the process group exists (and `--check` or a
bad preset must not pay for importing torch to learn it).
"""

from __future__ import annotations

import os


def launched_by_torchrun() -> bool:
    """Whether this process is one of several workers torchrun started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch_world_size() -> int:
    """How many workers torchrun started in all, over every machine (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launch_rank() -> int:
    """This worker's rank as torchrun set it (0 outside torchrun); rank 0 alone prints and writes."""
    return int(os.environ.get("RANK", "0"))
