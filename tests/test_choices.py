"""The choice registries: every name is wired to a factory, the schema allows exactly the registered
names, and each choice's `uses` lists exactly the governed keys its factory reads."""

from __future__ import annotations

import pickle
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tui_trainer.config import load_preset_text
from tui_trainer.config.choices import DATASETS, LOSSES, OPTIMIZERS, REGISTRIES, SCHEDULERS, Registry, governing
from tui_trainer.config.fields import all_fields, field_by_path
from tui_trainer.config.loading import PresetError
from tui_trainer.config.reference import reference_markdown
from tui_trainer.config.schema import DataConfig, LossConfig, OptimizerConfig, SchedulerConfig
from tui_trainer.data.loading import DATASET_LOADERS, load_data
from tui_trainer.engine.builders import (
    LOSS_FACTORIES,
    OPTIMIZER_FACTORIES,
    SCHEDULER_FACTORIES,
    build_loss,
    build_optimizer,
    build_scheduler,
)

FACTORIES: dict[str, dict[str, Any]] = {
    LOSSES.key: LOSS_FACTORIES,
    OPTIMIZERS.key: OPTIMIZER_FACTORIES,
    SCHEDULERS.key: SCHEDULER_FACTORIES,
    DATASETS.key: DATASET_LOADERS,
}
"""Registries whose choices are built by a factory, and the table that holds the factories."""

ENTRIES = [(registry, choice.name) for registry in REGISTRIES.values() for choice in registry.choices]
WIRED = [
    *[(key, name) for key in FACTORIES for name in REGISTRIES[key].names],
    *[(key, name) for key, table in FACTORIES.items() for name in table],
]


def _id(entry: tuple[Any, str]) -> str:
    owner, name = entry
    return f"{getattr(owner, 'key', owner)}={name}"


@pytest.mark.parametrize("entry", WIRED, ids=_id)
def test_every_registered_name_has_a_factory_and_every_factory_a_name(entry: tuple[str, str]) -> None:
    key, name = entry
    assert name in REGISTRIES[key].names, f"{key}: factory {name!r} has no registry row"
    assert name in FACTORIES[key], f"{key}: registry row {name!r} has no factory"


@pytest.mark.parametrize("registry", REGISTRIES.values(), ids=lambda r: r.key)
def test_schema_allows_exactly_the_registered_names(registry: Registry) -> None:
    spec = field_by_path(registry.key)
    assert spec is not None and spec.kind == "choice"
    assert spec.choices == registry.names
    for choice in registry.choices:  # each choice is described where the key is
        assert f"{choice.name}: {choice.description}" in spec.description


@pytest.mark.parametrize("entry", ENTRIES, ids=_id)
def test_a_choice_uses_real_keys_of_its_own_section(entry: tuple[Registry, str]) -> None:
    registry, name = entry
    section = registry.key.split(".")[0]
    for path in registry[name].uses:
        assert field_by_path(path) is not None, f"{name} uses {path}, which is not a preset key"
        assert path.split(".")[0] == section, "the editor greys keys out within the choice's own section"
        assert path != registry.key


@pytest.mark.parametrize("registry", REGISTRIES.values(), ids=lambda r: r.key)
def test_a_governed_key_is_ignored_by_some_choice_and_governed_once(registry: Registry) -> None:
    for path in registry.governed():
        assert set(registry.used_by(path)) != set(registry.names), f"{path} is read by every {registry.key}"
        assert governing(path) is registry
        others = [r.key for r in REGISTRIES.values() if r is not registry and path in r.governed()]
        assert not others, f"{path} is governed by {registry.key} and {others}"


def test_field_specs_say_which_choices_read_them() -> None:
    spec = field_by_path("optimizer.momentum")
    assert spec is not None and spec.chosen_by == "optimizer.name" and set(spec.used_by) == {"rmsprop", "sgd"}
    assert spec.read_with("sgd") and not spec.read_with("adamw")
    lr = field_by_path("optimizer.lr")
    assert lr is not None and lr.chosen_by == "" and lr.read_with("adamw")
    assert {s.path for s in all_fields() if s.chosen_by} == {p for r in REGISTRIES.values() for p in r.governed()}


