"""The learning-rate range test: it leaves training untouched, suggests an lr it tried, and the
command prints a plot and the suggestion."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.helpers import SET_TINY, SMOKE, TINY, tiny_preset
from tui_trainer.cli import main
from tui_trainer.cli.find_lr import StepReport, plot_text, run_find_lr
from tui_trainer.data import load_data
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.lr_finder import RULE, find_lr, lr_range_test, lr_schedule, suggest
from tui_trainer.engine.lr_range import loss_axis
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


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_find_lr_in_a_log_prints_plain_progress_lines_the_engine_reporting_through_on_step(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = io.StringIO()  # not a TTY, as when the output goes to a file or a cluster's log
    assert run_find_lr(SMOKE, TINY, steps=12, start_lr=1e-4, end_lr=1.0, out=log) == 0
    progress = [line for line in log.getvalue().splitlines() if line.startswith("step ")]
    assert progress[0].startswith("step 1/12: lr 0.0001, loss ")
    assert len(progress) >= 2 and all(", loss " in line for line in progress)
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()  # plain lines a log keeps
    assert capsys.readouterr().out == ""  # nothing printed by the engine itself


def test_step_report_rewrites_one_line_on_a_terminal_and_thins_lines_in_a_log() -> None:
    terminal = _Terminal()
    report = StepReport(terminal)
    for step in range(1, 4):
        report(step, 3, 1e-3 * step, 2.0)
    report.close()
    lines = terminal.getvalue().split("\r")  # each step rewrites the line, then erases what is left of it
    assert lines[1:] == [f"step {s}/3: lr 0.00{s}, loss 2.0000\x1b[K" for s in (1, 2)] + [
        "step 3/3: lr 0.003, loss 2.0000\x1b[K\n"
    ]

    now = [0.0]
    log = io.StringIO()
    report = StepReport(log, clock=lambda: now[0])
    for step in range(1, 1001):
        now[0] = step * 0.001 if step < 500 else 0.5 + (step - 500) * 1.0  # slow after step 500
        report(step, 1000, 1e-3, 2.0)
    steps = [int(line.split()[1].split("/")[0]) for line in log.getvalue().splitlines()]
    assert steps[:5] == [100, 200, 300, 400, 500]  # a tenth of the steps at a time
    assert 510 in steps  # then every LOG_SECONDS when steps are slow
    assert steps[-1] == 1000


def test_the_plots_loss_axis_stops_a_little_above_the_start_and_says_the_tail_is_clipped() -> None:
    x = np.linspace(0, 1, 60)
    falling = 2.3 - 0.8 * np.sin(np.pi * x / 1.6)  # 2.3 down to about 1.5
    losses = np.concatenate([falling, [3.0, 8.0, 37.9]])  # then the loss diverges
    axis = loss_axis(losses.tolist(), losses.tolist())
    assert axis.clipped
    assert axis.low <= losses.min() and 2.3 < axis.high < 3.0  # the fall fills the plot
    lrs = tuple(lr_schedule(1e-5, 10.0, len(losses)))
    result = SimpleNamespace(lrs=lrs, losses=tuple(losses), smoothed=tuple(losses), suggestion=lrs[30], rule=RULE)
    text = plot_text(result, width=80, height=20)  # type: ignore[arg-type]
    assert "clipped above 2.38" in text and "37.9" not in text and "30.0" not in text

    calm = loss_axis([2.3, 2.0, 1.8, 1.7], [2.3, 2.0, 1.8, 1.7])
    assert not calm.clipped and (calm.low, calm.high) == (1.7, 2.3)
