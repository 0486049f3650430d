"""timm:/torchvision: models: weights files, a new head, fine-tuning controls, pretrained defaults, --check.

A randomly initialised timm model saved to a file stands in for downloaded weights: no network.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import SMOKE, tiny_preset
from tui_trainer.cli import main
from tui_trainer.config import PresetError, load_preset, load_preset_text
from tui_trainer.config.schema import ModelConfig, OptimizerConfig, SchedulerConfig
from tui_trainer.engine.builders import build_model, build_optimizer, build_scheduler
from tui_trainer.engine.events import EpochFinished, RunStarted
from tui_trainer.engine.finetune import parameter_groups
from tui_trainer.engine.hub_models import PretrainedError, head_prefixes, is_head_key
from tui_trainer.engine.pretrained_config import resolve_pretrained
from tui_trainer.models.hub import MissingLibrary, import_family
from tui_trainer.runs.launch import run_training

timm = pytest.importorskip("timm")
from safetensors.torch import save_file  # noqa: E402

ARCH = "test_resnet"  # timm's smallest ResNet (~0.4 M parameters)
NAME = f"timm:{ARCH}"
HUB_TINY = (f"model.name={NAME}", "data.image_size=32")


def _source_weights() -> dict[str, torch.Tensor]:
    """A randomly initialised timm model with timm's own 1000-class head, as a hub file would hold."""
    torch.manual_seed(123)
    return {k: v.clone() for k, v in timm.create_model(ARCH).state_dict().items()}


@pytest.fixture(params=["safetensors", "pth"])
def weights_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    state = _source_weights()
    path = tmp_path / f"weights.{request.param}"
    if request.param == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def test_weights_file_fills_the_backbone_and_the_head_is_new_for_the_classes(weights_file: Path) -> None:
    state = _source_weights()
    model = build_model(ModelConfig(name=NAME, pretrained=str(weights_file)), num_classes=7)
    heads = head_prefixes(model, 7)
    own = model.state_dict()
    backbone = [k for k in own if not is_head_key(k, heads)]
    assert backbone and all(torch.equal(own[k], state[k]) for k in backbone)
    assert model.get_classifier().out_features == 7
    assert state[f"{heads[0]}.weight"].shape[0] != 7  # the file's head was not used
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)


def test_weights_that_do_not_fit_name_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = _source_weights()
    dropped = next(k for k in state if k.startswith("layer1"))
    del state[dropped]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "wrong.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(PretrainedError) as failure:
        build_model(ModelConfig(name=NAME, pretrained=str(path)), num_classes=3)
    message = str(failure.value)
    assert "1 missing keys: " + dropped in message
    assert "1 unexpected keys: extra.weight" in message
    assert str(path) in message


def test_resume_does_not_read_the_weights_file() -> None:
    cfg = ModelConfig(name=NAME, pretrained="/nowhere/moved.safetensors")
    with pytest.raises(PretrainedError, match="no such weights file"):
        build_model(cfg, num_classes=3)
    assert build_model(cfg, num_classes=3, load_pretrained=False).get_classifier().out_features == 3


def test_torchvision_model_loads_a_weights_file_with_a_new_head(tmp_path: Path) -> None:
    models = import_family("torchvision")
    torch.manual_seed(5)
    source = models.get_model("resnet18", weights=None).state_dict()
    path = tmp_path / "resnet18.pth"
    torch.save(source, path)
    model = build_model(ModelConfig(name="torchvision:resnet18", pretrained=str(path)), num_classes=4)
    assert head_prefixes(model, 4) == ("fc",)
    assert torch.equal(model.state_dict()["layer4.1.conv2.weight"], source["layer4.1.conv2.weight"])
    assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 4)


def test_hub_offline_fails_fast_saying_to_pass_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def unreachable(*args: object, **kwargs: object) -> socket.socket:
        raise OSError("Name or service not known")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(PretrainedError, match="pass a weights file"):
        build_model(ModelConfig(name="timm:resnet10t", pretrained="hub"), num_classes=3)


