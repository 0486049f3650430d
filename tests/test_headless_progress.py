"""Headless output that is not a terminal (log.txt, cluster logs): a plain progress line every N seconds."""

from __future__ import annotations

import io
import signal

from tui_trainer.cli.parser import parse_args
from tui_trainer.cli.train import PlainPrinter
from tui_trainer.engine.events import BatchProgress, RunStarted


def started(epochs: int = 3) -> RunStarted:
    return RunStarted("runs/x", "smoke", epochs, 1, 10, 640, 64, ("a", "b"), "cpu", "fp32")


def batch(number: int, seconds: float) -> BatchProgress:
    return BatchProgress(1, number, 10, 1.25, 0.5, 128.0, 0.01, seconds)


def test_a_progress_line_every_log_every_seconds_between_epoch_lines() -> None:
    now = [0.0]
    out = io.StringIO()
    printer = PlainPrinter(out, log_every=30, clock=lambda: now[0])
    printer(started())
    header = out.getvalue()
    for number, at in ((1, 0.0), (2, 10.0), (3, 31.0), (4, 40.0), (5, 62.0), (10, 100.0)):
        now[0] = at
        printer(batch(number, seconds=at + 10))
    lines = out.getvalue()[len(header) :].splitlines()
    assert len(lines) == 2  # at 31 s and at 62 s; the last batch is left to the epoch line
    assert lines[0].startswith("epoch 1/3  batch 3/10  loss 1.2500 acc 50.00%  128 img/s  epoch ETA ")
    assert lines[0].endswith("ETA 1:36")  # 41 s for 3 batches: 7 more take about 96 s
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def test_log_every_zero_prints_no_progress_and_the_flag_reaches_the_printer() -> None:
    now = [0.0]
    out = io.StringIO()
    printer = PlainPrinter(out, log_every=0, clock=lambda: now[0])
    printer(started())
    for number in range(1, 10):
        now[0] = number * 100.0
        printer(batch(number, seconds=now[0]))
    assert "batch" not in out.getvalue()
    assert parse_args(["--headless", "p.toml", "--log-every", "5"]).log_every == 5.0
    assert parse_args(["--headless", "p.toml"]).log_every == 30.0


def test_the_summary_line_says_1_epoch_not_1_epochs() -> None:
    from tui_trainer.engine.events import RunFinished

    out = io.StringIO()
    PlainPrinter(out)(
        RunFinished(run_dir="", state="interrupted", epochs_done=1, best_val_acc=None, best_epoch=None, seconds=2.0)
    )
    assert out.getvalue().startswith("interrupted after 1 epoch in 2.0s")


def test_an_absent_device_is_reported_once(tmp_path) -> None:
    from tests.helpers import SMOKE, TINY
    from tui_trainer.cli.train import run_headless

    out, err = io.StringIO(), io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = run_headless(SMOKE, [*TINY, 'train.device="cuda:7"'], tmp_path / "runs", out=out, err=err)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)  # run_headless installs its own
    both = out.getvalue() + err.getvalue()
    assert code == 2 and both.count("error:") == 1 and "error:" in err.getvalue(), both
    assert "hint: set train.device to auto or cpu" in err.getvalue()
