"""Where it looked: class-activation maps of a trained run's validation images (runs.explain,
`tui-trainer explain`), and the target layer chosen for built-in, timm and torchvision models."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.helpers import tiny_preset
from tui_trainer.cli import main
from tui_trainer.cli.explain import run_explain
from tui_trainer.config import load_preset
from tui_trainer.engine.builders import build_model
from tui_trainer.engine.cam import CamError, CamUnavailable, class_maps, find_target_layer
from tui_trainer.engine.cam_methods import METHODS
from tui_trainer.engine.heatmap import jet, overlay
from tui_trainer.models import MODEL_NAMES
from tui_trainer.runs.explain import explain_sample
from tui_trainer.runs.folder import RunFolder, RunFolderError
from tui_trainer.runs.launch import run_training
from tui_trainer.runs.out_of_fold_file import write_out_of_fold

pytest.importorskip("pytorch_grad_cam", reason="the cam extra (grad-cam) is not installed")

SIDE = 32
PATCH = slice(22, 30)  # the bright square: bottom-right quadrant


def make_patch_task(root: Path) -> Path:
    """Noise images; class "corner" has a bright square in the bottom-right corner, "plain" has none."""
    rng = np.random.default_rng(0)
    for split, count in (("train", 48), ("val", 6)):
        for cls in ("corner", "plain"):
            for i in range(count):
                pixels = rng.integers(0, 120, (SIDE, SIDE, 3), dtype=np.uint8)
                if cls == "corner":
                    pixels[PATCH, PATCH] = 255
                path = root / split / cls / f"{i}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
    return root


@pytest.fixture(scope="module")
def patch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CNN trained (a few seconds) on the patch task; its folder has best.pt and the val file list."""
    tmp = tmp_path_factory.mktemp("patch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUI_TRAINER_CACHE", str(tmp / "cache"))
        preset = tiny_preset(
            "data.dataset=imagefolder",
            f"data.root={make_patch_task(tmp / 'data')}",
            f"data.image_size={SIDE}",
            "model.width=8",
            "train.epochs=4",
            "scheduler.t_max=4",
            "augment.crop=false",
            "augment.hflip=0.0",
            "augment.rotation=0.0",
        )
        outcome = run_training(preset, runs_dir=tmp / "runs")
    assert outcome.state == "finished" and outcome.run_dir is not None
    return Path(outcome.run_dir)


def corner_samples(run_dir: Path) -> list[int]:
    paths = RunFolder(run_dir).read_val_paths()
    assert paths is not None
    return [i for i, path in enumerate(paths) if Path(path).parent.name == "corner"]


