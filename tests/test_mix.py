"""Mixup / CutMix: soft targets, the stated pixel combinations, and how the loss and accuracy read them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tui_trainer.config.schema import AugmentConfig, LossConfig
from tui_trainer.data.mix import BatchMix, mixed_batches
from tui_trainer.engine.builders import build_loss
from tui_trainer.engine.loops import dominant_labels

K = 5


def _batch(b: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, 8, 8, generator=g), torch.randint(0, K, (b,), generator=g)


def _mix(**options: float) -> BatchMix:
    return BatchMix(AugmentConfig(**options), K)


@pytest.mark.parametrize(
    "options",
    [{"mixup_alpha": 0.4}, {"cutmix_alpha": 1.0}, {"mixup_alpha": 0.2, "cutmix_alpha": 1.0, "mix_prob": 0.6}],
    ids=["mixup", "cutmix", "both"],
)
def test_targets_sum_to_one_and_images_are_the_stated_combination(options: dict[str, float]) -> None:
    mix = _mix(**options)
    images, labels = _batch()
    plan = mix.plan(16, 8, 8, np.random.default_rng(3))
    mixed, targets = mix.apply(images, labels, plan)
    torch.testing.assert_close(targets.sum(dim=1), torch.ones(16))
    one_hot = torch.nn.functional.one_hot(labels, K).float()
    for i in range(16):
        j, lam = int(plan.partner[i]), float(plan.lam[i])
        torch.testing.assert_close(targets[i], lam * one_hot[i] + (1 - lam) * one_hot[j])
        if plan.cutmix[i]:
            top, left, bottom, right = plan.box[i]
            want = images[i].clone()
            want[:, top:bottom, left:right] = images[j, :, top:bottom, left:right]
            # lam is the share of the image that is still its own.
            assert lam == pytest.approx(1 - (bottom - top) * (right - left) / 64)
        else:
            want = lam * images[i] + (1 - lam) * images[j]
        torch.testing.assert_close(mixed[i], want)
    assert (plan.lam < 1).any()  # something was mixed
    if "cutmix_alpha" in options:
        assert plan.cutmix.any()
    if "mixup_alpha" in options:
        assert (~plan.cutmix & (plan.lam < 1)).any()


def test_mix_prob_zero_leaves_the_batch_alone_and_off_means_inactive() -> None:
    images, labels = _batch()
    mixed, targets = _mix(mixup_alpha=1.0, mix_prob=0.0)(images, labels, np.random.default_rng(0))
    assert torch.equal(mixed, images)
    assert torch.equal(dominant_labels(targets), labels)
    assert not _mix().active and not _mix(mixup_alpha=1.0, mix_prob=0.0).active and _mix(cutmix_alpha=1.0).active


def test_the_same_seed_mixes_the_same() -> None:
    batches = [_batch(seed=s) for s in range(3)]
    mix = _mix(mixup_alpha=0.5, cutmix_alpha=0.5)
    first = list(mixed_batches(batches, mix, seed=11))
    again = list(mixed_batches(batches, mix, seed=11))
    other = list(mixed_batches(batches, mix, seed=12))
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("name", ["label_smoothing_ce", "cross_entropy"])
def test_a_one_hot_soft_target_gives_the_hard_label_loss(name: str) -> None:
    logits = torch.randn(6, K, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 1, 2, 3, 4, 0])
    loss = build_loss(LossConfig(name=name, smoothing=0.2), K, reduction="none")
    soft = torch.nn.functional.one_hot(labels, K).float()
    torch.testing.assert_close(loss(logits, soft), loss(logits, labels))


def test_label_smoothing_composes_with_a_mixed_target() -> None:
    logits = torch.randn(1, K, generator=torch.Generator().manual_seed(2))
    soft = torch.tensor([[0.7, 0.3, 0.0, 0.0, 0.0]])
    s = 0.2
    other = s / (K - 1)
    weights = soft * (1 - s) + (1 - soft) * other  # each label smoothed, then blended by the same share
    assert float(weights.sum()) == pytest.approx(1.0)
    want = -(weights * torch.log_softmax(logits, dim=1)).sum()
    got = build_loss(LossConfig(name="label_smoothing_ce", smoothing=s), K)(logits, soft)
    torch.testing.assert_close(got, want)


def test_accuracy_counts_the_dominant_label() -> None:
    soft = torch.tensor([[0.7, 0.3, 0, 0, 0], [0.2, 0, 0, 0.8, 0]])
    assert dominant_labels(soft).tolist() == [0, 3]
