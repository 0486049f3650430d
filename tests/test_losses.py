"""Losses: the seed's label smoothing exactly as written, plain cross-entropy, per-sample reduction."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tui_trainer.config.choices import LOSSES
from tui_trainer.config.schema import LossConfig
from tui_trainer.engine.builders import build_loss


def _seed_formula(logits: torch.Tensor, target: torch.Tensor, smoothing: float) -> torch.Tensor:
    """The coursework's loss, written out class by class."""
    num_classes = logits.shape[1]
    logp = F.log_softmax(logits, dim=1)
    per_sample = torch.zeros(logits.shape[0], dtype=logits.dtype)
    for b in range(logits.shape[0]):
        for k in range(num_classes):
            weight = 1.0 - smoothing if k == target[b] else smoothing / (num_classes - 1)
            per_sample[b] -= weight * logp[b, k]
    return per_sample


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_label_smoothing_matches_hand_computation(smoothing: float) -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 10, dtype=torch.float64) * 3
    target = torch.randint(0, 10, (6,))
    expected = _seed_formula(logits, target, smoothing).float()
    cfg = LossConfig(name="label_smoothing_ce", smoothing=smoothing)
    per_sample = build_loss(cfg, 10, reduction="none")(logits, target)
    assert per_sample.shape == (6,)
    torch.testing.assert_close(per_sample, expected)
    torch.testing.assert_close(build_loss(cfg, 10)(logits, target), expected.mean())


def test_label_smoothing_is_not_torchs_variant() -> None:
    torch.manual_seed(1)
    logits, target = torch.randn(4, 10), torch.randint(0, 10, (4,))
    ours = build_loss(LossConfig(smoothing=0.1), 10)(logits, target)
    theirs = F.cross_entropy(logits, target, label_smoothing=0.1)
    assert not torch.allclose(ours, theirs)
    # torch's s spread over K classes equals ours with s' = s (K - 1) / K.
    torch.testing.assert_close(build_loss(LossConfig(smoothing=0.09), 10)(logits, target), theirs)


def test_cross_entropy_matches_torch() -> None:
    torch.manual_seed(2)
    logits, target = torch.randn(5, 4), torch.randint(0, 4, (5,))
    cfg = LossConfig(name="cross_entropy")
    torch.testing.assert_close(build_loss(cfg, 4)(logits, target), F.cross_entropy(logits, target))
    torch.testing.assert_close(
        build_loss(cfg, 4, reduction="none")(logits, target), F.cross_entropy(logits, target, reduction="none")
    )


@pytest.mark.parametrize("name", LOSSES.names)
def test_bf16_logits_give_fp32_loss_and_gradients(name: str) -> None:
    logits = torch.randn(3, 5, dtype=torch.bfloat16, requires_grad=True)
    loss = build_loss(LossConfig(name=name), 5)(logits, torch.tensor([0, 1, 4]))
    assert loss.dtype == torch.float32
    loss.backward()
    assert logits.grad is not None and logits.grad.dtype == torch.bfloat16


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reduction"):
        build_loss(LossConfig(), 10, reduction="sum")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 classes"):
        build_loss(LossConfig(smoothing=0.1), 1)
