"""--eval and --export where they cannot write, and a run whose model.target does not import.

Each ends in one error line naming the path and an exit code a script can act on (1: the run
folder or the disk; 2: what the user gave), never a traceback, an abort, or a temporary file left.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import tiny_preset
from tui_trainer import atomic
from tui_trainer.cli import main
from tui_trainer.runs.launch import run_training


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    outcome = run_training(tiny_preset(), runs_dir=tmp_path_factory.mktemp("runs"))
    assert outcome.exit_code == 0, outcome.error
    return outcome.run_dir


class _NoSpace:
    """Files whose name starts with `prefix` are written to /dev/full, which fails every write with ENOSPC."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.real, self.hits = prefix, atomic._open_fd, 0

    def __call__(self, fd: int, mode: str):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(self.prefix):
            self.hits += 1
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, fd)
            os.close(full)
        return self.real(fd, mode)


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="Linux's /dev/full stands in a full disk")
@pytest.mark.parametrize("fmt", ["torchscript", "safetensors"])
def test_export_on_a_full_disk_is_one_error_line_and_leaves_no_file(
    finished_run, tmp_path: Path, monkeypatch, capsys, fmt: str
) -> None:
    out = tmp_path / f"model.{fmt}"
    full = _NoSpace(f"..{out.name}.")  # atomic's temporary of the export's temporary file
    monkeypatch.setattr(atomic, "_open_fd", full)
    assert main(["--export", str(finished_run), "--format", fmt, "--out", str(out)]) == 1
    assert full.hits == 1
    assert one_error_line(capsys.readouterr().err) == f"error: no space left on {out}"
    assert list(tmp_path.iterdir()) == []  # no export, no sidecar, no `.model.<fmt>.<pid>.tmp`


def test_torchscript_is_never_written_by_torchs_own_file_writer(finished_run, tmp_path: Path, monkeypatch) -> None:
    """torch.jit.save(path) aborts the whole process (exit 134) when the disk fills; a file object raises."""
    import torch

    real_save, targets = torch.jit.save, []

    def spy(module, f, *args, **kwargs):
        targets.append(f)
        return real_save(module, f, *args, **kwargs)

    monkeypatch.setattr(torch.jit, "save", spy)
    assert main(["--export", str(finished_run), "--format", "torchscript", "--out", str(tmp_path / "m.pt")]) == 0
    assert targets and not any(isinstance(f, (str, os.PathLike)) for f in targets)


def test_export_to_an_out_that_cannot_be_a_file_is_a_usage_error(finished_run, tmp_path: Path, capsys) -> None:
    (tmp_path / "afile").write_text("")
    out = tmp_path / "afile" / "model.safetensors"
    assert main(["--export", str(finished_run), "--format", "safetensors", "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: cannot write {out}: {tmp_path / 'afile'}")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_eval_and_export_of_a_read_only_run_folder_are_one_error_line(finished_run, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    os.chmod(run_dir, 0o555)
    try:
        assert main(["--eval", str(run_dir)]) == 1
        assert one_error_line(capsys.readouterr().err).startswith(f"error: cannot write {run_dir / 'evals'}")
        assert main(["--export", str(run_dir), "--format", "safetensors"]) == 1
        assert str(run_dir / "export") in one_error_line(capsys.readouterr().err)
    finally:
        os.chmod(run_dir, 0o755)


def test_eval_that_cannot_write_its_folder_is_one_error_line(finished_run, tmp_path: Path, monkeypatch, capsys) -> None:
    """What a read-only run folder does for any user, root included: the evaluation folder cannot be made."""
    from tui_trainer.runs import eval_folder

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)

    def read_only(*args, **kwargs):
        raise PermissionError(errno.EROFS, "Read-only file system", str(run_dir / "evals"))

    monkeypatch.setattr(eval_folder.Path, "mkdir", read_only)
    assert main(["--eval", str(run_dir)]) == 1
    assert one_error_line(capsys.readouterr().err) == f"error: cannot write {run_dir / 'evals'}: Read-only file system"


def test_a_second_export_to_the_default_path_says_it_replaced_the_first(finished_run, tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    assert main(["--export", str(run_dir), "--format", "safetensors"]) == 0
    assert "replacing" not in capsys.readouterr().out
    assert main(["--export", str(run_dir), "--format", "safetensors"]) == 0
    assert "replacing the previous export" in capsys.readouterr().out
    out = tmp_path / "mine.safetensors"
    out.write_bytes(b"keep")
    assert main(["--export", str(run_dir), "--format", "safetensors", "--out", str(out)]) == 2
    assert out.read_bytes() == b"keep"  # an --out file is never replaced


@pytest.mark.parametrize("mode", ["--eval", "--predict", "--export"])
def test_a_model_target_that_does_not_import_is_one_error_line(finished_run, tmp_path, capsys, mode: str) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    preset = run_dir / "preset.toml"
    text = preset.read_text()
    assert 'target = ""' in text
    preset.write_text(text.replace('target = ""', 'target = "no_such_module_here:factory"', 1))
    args = [mode, str(run_dir)] + ([str(tmp_path)] if mode == "--predict" else [])
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(preset) in line and "no_such_module_here" in line
