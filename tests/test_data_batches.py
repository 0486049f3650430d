"""TrainBatches and val_batches: reproducible epochs, per-rank shards, exact validation coverage."""

from __future__ import annotations

import platform
import sys

import pytest
import torch

from tui_trainer.config.schema import AugmentConfig
from tui_trainer.data import BatchAugment, ImageSet, TrainBatches, normalize, val_batches


def numbered(n: int, size: int = 8) -> ImageSet:
    """Sample i has label i, so batches say which samples they hold."""
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
    return ImageSet(images, torch.arange(n), tuple(f"c{i}" for i in range(n)))


def augment(size: int = 8) -> BatchAugment:
    return BatchAugment(AugmentConfig(crop_scale=(0.5, 1.0), rotation=10, hflip=0.5), size)


def labels_of(batches) -> list[int]:
    return [label for _, labels in batches for label in labels.tolist()]


def test_batches_are_float_images_and_labels_covering_the_epoch() -> None:
    data = numbered(100)
    batches = TrainBatches(data, 32, augment(), drop_last=False, seed=0)
    assert len(batches) == 4
    seen = list(batches.epoch(0))
    assert [len(labels) for _, labels in seen] == [32, 32, 32, 4]
    assert all(images.dtype == torch.float32 and images.shape[1:] == (3, 8, 8) for images, _ in seen)
    assert all(labels.dtype == torch.int64 for _, labels in seen)
    assert sorted(labels_of(seen)) == list(range(100))
    dropped = TrainBatches(data, 32, augment(), drop_last=True, seed=0)
    assert len(dropped) == 3 and [len(labels) for _, labels in dropped.epoch(0)] == [32, 32, 32]


def test_same_seed_same_batches_and_epochs_differ() -> None:
    data = numbered(64)
    one = TrainBatches(data, 16, augment(), drop_last=False, seed=5)
    two = TrainBatches(data, 16, augment(), drop_last=False, seed=5)
    list(one.epoch(0))  # an epoch depends on nothing that ran before it
    for (a_img, a_lab), (b_img, b_lab) in zip(one.epoch(3), two.epoch(3), strict=True):
        assert torch.equal(a_img, b_img) and torch.equal(a_lab, b_lab)
    assert labels_of(one.epoch(3)) != labels_of(one.epoch(4))
    other_seed = TrainBatches(data, 16, augment(), drop_last=False, seed=6)
    assert labels_of(other_seed.epoch(3)) != labels_of(one.epoch(3))


def test_without_augmentation_batches_are_normalised_samples() -> None:
    data = numbered(10)
    batches = TrainBatches(data, 4, None, drop_last=False, seed=0, mean=(0.2, 0.3, 0.4), std=(0.5, 0.5, 0.5))
    for images, labels in batches.epoch(0):
        assert torch.allclose(images, normalize(data.images[labels], (0.2, 0.3, 0.4), (0.5, 0.5, 0.5)))


@pytest.mark.parametrize(("n", "world"), [(100, 3), (64, 4), (7, 2)])
def test_distributed_shards_are_disjoint_equal_and_cover_the_epoch(n: int, world: int) -> None:
    data = numbered(n)
    shards = [TrainBatches(data, 5, augment(), drop_last=False, seed=1, rank=r, world_size=world) for r in range(world)]
    seen = [labels_of(shard.epoch(2)) for shard in shards]
    assert {len(s) for s in seen} == {n // world}  # equal work on every rank
    assert {len(shard) for shard in shards} == {-(-(n // world) // 5)}
    union = [label for s in seen for label in s]
    assert len(set(union)) == len(union) == n - n % world
    # Every rank cut the same permutation: together they are the single-rank order, truncated.
    single = TrainBatches(data, 5, augment(), drop_last=False, seed=1).indices(2)
    assert union == single[: n - n % world].tolist()


def test_ranks_draw_different_augmentations() -> None:
    same = torch.randint(0, 256, (1, 3, 8, 8), dtype=torch.uint8).expand(8, 3, 8, 8).contiguous()
    data = ImageSet(same, torch.zeros(8, dtype=torch.int64), ("a",))
    r0 = TrainBatches(data, 8, augment(), drop_last=False, seed=0, rank=0, world_size=2)
    r1 = TrainBatches(data, 8, augment(), drop_last=False, seed=0, rank=1, world_size=2)
    assert not torch.equal(next(r0.epoch(0))[0], next(r1.epoch(0))[0])


def test_bad_rank_is_refused() -> None:
    with pytest.raises(ValueError, match="rank"):
        TrainBatches(numbered(4), 2, None, drop_last=False, seed=0, rank=2, world_size=2)


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_val_batches_cover_every_sample_once_in_order(world: int) -> None:
    data = numbered(10)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    parts = [list(val_batches(data, 3, mean, std, rank=r, world_size=world)) for r in range(world)]
    order = [label for part in parts for label in labels_of(part)]
    assert order == list(range(10))  # contiguous shards, dataset order, no padding
    for part in parts:
        for images, labels in part:
            assert len(labels) <= 3
            assert torch.equal(images, normalize(data.images[labels], mean, std))


def test_thread_setting_is_restored_between_batches() -> None:
    """Small CPU batches are built on one thread; the training step between them must see all."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        batches = TrainBatches(numbered(20), 4, augment(), drop_last=False, seed=0)
        for _ in batches.epoch(0):
            assert torch.get_num_threads() == 2
        for _ in val_batches(numbered(20), 4, (0.5,) * 3, (0.5,) * 3):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_cpu_batches_set_the_heap_to_reuse_freed_buffers_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from tui_trainer.data import heap

    calls: list[int] = []
    monkeypatch.setattr(heap, "_applied", None)
    monkeypatch.setattr(heap, "_set_glibc_options", lambda: calls.append(1) or True)
    TrainBatches(numbered(8), 4, augment(), drop_last=False, seed=0)
    TrainBatches(numbered(8), 4, None, drop_last=False, seed=1)
    assert calls == [1] and heap.keep_freed_buffers()


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc")
def test_glibc_accepts_the_heap_options() -> None:
    from tui_trainer.data import heap

    assert heap._set_glibc_options()
