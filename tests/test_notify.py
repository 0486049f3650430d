"""Notifications when a run ends: sent once, and never able to change how the run ends."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer.config import PresetError
from tui_trainer.engine.events import RunFailed, RunFinished
from tui_trainer.runs import notify
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.notify import RunNotifier, outcome_message

FINISHED = RunFinished("runs/x", "finished", 2, 0.75, 2, 12.0)


def test_a_notifier_sends_one_message_saying_how_the_run_ended() -> None:
    sent: list[tuple[str, str]] = []
    notifier = RunNotifier("json://example/hook", sender=lambda title, body: sent.append((title, body)) or True)
    notifier(FINISHED)
    notifier(RunFailed("runs/x", "disk full", ""))
    assert sent == [outcome_message(FINISHED)]
    assert "finished" in sent[0][0] and "75.00%" in sent[0][1]
    assert "stopped" in outcome_message(RunFinished("runs/x", "interrupted", 1, None, None, 3.0))[0]
    assert "disk full" in outcome_message(RunFailed("runs/x", "disk full", ""))[1]


def _raise(title: str, body: str) -> bool:
    raise ConnectionError("server down")


def test_a_failing_notification_is_logged_without_the_token_and_the_run_finishes(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setattr(notify, "apprise_sender", lambda url: _raise)
    preset = tiny_preset("train.notify=json://secret-token@example/hook")
    with caplog.at_level(logging.WARNING, logger="tui_trainer.runs.notify"):
        outcome = run_training(preset, runs_dir=tmp_path)
    assert outcome.exit_code == 0 and outcome.state == "finished"
    warnings = [r.getMessage() for r in caplog.records if r.name == "tui_trainer.runs.notify"]
    assert len(warnings) == 1 and "ConnectionError: server down" in warnings[0]
    assert "secret-token" not in warnings[0]


def test_an_undelivered_apprise_message_is_logged_and_the_run_finishes(tmp_path: Path, caplog) -> None:
    pytest.importorskip("apprise")
    preset = tiny_preset("train.notify=json://127.0.0.1:9/hook")  # the discard port: refused at once
    with caplog.at_level(logging.WARNING, logger="tui_trainer.runs.notify"):
        outcome = run_training(preset, runs_dir=tmp_path)
    assert outcome.exit_code == 0
    assert any("not delivered" in r.getMessage() for r in caplog.records if r.name == "tui_trainer.runs.notify")


def test_without_apprise_one_line_says_what_to_install_and_the_run_goes_on(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # import apprise raises ImportError
    with caplog.at_level(logging.WARNING, logger="tui_trainer.runs.notify"):
        outcome = run_training(tiny_preset("train.notify=ntfy://topic"), runs_dir=tmp_path)
    assert outcome.exit_code == 0
    messages = [r.getMessage() for r in caplog.records if r.name == "tui_trainer.runs.notify"]
    assert len(messages) == 1 and 'pip install "tui-trainer[notify]"' in messages[0]


def test_a_notify_value_that_is_no_url_is_a_preset_error() -> None:
    with pytest.raises(PresetError, match="notify"):
        tiny_preset("train.notify=not a url")
