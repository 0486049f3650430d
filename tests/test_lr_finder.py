"""The learning-rate range test: it leaves training untouched, suggests an lr it tried, and the
command prints a plot and the suggestion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import SET_TINY, SMOKE, tiny_preset
from tui_trainer.cli import main
from tui_trainer.data import load_data
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.lr_finder import RULE, find_lr, lr_range_test, lr_schedule, suggest
from tui_trainer.engine.trainer import Trainer

CPU = numerics_for(torch.device("cpu"), "fp32", False)
OPTIONS = ('optimizer.name="sgd"', "optimizer.momentum=0.9", "train.epochs=1", "train.ema_decay=0.5")


def _weights(trainer: Trainer) -> list[torch.Tensor]:
    return [t.detach().clone() for t in trainer.model.state_dict().values()]


def test_a_run_after_the_finder_is_bit_identical_to_one_without_it() -> None:
    preset = tiny_preset(*OPTIONS)
    splits = load_data(preset.data)
    alone = Trainer(preset, splits, CPU)
    alone.fit()

    after = Trainer(preset, splits, CPU)
    before = _weights(after)
    result = lr_range_test(
        after.forward_model,
        after.optimizer,
        (b for e in range(1, 10) for b in after.batches_of(e)),
        after.criterion,
        CPU,
        steps=12,
        start_lr=1e-3,
        end_lr=1.0,
    )
    assert len(result.lrs) == 12
    assert all(torch.equal(a, b) for a, b in zip(_weights(after), before, strict=True))  # weights put back
    assert after.optimizer.state_dict()["state"] == {}  # no momentum left over
    after.fit()
    assert all(torch.equal(a, b) for a, b in zip(_weights(after), _weights(alone), strict=True))
    volatile = {"epoch_seconds", "train_images_per_second"}
    assert [{k: v for k, v in r.items() if k not in volatile} for r in after.history] == [
        {k: v for k, v in r.items() if k not in volatile} for r in alone.history
    ]


def test_the_suggestion_is_one_of_the_lrs_tried_inside_the_range() -> None:
    preset = tiny_preset(*OPTIONS)
    result = find_lr(preset, load_data(preset.data), CPU, steps=20, start_lr=1e-4, end_lr=3.0)
    assert result.rule == RULE
    assert result.suggestion in result.lrs
    assert 1e-4 <= min(result.lrs) <= result.suggestion <= max(result.lrs) <= 3.0
    assert len(result.losses) == len(result.smoothed) == len(result.lrs)


def test_lrs_rise_exponentially_from_start_to_end() -> None:
    lrs = lr_schedule(1e-5, 1.0, 11)
    assert lrs[0] == pytest.approx(1e-5) and lrs[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(lrs[1:] / lrs[:-1], 10**0.5)
    with pytest.raises(ValueError):
        lr_schedule(1.0, 0.1, 10)


def test_suggest_picks_the_steepest_fall_before_the_minimum() -> None:
    lrs = lr_schedule(1e-6, 10.0, 101)
    x = np.log10(lrs)
    # A loss that falls fastest at lr 1e-3 (a logistic step in log lr), bottoms out, then blows up.
    loss = 2.0 - 1.5 / (1 + np.exp(-(x + 3.0) * 3)) + np.where(x > 0, 20 * x**2, 0.0)
    assert suggest(lrs, loss) == pytest.approx(1e-3, rel=0.2)


def test_find_lr_command_prints_a_plot_and_the_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--find-lr", str(SMOKE), *SET_TINY, "--lr-steps", "15", "--lr-start", "1e-4", "--lr-end", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "suggested lr:" in out and "use it: --set optimizer.lr=" in out and "log10(lr)" in out
    assert "\x1b[" not in out  # no colour codes when not on a terminal


def test_find_lr_refuses_a_bad_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--find-lr", str(SMOKE), *SET_TINY, "--lr-start", "1", "--lr-end", "0.1"]) == 2
    assert "--lr-start" in capsys.readouterr().err