def test_missing_timm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError
    with pytest.raises(MissingLibrary, match=r'pip install "tui-trainer\[timm\]"'):
        import_family("timm")


def test_backbone_lr_scale_scales_the_backbone_group_through_every_schedule() -> None:
    model = build_model(ModelConfig(name=NAME), num_classes=3)
    heads = head_prefixes(model, 3)
    for schedule in ("cosine", "onecycle", "none"):
        optimizer = build_optimizer(
            OptimizerConfig(name="sgd", lr=0.2), parameter_groups(model, heads, lr=0.2, backbone_lr_scale=0.1)
        )
        head_group, backbone_group = optimizer.param_groups
        assert {id(p) for p in head_group["params"]} == {id(p) for p in model.get_classifier().parameters()}
        cfg = SchedulerConfig(name=schedule, t_max=4)
        sched = build_scheduler(cfg, optimizer, epochs=4, steps_per_epoch=3)
        floor = cfg.eta_min if schedule == "cosine" else 0.0  # cosine's eta_min is every group's floor
        for _ in range(5):
            optimizer.step()
            sched.step_batch()
            sched.step_epoch()
            # Each group follows the same curve from its own start: the same share of the way to the floor.
            start = {"cosine": "initial_lr", "onecycle": "max_lr", "none": "lr"}[schedule]
            progress = [(g["lr"] - floor) / (g[start] - floor) for g in optimizer.param_groups]
            assert progress[1] == pytest.approx(progress[0])
            assert backbone_group[start] == pytest.approx(0.2 * 0.1)
        assert head_group["lr"] != 0.2 or schedule == "none"  # the schedule did move


def _run(tmp_path: Path, *extra: str, on_epoch=None):
    events: list[object] = []

    def listen(event: object) -> None:
        events.append(event)
        if on_epoch is not None and isinstance(event, EpochFinished):
            run_dir = next(e.run_dir for e in events if isinstance(e, RunStarted))
            on_epoch(event.epoch, torch.load(Path(run_dir) / "last.pt", weights_only=True))

    outcome = run_training(tiny_preset(*HUB_TINY, *extra), runs_dir=tmp_path / "runs", listeners=[listen])
    assert outcome.state == "finished", outcome.error
    return outcome


def test_freeze_epochs_keep_the_backbone_unchanged_then_train_it(tmp_path: Path, weights_file: Path) -> None:
    state = _source_weights()
    seen: dict[int, dict[str, torch.Tensor]] = {}
    outcome = _run(
        tmp_path,
        f"model.pretrained={weights_file}",
        "model.freeze_epochs=1",
        "optimizer.lr=0.01",
        on_epoch=lambda epoch, checkpoint: seen.setdefault(epoch, checkpoint["model"]),
    )
    backbone = [k for k in seen[1] if not k.startswith("fc.")]
    assert all(torch.equal(seen[1][k], state[k]) for k in backbone)  # BatchNorm statistics included
    assert not torch.equal(seen[1]["fc.weight"], seen[2]["fc.weight"])  # the head trains in both epochs
    assert any(not torch.equal(seen[2][k], state[k]) for k in backbone if seen[2][k].is_floating_point())
    saved = load_preset(outcome.run_dir / "preset.toml")  # the run records the values it used
    assert saved.model.pretrained == str(weights_file.absolute())
    assert saved.augment.std == tuple(timm.get_pretrained_cfg(ARCH).std)


def test_run_checkpoint_keeps_the_backbone_lr_share(tmp_path: Path) -> None:
    outcome = _run(tmp_path, "optimizer.backbone_lr_scale=0.25")
    checkpoint = torch.load(outcome.run_dir / "last.pt", weights_only=True)
    groups = checkpoint["optimizer"]["param_groups"]
    assert groups[1]["initial_lr"] == pytest.approx(groups[0]["initial_lr"] * 0.25)
    head_lr, backbone_lr = checkpoint["scheduler"]["base_lrs"]  # what resume hands the schedule back
    assert backbone_lr == pytest.approx(head_lr * 0.25)


