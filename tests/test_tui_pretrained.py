"""The editor suggests timm/torchvision architectures and weights files while typing (Pilot, 80x24)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Input

from tests.console_kit import SIZE, type_into
from tests.console_kit import editor_app as make_app
from tui_trainer.tui.preset.field_suggesters import weights_file_completion

timm = pytest.importorskip("timm")


async def _accept_suggestion(pilot, field: Input) -> None:
    for _ in range(200):  # the first suggestion waits for timm's list of models in a thread
        if field._suggestion:
            break
        await asyncio.sleep(0.05)
    await pilot.press("right")
    await pilot.pause()


@pytest.mark.slow
def test_model_name_completes_timm_architectures_and_weights_files(preset_file: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights" / "resnet10t.safetensors"
    weights.parent.mkdir()
    weights.write_bytes(b"")
    expected = min((n for n in timm.list_models() if n.startswith("resnet1")), key=len)  # the shortest first

    async def scenario() -> None:
        app = make_app(preset_file, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await type_into(pilot, app, "model.name", "timm:resnet1")
            await _accept_suggestion(pilot, app.screen.row("model.name").editor)
            assert app.document is not None and app.document.preset is not None
            assert app.document.preset.model.name == f"timm:{expected}"
            await type_into(pilot, app, "model.pretrained", "wei", pasted=f"{tmp_path}/")
            field = app.screen.row("model.pretrained").editor
            await _accept_suggestion(pilot, field)
            await pilot.press("r")
            await _accept_suggestion(pilot, field)
            assert app.document.preset.model.pretrained == str(weights)

    asyncio.run(scenario())


def test_weights_file_completion_offers_hub_folders_and_weights_only(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "model.pth").write_bytes(b"")
    assert weights_file_completion("h") == "hub"
    assert weights_file_completion(f"{tmp_path}/") == f"{tmp_path}/model.pth"
    assert weights_file_completion(f"{tmp_path}/no") is None
