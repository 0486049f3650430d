"""`data.storage = auto` under a cgroup memory limit: the budget is what the limit leaves, not the
machine's free RAM (on fake cgroup trees made here)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tui_trainer.data import storage

GIB = 1 << 30


def _v1_tree(root: Path, group: str, limit: int, usage: int, inactive_file: int) -> Path:
    folder = root / "memory" / group
    folder.mkdir(parents=True)
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # the root: no limit
    (root / "memory" / "memory.usage_in_bytes").write_text(f"{8 * GIB}\n")
    (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
    (folder / "memory.usage_in_bytes").write_text(f"{usage}\n")
    (folder / "memory.stat").write_text(f"cache 5\ntotal_rss 7\ntotal_inactive_file {inactive_file}\n")
    proc = root / "proc-self-cgroup"
    proc.write_text(f"5:devices:/\n4:memory:/{group}\n1:cpu:/\n0::/\n")
    return proc


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(storage, "CGROUP_ROOT", tmp_path)
    return tmp_path


def test_a_v1_memory_limit_leaves_limit_minus_usage_plus_reclaimable_cache(fake_root: Path) -> None:
    proc = _v1_tree(fake_root, "jobs/train", limit=3 * GIB, usage=2 * GIB, inactive_file=GIB // 2)
    assert storage.cgroup_memory_left(proc) == GIB + GIB // 2


def test_the_tightest_v2_limit_among_the_ancestors_wins(fake_root: Path) -> None:
    outer, inner = fake_root / "unified" / "user", fake_root / "unified" / "user" / "job"
    inner.mkdir(parents=True)
    (outer / "memory.max").write_text(f"{2 * GIB}\n")
    (outer / "memory.current").write_text(f"{GIB}\n")
    (inner / "memory.max").write_text("max\n")  # no limit of its own
    (inner / "memory.current").write_text(f"{GIB}\n")
    (inner / "memory.stat").write_text("anon 1\ninactive_file 0\n")
    proc = fake_root / "proc-self-cgroup"
    proc.write_text("0::/user/job\n")
    assert storage.cgroup_memory_left(proc) == GIB


def test_no_limit_anywhere_gives_none(fake_root: Path) -> None:
    proc = fake_root / "proc-self-cgroup"
    proc.write_text("4:memory:/\n0::/\n")
    (fake_root / "memory").mkdir()
    (fake_root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (fake_root / "memory" / "memory.usage_in_bytes").write_text("100\n")
    assert storage.cgroup_memory_left(proc) is None
    assert storage.cgroup_memory_left(fake_root / "missing") is None


def test_auto_streams_a_set_that_fits_the_machine_but_not_the_cgroup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_machine_ram", lambda: 20 * GIB)
    monkeypatch.setattr(storage, "cgroup_memory_left", lambda: GIB + GIB // 2)
    choice = storage.choose_storage("auto", 4 * GIB, torch.device("cpu"))
    assert choice.mode == "stream"
    assert "1.50 GiB RAM left under this process's cgroup memory limit" in choice.reason
    monkeypatch.setattr(storage, "cgroup_memory_left", lambda: None)
    roomy = storage.choose_storage("auto", 4 * GIB, torch.device("cpu"))
    assert roomy.mode == "device" and "20.00 GiB RAM available" in roomy.reason