def test_pretrained_defaults_fill_only_what_the_preset_leaves_open(tmp_path: Path) -> None:
    text = SMOKE.read_text() + "\n"
    weights = tmp_path / "w.safetensors"
    preset = load_preset_text(text, overrides=("model.name=timm:resnet10t", f"model.pretrained={weights}"))
    cfg = timm.get_pretrained_cfg("resnet10t")
    explicit = load_preset_text(
        text, overrides=("model.name=timm:resnet10t", f"model.pretrained={weights}", "augment.mean=[0.1, 0.2, 0.3]")
    )
    resolved, notes = resolve_pretrained(preset)
    assert resolved.augment.mean == tuple(cfg.mean) and resolved.augment.std == tuple(cfg.std)
    assert resolved.data.image_size == cfg.input_size[-1]
    kept, notes = resolve_pretrained(explicit)
    assert kept.augment.mean == (0.1, 0.2, 0.3) and kept.augment.std == tuple(cfg.std)
    assert any("augment.mean" in n and "set in the preset" in n for n in notes)
    unchanged, notes = resolve_pretrained(load_preset_text(text, overrides=("model.name=timm:resnet10t",)))
    assert unchanged.augment.mean == preset.augment.mean and notes == []


def test_check_reports_an_unknown_architecture_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('name = "p"\n\n[data]\ndataset = "synthetic"\n\n[model]\nname = "timm:resnet10x"\n')
    assert main(["--check", str(preset)]) == 2
    err = capsys.readouterr().err
    assert f"{preset}:7: model.name: timm has no architecture 'resnet10x'; did you mean `timm:resnet10t`" in err


def test_check_prints_the_pretrained_choices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("resnet10t").state_dict().items()}, str(weights))
    assert (
        main(["--check", str(SMOKE), "--set", "model.name=timm:resnet10t", "--set", f"model.pretrained={weights}"]) == 0
    )
    out = capsys.readouterr().out
    mean = timm.get_pretrained_cfg("resnet10t").mean
    assert f"# augment.mean = [{', '.join(f'{v:g}' for v in mean)}] (from timm:resnet10t's pretrained config)" in out
    assert load_preset_text(out).augment.mean == tuple(mean)


def test_check_loads_the_weights_file_into_the_architecture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    resnet18 = timm.create_model("resnet18").state_dict()  # weights of another depth than resnet34's
    weights = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in resnet18.items()}, str(weights))
    resnet34 = timm.create_model("resnet34").state_dict()
    missing = [k for k in resnet34 if k not in resnet18 and not k.startswith("fc.")]
    assert missing  # resnet34 has more blocks
    args = ["--check", str(SMOKE), "--set", "model.name=timm:resnet34", "--set", f"model.pretrained={weights}"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{len(missing)} missing keys: {missing[0]}" in err and str(weights) in err


def test_fine_tuning_fields_need_a_hub_model() -> None:
    with pytest.raises(PresetError) as failure:
        tiny_preset("model.freeze_epochs=1", "optimizer.backbone_lr_scale=0.5")
    keys = {p.key for p in failure.value.problems}
    assert keys == {"model.freeze_epochs", "optimizer.backbone_lr_scale"}


def test_a_missing_weights_file_stops_the_run_before_any_folder_or_data(tmp_path: Path) -> None:
    preset = tiny_preset(*HUB_TINY, f"model.pretrained={tmp_path / 'moved.safetensors'}")
    outcome = run_training(preset, runs_dir=tmp_path / "runs", listeners=[])
    assert (outcome.exit_code, outcome.run_dir) == (2, None)
    assert "no such weights file" in outcome.error and not (tmp_path / "runs").exists()
