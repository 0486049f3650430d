"""Weight EMA: the average itself, its checkpoint entries, and that validation uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tests.helpers import tiny_preset
from tui_trainer.engine.ema import WeightEMA, checkpoint_weights, restore_weights
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.launch import run_training


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))


def _train_step(model: nn.Module, optimizer: torch.optim.Optimizer, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 4, generator=g)
    model.train()
    optimizer.zero_grad()
    model(x).pow(2).mean().backward()
    optimizer.step()


def test_ema_equals_a_hand_computed_average_and_copies_batchnorm_buffers() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    decay, every = 0.2, 2  # low enough that the warm-up reaches it by the third update
    ema = WeightEMA(model, decay, every)
    expected = [p.detach().clone() for p in model.parameters()]
    for step in range(1, 8):
        _train_step(model, optimizer, step)
        ema.step(model)
        if step % every == 0:
            n = step // every - 1  # updates before this one
            d = min(decay, (1 + n) / (10 + n))  # the warm-up: 0.1, 0.18, 0.25, ... until it reaches decay
            expected = [d * e + (1 - d) * p.detach() for e, p in zip(expected, model.parameters(), strict=True)]
    assert ema.updates == 3 and ema.steps == 7
    for averaged, want in zip(ema.module.parameters(), expected, strict=True):
        torch.testing.assert_close(averaged, want)
    # The average is not the trained weights, but the BatchNorm statistics are those of the last update (step 6).
    assert not torch.equal(ema.module[0].weight, model[0].weight)
    snapshot = _model()
    snapshot.load_state_dict(model.state_dict())
    _train_step(model, optimizer, 8)
    ema.step(model)  # step 8: an update, copying the running statistics as they are now
    torch.testing.assert_close(ema.module[1].running_mean, model[1].running_mean)
    assert ema.module[1].num_batches_tracked == model[1].num_batches_tracked


def test_checkpoint_entries_round_trip_the_trained_weights_and_the_average() -> None:
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    ema = WeightEMA(model, 0.5)
    for step in range(3):
        _train_step(model, optimizer, step)
        ema.step(model)
    entries = checkpoint_weights(model, ema)
    assert entries["weights"] == "ema"
    torch.testing.assert_close(entries["model"]["0.weight"], ema.module[0].weight)  # "model" = validated weights
    model2 = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ema2 = WeightEMA(model2, 0.5)
    restore_weights(entries, model2, ema2)
    assert ema2.steps == 3 and ema2.updates == 3
    for a, b in zip(model2.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(ema2.module.state_dict().values(), ema.module.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert checkpoint_weights(model, None)["weights"] == "train"


def test_bad_ema_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        WeightEMA(_model(), 1.0)
    with pytest.raises(ValueError):
        WeightEMA(_model(), 0.9, every=0)


def test_a_run_with_ema_validates_and_checkpoints_the_average(tmp_path: Path) -> None:
    preset = tiny_preset("train.ema_decay=0.9", "train.ema_every=2")
    outcome = run_training(preset, runs_dir=tmp_path)
    assert outcome.state == "finished"
    records = RunFolder(outcome.run_dir).read_metrics()
    assert all(r["val_weights"] == "ema" for r in records)
    checkpoint = torch.load(outcome.run_dir / "last.pt", weights_only=True)
    assert checkpoint["weights"] == "ema" and checkpoint["ema"]["updates"] > 0
    assert any(
        not torch.equal(checkpoint["model"][k], checkpoint["train_model"][k])
        for k in checkpoint["model"]
        if checkpoint["model"][k].is_floating_point()
    )
    plain = run_training(tiny_preset(), runs_dir=tmp_path / "plain")
    assert all(r["val_weights"] == "train" for r in RunFolder(plain.run_dir).read_metrics())
    # Different weights validated: the EMA run's val loss differs from the run without it.
    assert records[-1]["val_loss"] != RunFolder(plain.run_dir).read_metrics()[-1]["val_loss"]
