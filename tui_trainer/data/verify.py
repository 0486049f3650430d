"""`--check`'s promise about images: every file the run would use decodes.

Pillow's `verify()` checks a file's structure only and passes a truncated JPEG, which the run then
refuses seconds later; only a full decode finds it. So the images are decoded the way the run
decodes them, through `load_data`: it takes the time a first decode takes, and the decoded images
land in the data cache (`data.cache`), where the run that follows finds them instead of decoding
again. Every bad file is listed at once, whatever `data.bad_images` says, so one check names
every file to fix.
"""

from __future__ import annotations

from ..config.schema import DataConfig
from .bad_images import BadImage
from .decode import Progress


def undecodable_images(cfg: DataConfig, progress: Progress | None = None) -> list[BadImage]:
    """The image files of a listed dataset (an image folder, a CSV list) that the run would use and cannot
    decode, as (path, reason); any other data problem raises DataError."""
    from .loading import load_data  # torch from here on

    # "skip" lists every bad file of both splits and decodes (and caches) the rest; with no bad
    # file the cache entries are the very ones a run with "error" reads.
    splits = load_data(cfg.model_copy(update={"bad_images": "skip"}), progress=progress)
    return list(splits.skipped)
