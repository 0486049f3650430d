"""The model zoo and build_model: shapes, parameter counts, the adaptive convolution and user targets."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tui_trainer.config.code_trust import TargetAccess
from tui_trainer.config.schema import ModelConfig
from tui_trainer.engine.builders import build_model
from tui_trainer.models import CATALOG, MODEL_NAMES
from tui_trainer.models.adaptive_resnet import AdaptiveBlock, AdaptiveConv2d, adaptive_resnet
from tui_trainer.models.resnet import resnet18
from tui_trainer.models.resnet9 import resnet9
from tui_trainer.models.small_cnn import small_cnn

INSTALLED = TargetAccess()  # a target on sys.path, as an installed package


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_catalog_names() -> None:
    assert MODEL_NAMES == ("adaptive_resnet", "resnet18", "resnet9", "small_cnn")
    assert set(CATALOG) == set(MODEL_NAMES)


def test_seed_model_shapes_and_size() -> None:
    model = build_model(ModelConfig(), num_classes=10)
    assert 4_800_000 < _count(model) < 5_000_000
    assert _count(model) == 4_874_041
    x = torch.randn(2, 3, 32, 32)
    sizes = []
    h = x
    for block in model.features:
        h = block(h)
        sizes.append(tuple(h.shape[1:]))
    assert sizes == [
        (64, 32, 32),
        (128, 16, 16),
        (128, 16, 16),
        (256, 8, 8),
        (256, 8, 8),
        (512, 4, 4),
        (512, 4, 4),
    ]
    assert model(x).shape == (2, 10)


def test_residual_only_where_shapes_match() -> None:
    model = adaptive_resnet(10)
    assert [block.residual for block in model.features] == [False, False, True, False, True, False, True]
    assert not any(block.residual for block in adaptive_resnet(10, residual=False).features)
    # No projection shortcuts anywhere: the only convolutions are the adaptive ones.
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 7


def test_residual_added_before_prelu() -> None:
    torch.manual_seed(0)
    block = AdaptiveBlock(8, 8, pool=False, residual=True).eval()
    x = torch.randn(2, 8, 6, 6)
    expected = block.act(block.bn(block.conv(x)) + x)
    torch.testing.assert_close(block(x), expected)
    assert not torch.allclose(block(x), block.act(block.bn(block.conv(x))) + x)


def test_adaptive_conv_equals_per_sample_scaled_filters() -> None:
    torch.manual_seed(0)
    layer = AdaptiveConv2d(5, 7, reduction=2).double()
    x = torch.randn(3, 5, 9, 9, dtype=torch.float64)
    gates = layer.gate(x)  # [B, C_in]
    assert gates.shape == (3, 5)
    explicit = torch.cat(
        [F.conv2d(x[b : b + 1], layer.conv.weight * gates[b][None, :, None, None], padding=1) for b in range(3)]
    )
    torch.testing.assert_close(layer(x), explicit)


def test_gate_hidden_size_has_a_floor() -> None:
    assert AdaptiveConv2d(3, 8).gate.fc1.out_features == 4
    assert AdaptiveConv2d(64, 8, reduction=4).gate.fc1.out_features == 16


def test_adaptive_resnet_options_and_small_images() -> None:
    model = adaptive_resnet(4, width=4, channel_multipliers=(1, 1, 1, 1, 1), pool_every=1, in_channels=1)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)  # pools 8→4→2→1→1→1 without failing


def test_resnet18_and_small_cnn_shapes() -> None:
    x = torch.randn(2, 3, 32, 32)
    assert resnet18(10)(x).shape == (2, 10)
    assert _count(resnet18(10)) == 11_173_962
    assert small_cnn(10)(x).shape == (2, 10)
    assert _count(small_cnn(10)) < 50_000
    assert small_cnn(3, width=8, in_channels=1)(torch.randn(2, 1, 28, 28)).shape == (2, 3)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_build_model_passes_only_accepted_options(name: str) -> None:
    cfg = ModelConfig(name=name, width=8, channel_multipliers=[1, 2, 2], pool_every=2, reduction=2)
    model = build_model(cfg, num_classes=5, in_channels=1)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 5)


def _write_module(tmp_path, monkeypatch, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)


def test_user_target_factory(tmp_path, monkeypatch) -> None:
    _write_module(
        tmp_path,
        monkeypatch,
        "user_model_ok",
        """
        from torch import nn

        def make(num_classes, hidden=4):
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, hidden), nn.Linear(hidden, num_classes))

        def not_a_model(num_classes):
            return "oops"

        def broken(num_classes):
            raise RuntimeError("boom")

        NOT_CALLABLE = 3
        """,
    )
    cfg = ModelConfig(target="user_model_ok:make", params={"hidden": 6})
    model = build_model(cfg, num_classes=7, code=INSTALLED)
    assert model[1].out_features == 6
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 7)

    with pytest.raises(ValueError, match=r"not a torch\.nn\.Module"):
        build_model(ModelConfig(target="user_model_ok:not_a_model"), num_classes=7, code=INSTALLED)
    with pytest.raises(ValueError, match="does not accept"):
        build_model(ModelConfig(target="user_model_ok:make", params={"depth": 3}), num_classes=7, code=INSTALLED)
    with pytest.raises(ValueError, match="boom"):
        build_model(ModelConfig(target="user_model_ok:broken"), num_classes=7, code=INSTALLED)
    with pytest.raises(ValueError, match="not a callable"):
        build_model(ModelConfig(target="user_model_ok:NOT_CALLABLE"), num_classes=7, code=INSTALLED)
    with pytest.raises(ValueError, match="has no 'missing'"):
        build_model(ModelConfig(target="user_model_ok:missing"), num_classes=7, code=INSTALLED)


def test_bad_target_modules(tmp_path, monkeypatch) -> None:
    with pytest.raises(ValueError, match="cannot import"):
        build_model(ModelConfig(target="no_such_module_xyz:make"), num_classes=3, code=INSTALLED)
    _write_module(tmp_path, monkeypatch, "user_model_syntax", "def make(num_classes):\n    return (\n")
    with pytest.raises(ValueError, match="SyntaxError"):
        build_model(ModelConfig(target="user_model_syntax:make"), num_classes=3, code=INSTALLED)


def test_resnet9_has_the_published_size_and_works_on_small_images() -> None:
    model = resnet9(10)
    assert 6_500_000 < _count(model) < 6_600_000  # "6.5M parameters" (Page, 2018)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    narrow = build_model(ModelConfig(name="resnet9", width=8), num_classes=4)
    assert narrow(torch.randn(2, 3, 16, 16)).shape == (2, 4)
    assert narrow(torch.randn(2, 3, 8, 8)).shape == (2, 4)
