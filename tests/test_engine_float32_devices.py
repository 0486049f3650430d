"""The loops on a device without float64 (Apple's MPS): no float64 tensor is ever made, and the
figures match the float64 path. The device is faked: a torch function mode refuses float64 as MPS does."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from tui_trainer.engine import loops
from tui_trainer.engine.device import numerics_for

CPU = numerics_for(torch.device("cpu"), "fp32", channels_last=False)


class NoFloat64(TorchFunctionMode):
    """Fails any torch call that makes or returns a float64 tensor, as an MPS device would."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("dtype") is torch.float64 or func in (torch.Tensor.double,):
            raise TypeError(f"{func}: the device has no float64")
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor) and out.dtype is torch.float64:
            raise TypeError(f"{func}: the device has no float64")
        return out


def _data(n: int = 6, size: int = 8):
    g = torch.Generator().manual_seed(3)
    return [(torch.randn(size, 3, 4, 4, generator=g), torch.randint(0, 5, (size,), generator=g)) for _ in range(n)]


def _epoch(model: nn.Module, batches) -> tuple[loops.EpochStats, loops.ValidationResult]:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    stats = loops.train_epoch(
        model,
        batches,
        len(batches),
        nn.CrossEntropyLoss(),
        optimizer,
        CPU,
        on_progress=lambda *a: None,
        progress_interval=0.0,
    )
    result = loops.validate(model, batches, nn.CrossEntropyLoss(reduction="none"), CPU, num_classes=5)
    return stats, result


def test_mps_sums_in_float32() -> None:
    assert loops.accumulator_dtype(torch.device("mps")) is torch.float32
    assert loops.accumulator_dtype(torch.device("cpu")) is torch.float64


def test_an_epoch_runs_without_float64_and_matches_the_float64_path(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    reference_model = nn.Sequential(nn.Flatten(), nn.Linear(48, 5))
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 5))
    model.load_state_dict(reference_model.state_dict())
    batches = _data()
    reference = _epoch(reference_model, batches)

    monkeypatch.setattr(loops, "accumulator_dtype", lambda device: torch.float32)  # what MPS gets
    with NoFloat64():
        stats, result = _epoch(model, batches)
    assert stats.loss == pytest.approx(reference[0].loss, rel=1e-5)
    assert stats.accuracy == reference[0].accuracy
    assert result.loss == pytest.approx(reference[1].loss, rel=1e-5)