def test_reference_has_a_used_by_column_from_the_registries() -> None:
    lines = reference_markdown().splitlines()
    [momentum] = [line for line in lines if line.startswith("| `momentum` |")]
    assert "| name = rmsprop, sgd |" in momentum
    [download] = [line for line in lines if line.startswith("| `download` |")]
    assert "| dataset = cifar10 |" in download
    [lr] = [line for line in lines if line.startswith("| `lr` |")]
    assert lr.split("|")[4].strip() == ""  # every optimiser reads lr: nothing to say


def test_field_descriptions_leave_applicability_to_the_registries() -> None:
    for registry in REGISTRIES.values():
        for path in registry.governed():
            spec = field_by_path(path)
            assert spec is not None
            for name in registry.names:
                assert f"{name}:" not in spec.description and f"({name}" not in spec.description, path


@pytest.mark.parametrize(("typo", "key", "guess"), [("adam", "optimizer", "adamw"), ("cosin", "scheduler", "cosine")])
def test_a_mistyped_choice_suggests_the_closest_and_lists_all(typo: str, key: str, guess: str) -> None:
    with pytest.raises(PresetError) as caught:
        load_preset_text(f'[{key}]\nname = "{typo}"\n', "bad.toml")
    [problem] = caught.value.problems
    registry = REGISTRIES[f"{key}.name"]
    assert problem.key == registry.key and problem.line == 2
    assert f'did you mean "{guess}"?' in problem.message
    assert ", ".join(f'"{name}"' for name in registry.names) in problem.message


# ----------------------------------------------------- what each factory reads is what its row says


class Reads:
    """A section config that records which of its keys are read."""

    def __init__(self, cfg: Any, section: str) -> None:
        self._cfg, self._section, self.paths = cfg, section, set()

    def __getattr__(self, name: str) -> Any:
        self.paths.add(f"{self._section}.{name}")
        return getattr(self._cfg, name)


def _governed_reads(registry: Registry, reads: Reads) -> set[str]:
    return reads.paths & set(registry.governed())


@pytest.mark.parametrize("name", OPTIMIZERS.names)
def test_optimizer_reads_the_keys_its_row_lists(name: str) -> None:
    reads = Reads(OptimizerConfig(name=name), "optimizer")
    build_optimizer(reads, [torch.nn.Parameter(torch.zeros(2))])  # type: ignore[arg-type]
    assert _governed_reads(OPTIMIZERS, reads) == set(OPTIMIZERS[name].uses)


# A value other than the default for every key some optimiser ignores.
CHANGED = {"momentum": 0.5, "alpha": 0.9, "eps": 1e-3, "nesterov": True, "beta1": 0.8, "beta2": 0.99}


@pytest.mark.parametrize("name", OPTIMIZERS.names)
@pytest.mark.parametrize("key", CHANGED)
def test_an_optimizer_changes_only_with_the_keys_it_uses(name: str, key: str) -> None:
    assert {f"optimizer.{k}" for k in CHANGED} == set(OPTIMIZERS.governed())

    def group(**changes: Any) -> dict[str, Any]:
        optimizer = build_optimizer(OptimizerConfig(name=name, **changes), [torch.nn.Parameter(torch.zeros(2))])
        return {k: v for k, v in optimizer.param_groups[0].items() if k != "params"}

    changed = group() != group(**{key: CHANGED[key]})
    assert changed == (f"optimizer.{key}" in OPTIMIZERS[name].uses)


@pytest.mark.parametrize("name", LOSSES.names)
def test_loss_reads_the_keys_its_row_lists(name: str) -> None:
    reads = Reads(LossConfig(name=name), "loss")
    loss = build_loss(reads, 3)  # type: ignore[arg-type]
    assert _governed_reads(LOSSES, reads) == set(LOSSES[name].uses)
    logits, target = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([0])
    smoothed = build_loss(LossConfig(name=name, smoothing=0.3), 3)(logits, target)
    assert (smoothed != loss(logits, target)) == ("loss.smoothing" in LOSSES[name].uses)


