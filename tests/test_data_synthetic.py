"""The synthetic shapes: deterministic, ten named classes, learnable but not trivial."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tui_trainer.config.schema import AugmentConfig, DataConfig
from tui_trainer.data import BatchAugment, TrainBatches, load_data, val_batches
from tui_trainer.data.synthetic import CLASSES, make_synthetic


def test_deterministic_per_seed_with_ten_balanced_classes() -> None:
    cfg = DataConfig(dataset="synthetic", synthetic_train_size=200, synthetic_val_size=50)
    a, b, c = load_data(cfg, seed=3), load_data(cfg, seed=3), load_data(cfg, seed=4)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.val.labels, b.val.labels)
    assert not torch.equal(a.train.images, c.train.images)
    assert not torch.equal(a.train.images[:50], a.val.images)  # train and val are different draws
    assert a.classes == CLASSES and len(CLASSES) == 10
    assert {"circle", "square", "triangle"} <= set(CLASSES)
    assert torch.bincount(a.train.labels).tolist() == [20] * 10
    assert a.train.images.shape == (200, 3, 32, 32) and a.train.images.dtype == torch.uint8
    assert a.train.images.float().std() > 20  # not blank


def test_image_size_and_limits_apply() -> None:
    cfg = DataConfig(
        dataset="synthetic", image_size=20, synthetic_train_size=100, synthetic_val_size=30, train_limit=40
    )
    data = load_data(cfg)
    assert data.train.images.shape == (40, 3, 20, 20) and len(data.val) == 30
    assert torch.bincount(data.train.labels).tolist() == [4] * 10


def _small_cnn(width: int = 16) -> nn.Module:
    def block(i: int, o: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(
        block(3, width),
        block(width, 2 * width),
        block(2 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4 * width, 10),
    )


@pytest.fixture
def one_thread():
    """One intra-op thread: a few seconds either way, and no OpenMP stalls on a busy shared CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_the_smoke_recipe_learns_it_but_not_perfectly() -> None:
    """presets/smoke.toml in miniature: 2000 images, 3 epochs, a 16-wide CNN, AdamW + cosine."""
    torch.manual_seed(0)
    data = load_data(DataConfig(dataset="synthetic", synthetic_train_size=2000, synthetic_val_size=500), seed=0)
    model = _small_cnn()
    batches = TrainBatches(
        data.train, 64, BatchAugment(AugmentConfig(crop_scale=(0.7, 1.0), rotation=10), 32), drop_last=False, seed=0
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.003, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 3, 1e-5)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    for epoch in range(3):
        model.train()
        for images, labels in batches.epoch(epoch):
            optimizer.zero_grad()
            loss_fn(model(images), labels).backward()
            optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        correct = sum(
            (model(x).argmax(1) == y).sum().item() for x, y in val_batches(data.val, 250, (0.5,) * 3, (0.5,) * 3)
        )
    accuracy = correct / len(data.val)
    assert 0.65 <= accuracy < 0.99, accuracy


def test_generation_is_vectorised_and_fast() -> None:
    import time

    make_synthetic(100, 32, 0)
    start = time.process_time()  # CPU time: not inflated by other jobs on a busy machine
    make_synthetic(5000, 32, 1)
    assert time.process_time() - start < 5.0  # typically 0.2-0.4 s of CPU
