"""`tui_trainer.text`: what both front ends print (a learning rate, a duration, a set-up line, a sweep cell)
is formatted once, so the console and the command line say a thing the same way."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tui_trainer.cli.train import PlainPrinter, format_epoch, format_progress
from tui_trainer.engine.events import BatchProgress, EpochFinished, Predictions, SetupProgress
from tui_trainer.text import format_duration, format_lr, format_value, printable, setup_text

LR = 9.54321e-4  # a cosine schedule's value mid-run: neither a round number nor tiny


def epoch_event() -> EpochFinished:
    labels = np.array([0, 1, 1, 0])
    predictions = Predictions(labels, labels, np.ones(4, np.float32), np.ones(4, np.float32), ("a", "b"))
    metrics = {
        "epoch": 1,
        "train_loss": 0.5,
        "train_acc": 0.8,
        "val_loss": 0.6,
        "val_acc": 0.75,
        "lr": LR,
        "epoch_seconds": 3.0,
        "train_images_per_second": 900.0,
    }
    return EpochFinished(1, 2, metrics, np.array([[2, 0], [0, 2]]), predictions, True)


def test_the_lr_has_three_significant_digits_as_the_lr_finder_writes_it() -> None:
    assert format_lr(LR) == "0.000954" and format_lr(1e-3) == "0.001" and format_lr(9.54e-5) == "9.54e-05"
    assert format_lr(LR) in format_epoch(epoch_event()).split()


@pytest.mark.parametrize(
    ("seconds", "text"), [(None, ""), (-2.0, "0:00"), (7.4, "0:07"), (245.0, "4:05"), (3723.0, "1:02:03")]
)
def test_a_duration_reads_as_a_clock(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_headless_epoch_eta_is_the_consoles_duration() -> None:
    line = format_progress(BatchProgress(1, 3, 10, 1.0, 0.5, 128.0, 0.1, 41.0), epochs=3)
    assert line.endswith(f"epoch ETA {format_duration(41.0 * 7 / 3)}") and line.endswith("1:36")


def test_every_front_end_imports_the_one_duration_and_lr_formatter() -> None:
    """A second copy of a formatter is how "4m05s" in one front end came to read "4:05" in the other."""
    from tui_trainer.tui.run import training_screen
    from tui_trainer.tui.runs import screen as runs_screen
    from tui_trainer.tui.sweep import screen as sweep_screen

    assert runs_screen.format_duration is training_screen.format_duration is format_duration
    assert training_screen.format_lr is format_lr and sweep_screen.format_value is format_value


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("generate", 0, 2), "generate: 0/2 splits"),
        (("decode val", 0, 5000), "decode val: 0/5,000 images"),
        (("cache val", 1, 1), "cache val: done"),
        (("index", 3, 0), "index"),
        (("shuffle", 2, 4), "shuffle: 2/4 steps"),
        (("decode train", 1200, 50000, 900.0, 54.0), "decode train: 1,200/50,000 images  900 img/s, ETA 0:54"),
        (("decode train", 50000, 50000, 900.0, 0.0), "decode train: 50,000/50,000 images  900 img/s"),
    ],
)
def test_a_set_up_line_names_its_unit_rate_and_eta(args: tuple, text: str) -> None:
    assert setup_text(*args) == text


def test_headless_prints_the_set_up_line_as_it_is_formatted() -> None:
    out = io.StringIO()
    PlainPrinter(out)(SetupProgress(stage="decode val", done=10, total=5000, rate=250.0, eta=3723.0))
    assert out.getvalue().strip() == setup_text("decode val", 10, 5000, 250.0, 3723.0)


@pytest.mark.parametrize(("value", "text"), [(None, "-"), (0.123456, "0.1235"), (3, "3"), ("x", "x")])
def test_a_sweep_cell_has_four_significant_digits(value: object, text: str) -> None:
    assert format_value(value) == text


def test_a_name_from_outside_prints_without_its_control_characters() -> None:
    assert printable("run\x1b[2J\u202egpj.exe") == "run\\x1b[2J\\u202egpj.exe"
    assert printable("a\nb", lines=True) == "a\nb" and printable("a\nb") == "a\\x0ab"
