"""The hostile-input loop (benchmarks/hostile_inputs.py) runs and reports: one cheap item, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from .helpers import REPO


@pytest.mark.slow
def test_hostile_inputs_quick_item_prints_its_table_and_json() -> None:
    script = REPO / "benchmarks" / "hostile_inputs.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--only", "5"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(summary["items"]) == {"5"}
    row = summary["items"]["5"]
    assert row["trials"] == 1 and row["failures"] in (0, 1)
    assert "symlinked .lock" in done.stdout
