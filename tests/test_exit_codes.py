"""Exit codes are one `ExitCode`, so scripts and SLURM see the same number for the same ending everywhere."""

from __future__ import annotations

import re
from pathlib import Path

from tui_trainer.runs.outcome import ExitCode

PACKAGE = Path(__file__).resolve().parents[1] / "tui_trainer"
BARE = re.compile(r"^\s*(return|exit_code\s*=)\s*(1|2|130)\s*(#.*)?$|^\s*EXIT_\w+\s*(,\s*EXIT_\w+\s*)*=\s*\d", re.M)


def test_exit_codes_are_what_scripts_expect() -> None:
    assert (ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE, ExitCode.INTERRUPTED) == (0, 1, 2, 130)


def test_no_command_module_defines_or_returns_a_bare_exit_code() -> None:
    """A second table of exit codes (or a bare `return 2`) is how one front end drifted from the other."""
    found = [
        f"{path.relative_to(PACKAGE)}: {match.group(0).strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for match in BARE.finditer(path.read_text())
        if path.parent.name in ("tui_trainer", "cli", "tui") or path.name in ("launch.py", "sweep.py")
    ]
    assert found == []
