"""Checkpoints: everything needed to continue a run, saved atomically and loaded without pickle.

Loading uses `weights_only=True`, so a checkpoint can only contain tensors and plain containers
and can never execute code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..atomic import atomic_write_with

FORMAT = 1


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under torch.compile and DistributedDataParallel wrappers."""
    while True:
        if isinstance(inner := getattr(model, "_orig_mod", None), nn.Module):
            model = inner  # torch.compile
        elif isinstance(inner := getattr(model, "module", None), nn.Module):
            model = inner  # DistributedDataParallel
        else:
            return model


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, **payload: Any) -> None:
    """Write a checkpoint atomically: a kill mid-write leaves the previous file intact."""
    payload = {"format": FORMAT, **payload}
    atomic_write_with(path, lambda handle: torch.save(payload, handle))


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: truncated, empty, not a checkpoint, or unsafe."""


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without executing anything from it; a damaged file raises CheckpointError naming it."""
    try:
        size = Path(path).stat().st_size
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    if size == 0:
        raise CheckpointError(f"{path}: damaged checkpoint (the file is empty)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, KeyError, IndexError, TypeError) as exc:
        # Truncated or random bytes come as EOFError, "PytorchStreamReader failed ..." or OSError(EINVAL);
        # a file that would run code is refused by weights_only as an UnpicklingError (a RuntimeError here).
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: damaged checkpoint, cannot be loaded ({first[:200]})") from None
    except Exception as exc:  # noqa: BLE001 - pickle.UnpicklingError and friends: any failure is the file's
        raise CheckpointError(f"{path}: damaged checkpoint, cannot be loaded ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: damaged checkpoint: not a tui-trainer checkpoint of format {FORMAT}")
    return payload


def _peek(path: str | Path) -> dict[str, Any]:
    """The checkpoint's top-level record, mapped rather than read; {} when it cannot be loaded
    (load_checkpoint reports that, with the file's name)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - any damage is reported where the file is loaded for use
        return {}
    return payload if isinstance(payload, dict) else {}


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def saved_world_size(path: str | Path) -> int | None:
    """How many processes trained the checkpoint at `path`; None when it does not say (made before
    the count was recorded) or cannot be read."""
    return _whole(_peek(path).get("world_size"))


def saved_epoch(path: str | Path) -> int | None:
    """The epoch whose end the checkpoint at `path` holds (None when unreadable or saved inside an epoch)."""
    payload = _peek(path)
    return None if "position" in payload else _whole(payload.get("epoch"))
