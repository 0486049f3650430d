"""`dataset = "cifar10"`: torchvision's CIFAR-10 files, taken as whole arrays (no per-image PIL)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from ..config.schema import DataConfig
from .cache import cached, file_fingerprint
from .cifar_layout import ARCHIVE, FOLDER, META_FILE, TEST_FILES, TRAIN_FILES, cifar_root, is_extracted, missing_message
from .decode import Progress
from .errors import DataError
from .imageset import ImageSet
from .views import store_size


def _ensure_files(root: Path, download: bool) -> None:
    """Extract a placed archive, or download when allowed, so the batch files exist."""
    if is_extracted(root):
        return
    archive = root / ARCHIVE
    if not archive.is_file() and not download:
        raise DataError(missing_message(root))
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity, extract_archive

    if archive.is_file():
        if not check_integrity(str(archive), CIFAR10.tgz_md5):
            raise DataError(f"{archive} is damaged (checksum mismatch): delete it and put a complete copy there")
        extract_archive(str(archive), str(root))
        return
    try:
        CIFAR10(str(root), train=True, download=True)  # torchvision prints its own progress bar
    except Exception as exc:
        raise DataError(f"downloading CIFAR-10 into {root} failed ({exc}). {missing_message(root)}") from exc


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Resize uint8 [N, C, H, W] to size x size (bilinear, antialiased), chunk by chunk."""
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].float()
        part = F.interpolate(part, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _load_split(root: Path, train: bool, cfg: DataConfig, progress: Progress | None) -> ImageSet:
    folder = root / FOLDER
    split = "train" if train else "test"
    files = [folder / name for name in (*(TRAIN_FILES if train else TEST_FILES), META_FILE)]
    try:
        fingerprint = file_fingerprint(files, folder)
    except OSError as exc:
        raise DataError(f"cannot read {exc.filename or folder}: {exc.strerror or exc}") from exc

    size = store_size(cfg)

    def build() -> ImageSet:
        from torchvision.datasets import CIFAR10

        if progress is not None:
            progress(f"decode {split}", 0, 1)
        try:
            dataset = CIFAR10(str(root), train=train, download=False)
        except Exception as exc:
            raise DataError(f"the CIFAR-10 files in {folder} are damaged ({exc}): delete the folder and retry") from exc
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        if images.shape[-1] != size:
            images = resize_uint8(images, size)
        if progress is not None:
            progress(f"decode {split}", 1, 1)
        return ImageSet(images, torch.as_tensor(dataset.targets, dtype=torch.int64), tuple(dataset.classes))

    slot = ["cifar10", str(folder), split, str(size)]
    return cached(slot, fingerprint, build, cfg.cache, progress, stage=f"cache {split}")


def load_cifar10(cfg: DataConfig, progress: Progress | None = None) -> tuple[ImageSet, ImageSet]:
    """(train, val) = CIFAR-10's official train (50,000) and test (10,000) splits."""
    root = cifar_root(cfg)
    _ensure_files(root, cfg.download)
    return _load_split(root, True, cfg, progress), _load_split(root, False, cfg, progress)