def test_the_map_of_the_deciding_class_peaks_in_the_corner_that_decides_it(patch_run: Path) -> None:
    peaks = []
    for sample in corner_samples(patch_run):
        explanation = explain_sample(patch_run, sample)
        assert explanation.classes[explanation.true_class] == "corner"
        assert explanation.maps.shape == (2, SIDE, SIDE) and explanation.image.shape == (SIDE, SIDE, 3)
        if explanation.predicted_class != explanation.true_class:
            continue
        corner_map = explanation.maps[1]
        assert corner_map.max() - corner_map.min() > 0.5  # not constant
        row, column = np.unravel_index(corner_map.argmax(), corner_map.shape)
        peaks.append((row >= SIDE // 2, column >= SIDE // 2))
    assert len(peaks) >= 4  # the model learnt the task
    assert all(peak == (True, True) for peak in peaks), peaks


def test_the_image_is_the_models_input_reread_from_its_file(patch_run: Path) -> None:
    sample = corner_samples(patch_run)[0]
    explanation = explain_sample(patch_run, sample)
    source = np.asarray(Image.open(explanation.source).convert("RGB"))
    assert np.array_equal(explanation.image, source)  # 32 px files, image_size 32: no resize, no crop
    assert explanation.checkpoint == "best" and explanation.layer == "features"


def test_a_training_image_is_explained_from_its_own_file_as_the_out_of_fold_file_numbers_it(
    patch_run: Path, tmp_path: Path
) -> None:
    run_dir = Path(shutil.copytree(patch_run, tmp_path / "run"))
    with np.load(RunFolder(run_dir).predictions_file("last")) as saved:
        arrays = {key: saved[key][::-1] for key in ("labels", "predictions", "confidences", "losses")}
    files = list(RunFolder(run_dir).read_val_paths() or ())[::-1]  # any images will do: numbered otherwise
    write_out_of_fold(
        RunFolder(run_dir).train_oof_file, arrays, ("corner", "plain"), folds=2, epochs=1, seed=0, paths=files
    )
    explanation = explain_sample(run_dir, 0, training=True)
    assert explanation.source == files[0] and explanation.source != explain_sample(run_dir, 0).source
    assert explanation.classes[explanation.true_class] == Path(files[0]).parent.name


def test_explain_writes_a_png_of_image_predicted_and_true_map(patch_run: Path, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_explain(patch_run, 0, tmp_path / "cam.png", out=out, err=err)
    assert code == 0, err.getvalue()
    image = explain_sample(patch_run, 0).image
    with Image.open(tmp_path / "cam.png") as png:
        sheet = np.asarray(png.convert("RGB"))
    scale = sheet.shape[1] // (3 * SIDE)  # three panels side by side, each scaled up by whole pixels
    assert scale >= 2 and np.array_equal(sheet[: SIDE * scale : scale, : SIDE * scale : scale], image)
    assert out.getvalue().rstrip().endswith(f"-> {tmp_path / 'cam.png'}")


def test_explain_says_what_is_wrong_in_one_line(patch_run: Path, tmp_path: Path, capsys) -> None:
    assert main(["explain", str(patch_run), "--sample", "999", "--out", str(tmp_path / "x.png")]) == 2
    assert capsys.readouterr().err.strip() == "error: sample 999 is not one of the run's 12 validation images (0 to 11)"
    empty = tmp_path / "empty-run"
    empty.mkdir()
    (empty / "preset.toml").write_text((patch_run / "preset.toml").read_text())
    assert main(["explain", str(empty), "--sample", "0"]) == 2
    assert "no best.pt or last.pt" in capsys.readouterr().err
    assert main(["explain", str(patch_run), "--sample", "0", "--layer", "nope"]) == 2
    assert "no layer 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_an_image_no_longer_on_disk_is_named(patch_run: Path, tmp_path: Path) -> None:
    moved = tmp_path / "run"
    moved.mkdir()
    for name in ("preset.toml", "best.pt", "predictions-last.npz", "val_paths.json"):
        (moved / name).write_bytes((patch_run / name).read_bytes())
    folder = RunFolder(moved)
    paths = list(folder.read_val_paths() or ())
    paths[0] = str(tmp_path / "gone.png")
    folder.write_val_paths(paths)
    with pytest.raises(RunFolderError, match=r"gone\.png: the image is no longer on disk"):
        explain_sample(moved, 0)


def test_a_synthetic_run_is_explained_on_its_stored_images_and_says_so_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_training(tiny_preset("train.epochs=1", "scheduler.t_max=1"), runs_dir=tmp_path / "runs")
    explanation = explain_sample(outcome.run_dir, 3)
    assert explanation.source == "stored 16 px copy: the data has no image files" and explanation.checkpoint == "best"
    stored = RunFolder(outcome.run_dir).read_val_images()
    assert np.array_equal(explanation.image, stored[3])
    assert explanation.maps.shape == (2, 16, 16)
    capsys.readouterr()
    assert main(["explain", str(outcome.run_dir), "--sample", "3", "--out", str(tmp_path / "x.png")]) == 0
    assert capsys.readouterr().out.startswith("sample 3 (stored 16 px copy: the data has no image files): true ")


def test_a_missing_cam_extra_says_what_to_install(patch_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "pytorch_grad_cam", None)  # import fails as when not installed
    with pytest.raises(CamUnavailable, match=r'pip install "tui-trainer\[cam\]"'):
        explain_sample(patch_run, 0)


# ---- the target layer ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_built_in_model_is_explained_at_a_spatial_layer(name: str) -> None:
    preset = load_preset(Path(__file__).parents[1] / "presets" / "smoke.toml", (f"model.name={name}",))
    model = build_model(preset.model, num_classes=3, in_channels=3, load_pretrained=False).eval()
    example = torch.randn(1, 3, 64, 64)
    layer = find_target_layer(model, example)
    assert layer.prefix_tokens is None and min(layer.grid) >= 2
    maps = class_maps(model, example, [0, 2], layer)
    assert maps.shape == (2, 64, 64) and np.all((maps >= 0) & (maps <= 1))


def test_a_timm_cnn_is_explained_at_its_last_stage() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", pretrained=False, num_classes=3).eval()
    layer = find_target_layer(model, torch.randn(1, 3, 64, 64))
    assert (layer.name, layer.grid) == ("layer4", (2, 2))


def test_a_timm_vision_transformer_is_explained_on_its_patch_grid() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=3, img_size=64).eval()
    example = torch.randn(1, 3, 64, 64)
    layer = find_target_layer(model, example)
    assert (layer.name, layer.grid, layer.prefix_tokens) == (f"blocks.{len(model.blocks) - 1}.norm1", (4, 4), 1)
    maps = class_maps(model, example, [1], layer)
    assert maps.shape == (1, 64, 64) and maps.max() > maps.min()


def test_a_torchvision_resnet_is_explained_at_layer4() -> None:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=3).eval()
    assert find_target_layer(model, torch.randn(1, 3, 64, 64)).name == "layer4"


def test_a_named_layer_overrides_the_choice_and_a_flat_one_is_refused() -> None:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(num_classes=3).eval()
    example = torch.randn(1, 3, 64, 64)
    assert find_target_layer(model, example, "layer3").grid == (4, 4)
    with pytest.raises(CamError, match="'fc' outputs"):
        find_target_layer(model, example, "fc")


def test_every_method_names_a_grad_cam_class() -> None:
    import pytorch_grad_cam

    assert all(hasattr(pytorch_grad_cam, cls) for cls in METHODS.values())


# ---- the colours ---------------------------------------------------------------------------------------


def test_the_heat_colours_run_from_blue_to_red_over_the_image() -> None:
    cold, hot = jet(np.array([[0.0, 1.0]]))[0]
    assert cold[2] > 100 and cold[0] == 0 and hot[0] > 100 and hot[2] == 0
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    blended = overlay(image, np.array([[0.0, 1.0], [1.0, 0.0]]))
    assert blended[0, 1, 0] > blended[0, 0, 0] and blended[0, 0, 2] > blended[0, 1, 2]
    with pytest.raises(ValueError, match="does not fit"):
        overlay(image, np.zeros((3, 3)))
