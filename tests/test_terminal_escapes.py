"""File and class names holding terminal escapes (ESC, CSI, OSC, C1, bidi overrides) are shown, never obeyed.

Linux allows every byte but "/" and NUL in a name, so an image folder from the internet can carry
`\\x1b]0;title\\x07` (retitles the terminal) or `\\x1b[2J` (clears it). Whatever the tool prints or
draws quotes such names through `printable`: these tests make real files with such names and look
for a raw control character in stdout, stderr, the files a user opens, and the rendered console.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import tiny_preset
from tui_trainer.cli import main
from tui_trainer.runs.evaluate import evaluate_run
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.misclassified import misclassified_csv
from tui_trainer.text import printable
from tui_trainer.tui.app import TrainerApp
from tui_trainer.tui.confusion.gallery import SampleGallery

CLASSES = ("cat\x1b]0;PWNED\x07", "dog\x1b[2J\u202e")
FILE = "img{}\x1b[31m\x9b.png"
RAW = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""A control character a terminal would act on (newlines and tabs are the output's own)."""


def raw_controls(text: str) -> list[str]:
    return RAW.findall(text)


def write_images(folder: Path, count: int, offset: int = 0) -> None:
    for c, cls in enumerate(CLASSES):
        for i in range(count):
            rng = np.random.default_rng(100 * c + i + offset)
            colour = np.array([200, 40, 40] if c else [40, 40, 200])
            pixels = np.clip(colour + rng.integers(-50, 50, (16, 16, 3)), 0, 255).astype(np.uint8)
            (folder / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / cls / FILE.format(i))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run folder, dataset root) of a tiny run on classes and files whose names hold escapes."""
    root = tmp_path_factory.mktemp("escapes") / "ds"
    write_images(root / "train", 6)
    write_images(root / "val", 3, offset=50)
    preset = tiny_preset(
        'data.dataset="imagefolder"',
        f'data.root="{root}"',
        "data.cache=false",
        "data.batch_size=4",
        'name="evil\\u001b]0;PWNED\\u0007"',
    )
    outcome = run_training(preset, runs_dir=root.parent / "runs")
    assert outcome.exit_code == 0, outcome.error
    return outcome.run_dir, root


def test_predict_never_prints_a_raw_escape_and_its_csv_records_every_name(trained, tmp_path: Path, capsys) -> None:
    run_dir, root = trained
    (tmp_path / "notes\x1b[2J.txt").write_text("not an image")
    missing = tmp_path / "gone\x1b]0;x\x07.png"
    code = main(["--predict", str(run_dir), str(root / "val"), str(tmp_path), str(missing)])
    out, err = capsys.readouterr()
    assert code == 1  # the text file and the missing path
    assert raw_controls(out) == [] and raw_controls(err) == []
    assert "notes\\x1b[2J.txt" in err and "gone\\x1b]0;x\\x07.png" in err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 2 * 3
    files = sorted(root.glob("val/*/*.png"))
    assert sorted(row["path"] for row in rows) == sorted(printable(f) for f in files)  # one row per file, named
    assert {row["prediction"] for row in rows} <= {printable(c) for c in CLASSES}


def test_eval_prints_class_names_and_errors_escaped(trained, tmp_path: Path, capsys) -> None:
    run_dir, root = trained
    assert main(["--eval", str(run_dir), "--data", str(root / "val")]) == 0
    out, err = capsys.readouterr()
    assert raw_controls(out + err) == []
    assert printable(CLASSES[0]) in out

    write_images(tmp_path / "other", 1)
    (tmp_path / "other" / "bird\x1b]0;x\x07").mkdir()
    Image.new("RGB", (16, 16)).save(tmp_path / "other" / "bird\x1b]0;x\x07" / "b.png")
    assert main(["--eval", str(run_dir), "--data", str(tmp_path / "other")]) == 2
    out, err = capsys.readouterr()
    assert "bird\\x1b]0;x\\x07" in err and raw_controls(out + err) == []


def test_check_names_a_preset_file_and_its_data_escaped(tmp_path: Path, capsys) -> None:
    preset = tmp_path / "p\x1b[2J.toml"
    preset.write_text('name = "x"\n[data]\ndataset = "imagefolder"\nroot = "/nonexistent/\\u001b[2J"\n')
    assert main(["--check", str(preset)]) == 2
    out, err = capsys.readouterr()
    assert "p\\x1b[2J.toml" in err and raw_controls(out + err) == []


def test_misclassified_csv_and_bad_images_list_hold_no_raw_escape() -> None:
    from tui_trainer.data.bad_images import bad_images_report

    text, rows = misclassified_csv(
        np.array([0, 1]), np.array([1, 0]), np.ones(2), np.ones(2), CLASSES, [FILE.format(0), FILE.format(1)]
    )
    assert rows == 2 and raw_controls(text) == []
    assert printable(FILE.format(1)) in text and printable(CLASSES[1]) in text
    report = bad_images_report([(FILE.format(0), "bad\x1b[2J"), ("a\nb.png", "empty")])
    assert raw_controls(report) == [] and len(report.splitlines()) == 2  # one line per file


def test_the_console_draws_escaped_names_in_the_run_screen_matrix_and_gallery(trained) -> None:
    run_dir, root = trained
    evaluation = evaluate_run(run_dir, data=root / "val")

    async def run() -> None:
        app = TrainerApp(path=run_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            screens = [app.export_screenshot()]  # the run's screen: preset name, folder
            app.notify(f"saved in {root / 'val' / CLASSES[0]}")
            app.open_evaluation(evaluation.folder.path)
            await pilot.pause()
            screens.append(app.export_screenshot())  # the matrix: class names
            await pilot.press("enter")
            await pilot.pause()
            gallery = app.screen.query_one(SampleGallery)
            assert gallery.paths is not None and len(gallery.samples)
            captions = [line for position in range(len(gallery.samples)) for line in gallery.caption(position)]
            screens += [app.export_screenshot(), "\n".join(captions)]  # tiles' captions, the full path line
            for n, text in enumerate(screens):
                i = text.find("\x1b")
                assert raw_controls(text) == [], (n, text[max(0, i - 300) : i + 100])
            assert any("\\x1b[31m\\x9b.png" in caption for caption in captions)

    asyncio.run(run())


@pytest.mark.parametrize("command", ["--find-lr", "--sweep"])
def test_find_lr_and_sweep_errors_name_a_hostile_file_without_its_escapes(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "preset\x1b]0;PWNED\x07\x1b[2J.toml"
    bad.write_text('name = "x"\n[optimizer]\nlr = -1\n')
    code = main([command, str(bad)])
    captured = capsys.readouterr()
    assert code == 2
    assert "preset\\x1b]0;PWNED\\x07" in captured.err  # the name is shown, escaped
    assert raw_controls(captured.out + captured.err) == []
