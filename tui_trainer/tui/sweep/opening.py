"""Which paths are sweeps, and the sweep screen for one: a sweep folder (with its study) or a sweep file."""

from __future__ import annotations

from pathlib import Path

from ...config.sweep_file import is_sweep_file
from ...runs.sweep_study import SweepFolder, list_sweeps
from .screen import SweepScreen


def is_sweep_path(path: Path) -> bool:
    return (path.is_dir() and SweepFolder(path).exists()) or is_sweep_file(path)


def sweep_screen_for(path: Path, sweeps_dir: Path, trust_code: bool = False) -> SweepScreen:
    """The screen of a sweep folder, or of the folder a sweep file runs in; ValueError when unusable.

    `trust_code` (--trust-code): `g` on a received sweep with a `model.target` does not ask first."""
    if path.is_dir():
        if not SweepFolder(path).exists():
            raise ValueError(
                f"{path}: no study (study.db, study.journal or a database in sweep.toml), so not a sweep folder"
            )
        return SweepScreen(path, sweeps_dir=path.parent, trust_code=trust_code)
    from ...config import PresetError
    from ...config.sweep_file import load_sweep

    try:
        spec = load_sweep(path)
    except PresetError as exc:
        raise ValueError(str(exc)) from None
    return SweepScreen(
        SweepFolder.for_spec(sweeps_dir, spec).path, sweeps_dir=sweeps_dir, sweep_file=path, trust_code=trust_code
    )


def default_sweep_path(sweeps_dir: Path) -> Path:
    """What the open prompt suggests: the newest sweep folder, else the example sweep."""
    found = list_sweeps(sweeps_dir)
    return found[0].path if found else Path("presets/smoke-sweep.toml")
