"""ImageSet invariants and the data layer's import boundary."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tui_trainer.data import ImageSet


def test_imageset_checks_its_tensors_and_moves() -> None:
    data = ImageSet(torch.zeros(3, 3, 4, 4, dtype=torch.uint8), torch.arange(3), ("a", "b", "c"))
    assert len(data) == 3 and data.device == torch.device("cpu")
    assert data.to("cpu") is data
    assert data.take(torch.tensor([2, 0])).labels.tolist() == [2, 0]
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(3, 3, 4, 4), torch.arange(3), ("a",))
    with pytest.raises(ValueError, match="int64"):
        ImageSet(torch.zeros(3, 3, 4, 4, dtype=torch.uint8), torch.arange(2), ("a",))


@pytest.mark.slow
def test_data_layer_imports_no_ui_and_check_needs_no_torch() -> None:
    code = (
        "import sys\n"
        "from tui_trainer.data.checks import check_data_layout\n"
        "assert 'torch' not in sys.modules, 'the layout check imported torch'\n"
        "from tui_trainer.data import load_data, TrainBatches, BatchAugment\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
