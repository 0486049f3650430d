"""The train and validate loops: accumulation, metrics and failures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.loops import NonFiniteLoss, train_epoch, validate

CPU = numerics_for(torch.device("cpu"), "bf16", channels_last=True)


def _linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


def _batches(n: int, size: int, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, 4, 4, generator=g), torch.randint(0, 5, (size,), generator=g)) for _ in range(n)]


def _params_after(model: nn.Module, batches, steps: int) -> torch.Tensor:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    train_epoch(model, batches, len(batches), nn.CrossEntropyLoss(), optimizer, CPU, accumulation_steps=steps)
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_accumulating_k_batches_equals_one_batch_k_times_larger() -> None:
    small = _batches(4, 8)
    large = [(torch.cat([x for x, _ in small]), torch.cat([y for _, y in small]))]
    accumulated = _params_after(_linear_model(), small, steps=4)
    single = _params_after(_linear_model(), large, steps=1)
    torch.testing.assert_close(accumulated, single, rtol=1e-5, atol=1e-6)


def test_a_last_partial_group_still_updates() -> None:
    batches = _batches(5, 8)  # groups of 2: [0,1], [2,3], [4]
    steps = []
    model = _linear_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_epoch(
        model,
        batches,
        5,
        nn.CrossEntropyLoss(),
        optimizer,
        CPU,
        accumulation_steps=2,
        on_optimizer_step=lambda: steps.append(1),
    )
    assert len(steps) == 3
    # The last group is one batch: its update is that batch's full mean gradient, not half of it.
    reference = _linear_model()
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for group in (batches[0:2], batches[2:4], batches[4:5]):
        train_epoch(reference, group, len(group), nn.CrossEntropyLoss(), ref_opt, CPU, accumulation_steps=len(group))
    for a, b in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_epoch_metrics_are_sample_weighted() -> None:
    model = _linear_model()
    batches = _batches(3, 7) + _batches(1, 2, seed=9)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no learning: metrics of a fixed model
    stats = train_epoch(model, batches, 4, nn.CrossEntropyLoss(), optimizer, CPU)
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    with torch.no_grad():
        logits = model(x)
    assert stats.images == 23
    assert stats.loss == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-6)
    assert stats.accuracy == pytest.approx((logits.argmax(1) == y).float().mean().item())


def test_stop_between_batches_reports_an_incomplete_epoch() -> None:
    model = _linear_model()
    seen = []

    def should_stop() -> bool:
        seen.append(1)
        return len(seen) > 2

    stats = train_epoch(
        model,
        _batches(6, 4),
        6,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        CPU,
        should_stop=should_stop,
    )
    assert not stats.completed and stats.images == 8


def test_non_finite_loss_raises_with_the_batch() -> None:
    model = _linear_model()
    batches = _batches(3, 4)
    batches[1] = (torch.full_like(batches[1][0], float("nan")), batches[1][1])
    with pytest.raises(NonFiniteLoss) as info:
        train_epoch(model, batches, 3, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), CPU)
    assert info.value.batch in (2, 3)


def test_validate_keeps_every_sample_and_a_consistent_confusion_matrix() -> None:
    model = _linear_model()
    batches = _batches(3, 10)
    result = validate(model, batches, nn.CrossEntropyLoss(reduction="none"), CPU, num_classes=5)
    y = torch.cat([b[1] for b in batches])
    assert result.confusion.sum().item() == 30
    assert torch.equal(result.labels, y)
    assert result.accuracy == pytest.approx((result.predictions == y).float().mean().item())
    assert result.accuracy == pytest.approx(result.confusion.diagonal().sum().item() / 30)
    assert result.loss == pytest.approx(result.losses.mean().item(), rel=1e-6)
    assert ((result.confidences > 0) & (result.confidences <= 1)).all()


def test_flip_tta_averages_the_logits_of_each_image_and_its_mirror() -> None:
    model = _linear_model()  # a linear layer over pixels: not mirror-symmetric
    batches = _batches(2, 8)
    plain = validate(model, batches, nn.CrossEntropyLoss(reduction="none"), CPU, 5)
    flipped = [(torch.flip(x, dims=[3]), y) for x, y in batches]
    with torch.no_grad():
        logits = torch.cat([(model(x) + model(torch.flip(x, dims=[3]))) / 2 for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    tta = validate(model, batches, nn.CrossEntropyLoss(reduction="none"), CPU, 5, tta=True)
    assert torch.equal(tta.predictions, logits.argmax(dim=1))
    torch.testing.assert_close(tta.losses, nn.functional.cross_entropy(logits, labels, reduction="none"))
    mirrored = validate(model, flipped, nn.CrossEntropyLoss(reduction="none"), CPU, 5, tta=True)
    torch.testing.assert_close(mirrored.losses, tta.losses)  # a mirrored set scores the same under flip TTA
    assert not torch.allclose(plain.losses, tta.losses)
