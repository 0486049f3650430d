"""The health figures: measured by the loop, carried by BatchProgress, written to progress.json,
read back by followers and printed once per epoch by the headless CLI."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.helpers import SMOKE, TINY, tiny_preset
from tui_trainer.cli.train import run_headless
from tui_trainer.engine.device import numerics_for
from tui_trainer.engine.events import BatchProgress
from tui_trainer.engine.health import INPUT_BOUND_FRACTION, EpochHealth, Health, format_health
from tui_trainer.engine.health_probe import SystemProbe, grad_norm
from tui_trainer.engine.loops import train_epoch
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.follow import read_events
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.records import DamagedRecord


def _batches(n: int, delay: float = 0.0, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(n):
        if delay:
            time.sleep(delay)  # an artificially slow data step (a starved loader)
        yield torch.randn(8, 4, generator=generator), torch.randint(0, 3, (8,), generator=generator)


def _epoch(batches, num_batches: int, *, grad_norm_every: int = 0, model: nn.Module | None = None):
    torch.manual_seed(0)
    model = model or nn.Linear(4, 3)
    reports: list[tuple[float, float, float | None]] = []
    train_epoch(
        model,
        batches,
        num_batches,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1),
        numerics_for(torch.device("cpu"), "fp32", False),
        on_progress=lambda *args: None,
        on_health=lambda *figures: reports.append(figures),
        grad_norm_every=grad_norm_every,
        progress_interval=0.0,  # a report after every batch
    )
    return reports


def test_a_slow_batch_source_is_reported_input_bound() -> None:
    reports = _epoch(_batches(4, delay=0.05), 4)
    assert len(reports) == 4
    data, step, _ = reports[-1]
    health = Health(data_seconds=data, step_seconds=step)
    assert 0 < data <= step
    assert health.input_bound
    assert any(line.startswith("warning: input-bound") for line in format_health(health))


def test_the_input_bound_line_appears_only_over_a_tenth_of_the_step() -> None:
    under = Health(data_seconds=INPUT_BOUND_FRACTION * 0.9, step_seconds=1.0)
    over = Health(data_seconds=INPUT_BOUND_FRACTION * 1.1, step_seconds=1.0)
    assert not under.input_bound and not any("input-bound" in line for line in format_health(under))
    assert over.input_bound and "input-bound" in format_health(over)[-1]


def test_the_gradient_norm_is_that_of_the_measured_step_and_only_when_asked() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    images, labels = next(_batches(1))
    reference = nn.Linear(4, 3)
    reference.load_state_dict(model.state_dict())
    nn.CrossEntropyLoss()(reference(images), labels).backward()
    expected = torch.cat([p.grad.flatten() for p in reference.parameters()]).norm().item()

    measured = _epoch(_batches(1), 1, grad_norm_every=1, model=model)
    assert measured[-1][2] == pytest.approx(expected, rel=1e-5)
    assert grad_norm(reference.parameters()).item() == pytest.approx(expected, rel=1e-5)
    assert all(norm is None for _, _, norm in _epoch(_batches(3), 3, grad_norm_every=0))


def test_system_figures_on_the_cpu_have_memory_and_no_gpu() -> None:
    figures = SystemProbe(torch.device("cpu")).sample()
    assert figures["rss_bytes"] > 0
    assert "device_memory_used" not in figures and "gpu_utilization" not in figures


def test_an_epochs_health_weights_each_report_by_the_batches_it_covers() -> None:
    epoch = EpochHealth()
    epoch.add(Health(data_seconds=0.0, step_seconds=1.0, rss_bytes=1), batch=3)
    epoch.add(Health(data_seconds=1.0, step_seconds=1.0, rss_bytes=2), batch=4)
    health = epoch.take()
    assert health is not None
    assert health.data_seconds == pytest.approx(0.25) and health.rss_bytes == 2
    assert epoch.take() is None


def test_health_reaches_events_progress_json_and_a_follower(tmp_path: Path) -> None:
    events: list[BatchProgress] = []
    listener = lambda event: events.append(event) if isinstance(event, BatchProgress) else None  # noqa: E731
    outcome = run_training(tiny_preset(), runs_dir=tmp_path, listeners=[listener])
    assert outcome.exit_code == 0
    assert events and all(event.health is not None for event in events)
    assert all(event.health.step_seconds > 0 and event.health.rss_bytes > 0 for event in events)
    assert any(event.health.grad_norm is not None for event in events)

    record = RunFolder(outcome.run_dir).read_progress()
    assert record is not None and record["step_seconds"] > 0 and record["rss_bytes"] > 0
    assert record["gpu_utilization"] is None  # no GPU here: said, not guessed

    followed = [e for e in read_events(outcome.run_dir) if isinstance(e, BatchProgress)]
    assert followed and followed[-1].health == Health.from_record(record)
    assert followed[-1].health.rss_bytes == record["rss_bytes"]


def test_a_damaged_health_figure_in_progress_json_is_named(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    record = {"epoch": 1, "batch": 1, "batches": 2, "step_seconds": 0.1, "rss_bytes": "lots"}
    folder.progress_file.write_text(json.dumps(record))
    with pytest.raises(DamagedRecord, match="rss_bytes"):
        folder.read_progress()


def test_headless_prints_the_health_once_per_epoch(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_headless(SMOKE, list(TINY), tmp_path / "runs", out=out, err=io.StringIO())
    assert code == 0
    lines = out.getvalue().splitlines()
    timing = [line for line in lines if line.startswith("  health: step ")]
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2 and len(timing) == 2
    assert lines.index(timing[0]) == lines.index(epochs[0]) + 1
    assert any(line.startswith("  health: CPU ") and "RSS" in line for line in lines)
