"""Image folders with broken files: every bad file listed at once (error), or left out and
listed in the run folder (skip); `--check` finds them too."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import SMOKE, TINY
from tui_trainer.cli.check import run_check
from tui_trainer.config import load_preset
from tui_trainer.data import DataError, load_data
from tui_trainer.engine.events import SetupProgress
from tui_trainer.runs.launch import run_training


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 60).convert("RGB").save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def broken_folder(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "ds"
    for c, cls in enumerate(("cat", "dog")):
        for split, count in (("train", 8), ("val", 3)):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                (folder / f"{i}.png").write_bytes(_png((c * 200, i * 20, 50)))
    empty = root / "train" / "cat" / "empty.png"
    empty.write_bytes(b"")
    cut_png = root / "train" / "dog" / "cut.png"
    cut_png.write_bytes(_png((1, 2, 3))[:40])
    cut_jpeg = root / "val" / "dog" / "cut.jpg"
    cut_jpeg.write_bytes(_jpeg((9, 9, 9))[:300])
    return root, [empty, cut_png, cut_jpeg]


def _cfg(root: Path, mode: str):
    return load_preset(SMOKE, (*TINY, 'data.dataset="imagefolder"', f'data.root="{root}"', f'data.bad_images="{mode}"'))


def test_error_lists_every_bad_file_with_its_reason_in_one_message(broken_folder) -> None:
    root, bad = broken_folder
    with pytest.raises(DataError) as info:
        load_data(_cfg(root, "error").data)
    message = str(info.value)
    train_bad = [p for p in bad if "train" in p.parts]
    assert all(str(p) in message for p in train_bad)  # train fails first: both of its bad files, at once
    assert "empty file (0 bytes)" in message and 'data.bad_images = "skip"' in message


def test_check_scans_the_files_and_exits_2(broken_folder, tmp_path: Path, capsys) -> None:
    root, bad = broken_folder
    preset = tmp_path / "p.toml"
    preset.write_text(f'name = "b"\n[data]\ndataset = "imagefolder"\nroot = "{root}"\n')
    assert run_check(preset, []) == 2
    err = capsys.readouterr().err
    assert str(bad[0]) in err and str(bad[1]) in err


def test_check_decodes_every_image_so_a_truncated_jpeg_is_named_too(broken_folder, tmp_path: Path, capsys) -> None:
    root, bad = broken_folder
    preset = tmp_path / "p.toml"
    preset.write_text(f'name = "b"\n[data]\ndataset = "imagefolder"\nroot = "{root}"\n')
    assert run_check(preset, list(TINY)) == 2
    err = capsys.readouterr().err
    assert all(str(p) in err for p in bad), err  # the cut JPEG passes Pillow's verify(): only decoding finds it
    assert "as long as a run's first decode takes" in err


@pytest.mark.slow
def test_the_run_after_check_reads_the_images_check_decoded(tmp_path: Path, capsys) -> None:
    root = tmp_path / "ds"
    for c, cls in enumerate(("cat", "dog")):
        (root / "train" / cls).mkdir(parents=True)
        for i in range(6):
            (root / "train" / cls / f"{i}.png").write_bytes(_png((c * 200, i * 20, 50)))
    preset = tmp_path / "p.toml"
    preset.write_text(f'name = "b"\n[data]\ndataset = "imagefolder"\nroot = "{root}"\n')
    assert run_check(preset, list(TINY)) == 0
    assert "decode train" in capsys.readouterr().err
    events = []
    outcome = run_training(load_preset(preset, TINY), runs_dir=tmp_path / "runs", listeners=[events.append])
    assert outcome.exit_code == 0, outcome.error
    stages = {e.stage for e in events if isinstance(e, SetupProgress)}
    assert {"cache train", "cache val"} <= stages and not any(s.startswith("decode") for s in stages)


def test_skip_trains_without_them_warns_and_lists_them_in_the_run_folder(broken_folder, tmp_path: Path) -> None:
    root, bad = broken_folder
    events = []
    outcome = run_training(_cfg(root, "skip"), runs_dir=tmp_path / "runs", listeners=[events.append])
    assert outcome.exit_code == 0, outcome.error
    listed = (outcome.run_dir / "bad_images.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(str(p) for p in bad)
    warnings = [e.stage for e in events if isinstance(e, SetupProgress) and e.stage.startswith("warning")]
    assert warnings and "skipped 3 image files" in warnings[0]