@pytest.mark.parametrize("name", SCHEDULERS.names)
def test_schedule_reads_the_keys_its_row_lists(name: str) -> None:
    reads = Reads(SchedulerConfig(name=name), "scheduler")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    build_scheduler(reads, optimizer, epochs=3, steps_per_epoch=4)  # type: ignore[arg-type]
    assert _governed_reads(SCHEDULERS, reads) == set(SCHEDULERS[name].uses)


def _image_folder(root: Path) -> Path:
    for c, cls in enumerate(("cat", "dog")):
        for i in range(4):
            folder = root / "train" / cls
            folder.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (100 * c, 20 * i, 50)).save(folder / f"{i}.png")
    return root  # no val/: the loader holds out val_fraction


def _csv_list(root: Path) -> Path:
    folder = _image_folder(root / "images")
    rows = [f"{p.relative_to(root).as_posix()},{p.parent.name}" for p in sorted(folder.glob("train/*/*.png"))]
    (root / "train.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    return root  # no val.csv: the loader holds out val_fraction


def _tar_shards(root: Path) -> Path:
    import io
    import tarfile

    folder = _image_folder(root / "images")
    with tarfile.open(root / "train-000000.tar", "w") as tar:
        for n, path in enumerate(sorted(folder.glob("train/*/*.png"))):
            for name, data in ((f"{n}.png", path.read_bytes()), (f"{n}.cls", str(n % 2).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return root  # no val shards: the loader holds out val_fraction


def _hf_parquet(root: Path) -> Path:
    datasets = pytest.importorskip("datasets")
    folder = _image_folder(root / "images")
    files = sorted(folder.glob("train/*/*.png"))
    rows = {"image": [{"bytes": p.read_bytes(), "path": None} for p in files], "label": [p.parent.name for p in files]}
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("string")})
    datasets.Dataset.from_dict(rows, features=features).to_parquet(str(root / "train.parquet"))
    return root  # no validation split: the loader holds out val_fraction


def _cifar_files(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import torchvision.datasets

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps(name))

    class FakeCIFAR10:
        classes = ("airplane", "automobile")

        def __init__(self, root: str, train: bool, download: bool) -> None:
            self.data = np.zeros((4, 32, 32, 3), dtype=np.uint8)
            self.targets = [0, 1, 0, 1]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    return root


@pytest.mark.parametrize("name", DATASETS.names)
def test_dataset_loader_reads_the_keys_its_row_lists(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUI_TRAINER_CACHE", str(tmp_path / "cache"))
    root = {
        "cifar10": lambda: _cifar_files(tmp_path / "c10", monkeypatch),
        "imagefolder": lambda: _image_folder(tmp_path),
        "csv": lambda: _csv_list(tmp_path / "listed"),
        "shards": lambda: _tar_shards(tmp_path / "shards"),
        "hf": lambda: _hf_parquet(tmp_path / "hf"),
    }
    cfg = DataConfig(
        dataset=name,
        root=str(root[name]()) if name in root else "",
        image_size=8,
        synthetic_train_size=10,
        synthetic_val_size=10,
    )
    reads = Reads(cfg, "data")
    data = load_data(reads)  # type: ignore[arg-type]
    assert len(data.train) > 0
    assert _governed_reads(DATASETS, reads) == set(DATASETS[name].uses)


def test_every_choice_kind_is_a_registry() -> None:
    """A Literal choice written in the schema by hand would bypass the registries."""
    choice_keys = {spec.path for spec in all_fields() if spec.kind == "choice"}
    assert choice_keys == set(REGISTRIES)
    assert typing.get_args(OptimizerConfig.model_fields["name"].annotation) == OPTIMIZERS.names


def test_every_file_lister_is_a_dataset_loaded_from_its_listing() -> None:
    """A dataset read from listed files is one row in data.listers: `--check`, `--eval` and the loader
    all find it there."""
    from tui_trainer.data.listers import LISTERS
    from tui_trainer.data.loading import _listed

    assert set(LISTERS) <= set(DATASETS.names)
    assert {name for name, loader in DATASET_LOADERS.items() if loader is _listed} == set(LISTERS)
