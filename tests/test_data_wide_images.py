"""16-bit PNGs and float images are scaled to 8 bits, not clipped at 255 (a ramp must stay a ramp)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tui_trainer.data.decode import decode_file

SIDE = 64


def _check_ramp(out: np.ndarray) -> None:
    row = out[0, :, 0].astype(int)
    assert out.shape == (SIDE, SIDE, 3) and (out[..., 0] == out[..., 1]).all()
    assert row[0] == 0 and row[-1] == 255
    assert (np.diff(row) > 0).all()  # strictly rising: nothing saturated
    expected = np.rint(np.linspace(0, 255, SIDE))
    assert np.abs(row - expected).max() <= 1


def test_a_16_bit_png_ramp_keeps_its_shape(tmp_path: Path) -> None:
    path = tmp_path / "ramp16.png"
    Image.fromarray(np.tile(np.linspace(0, 65535, SIDE).round().astype(np.uint16), (SIDE, 1))).save(path)
    assert Image.open(path).mode.startswith("I")
    _check_ramp(decode_file(str(path), SIDE))


@pytest.mark.parametrize("top", [1.0, 255.0])
def test_a_float_image_ramp_keeps_its_shape(tmp_path: Path, top: float) -> None:
    path = tmp_path / "rampf.tiff"
    Image.fromarray(np.tile(np.linspace(0, top, SIDE).astype(np.float32), (SIDE, 1)), mode="F").save(path)
    _check_ramp(decode_file(str(path), SIDE))


def test_8_bit_images_are_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "ramp8.png"
    ramp = np.tile(np.linspace(0, 255, SIDE).round().astype(np.uint8), (SIDE, 1))
    Image.fromarray(ramp).save(path)
    assert (decode_file(str(path), SIDE)[..., 0] == ramp).all()
