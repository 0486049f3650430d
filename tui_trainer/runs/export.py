"""`tui-trainer --export`: a run's model as ONNX, TorchScript or safetensors, checked before it is kept.

The file is written under a temporary name, loaded back by its own runtime (onnxruntime for ONNX)
and run on validation images; only when its logits equal the PyTorch model's within the tolerance
is it renamed into place, with a `<file>.json` beside it that says how to feed it and read it.
A write that fails (a read-only folder, a full disk) is an `ExportWriteError` naming the file, and
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write_text, atomic_write_with, cannot_write
from ..config import resolved_toml
from ..config.code_trust import TargetAccess
from ..data import load_data, normalize
from ..data.views import store_size, validation_view
from ..engine.builders import build_model
from .folder import RunFolder, now_iso
from .trained_model import IN_CHANNELS, Checkpoint, RunModel, load_run_model

PARITY_IMAGES = 64
ATOL = 1e-4
RTOL = 1e-3
"""Parity: every logit of the export within ATOL + RTOL * |PyTorch logit| of the PyTorch model's (fp32, CPU)."""
ONNX_OPSET = 18
"""Supported by every onnxruntime since 1.14 on CPU, and the torch exporter's own default."""
INPUT_NAME, OUTPUT_NAME = "images", "logits"
EXTRA_HINT = 'pip install "tui-trainer[export]"'


class ExportUnavailable(RuntimeError):
    """The optional export libraries are missing (a usage problem: exit 2)."""


class ExportMismatch(RuntimeError):
    """The written file does not compute what the PyTorch model computes (exit 1, file deleted)."""


class ExportWriteError(RuntimeError):
    """The export could not be written where it goes: a folder that cannot be created or written, a full disk."""

    def __init__(self, path: Path, error: OSError) -> None:
        reason = error.strerror or str(error)
        if isinstance(error, (FileExistsError, NotADirectoryError)):
            reason = "a file is where its folder should be"
        folder = error.filename and Path(path).is_relative_to(error.filename) and Path(path) != Path(error.filename)
        if folder:  # the folder is the problem (read-only, not a folder): say which
            reason = f"{error.filename}: {reason}"
        super().__init__(cannot_write(path, OSError(error.errno, reason)))  # the export's name, not its temporary one
        self.path = path
        self.errno = error.errno


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind `exc` (itself, or what it was raised from: exporters wrap the file system's errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write inside the block into an ExportWriteError naming `path`."""
    try:
        yield
    except Exception as exc:
        error = _os_error(exc)
        if error is None:
            raise
        raise ExportWriteError(path, error) from exc


Runner = Callable[[np.ndarray], np.ndarray]
"""float32 NCHW images -> float32 logits."""


@dataclass(frozen=True)
class Exporter:
    suffix: str
    write: Callable[[RunModel, torch.Tensor, Path], None]
    load: Callable[[Path, RunModel], Runner]
    needs_extra: bool = False


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sidecar: Path
    max_abs_error: float
    images: int


def require_export_extra() -> None:
    """Raise ExportUnavailable naming the pip command when onnx, onnxruntime or onnxscript is missing."""
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ExportUnavailable(f"ONNX export needs {', '.join(missing)}: {EXTRA_HINT}")


# ----------------------------------------------------------------------------------------------- ONNX


def _write_onnx(run: RunModel, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch")
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress lines and notes are not the user's business
        torch.onnx.export(
            run.model,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=ONNX_OPSET,
            dynamic_shapes=({0: batch},),
            external_data=False,  # one self-contained file
            dynamo=True,
            verbose=False,
        )


def _load_onnx(path: Path, run: RunModel) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda images: session.run(None, {INPUT_NAME: images})[0]


# ---------------------------------------------------------------------------------------- TorchScript


def _write_torchscript(run: RunModel, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated but still the C++ route
        traced = torch.jit.trace(run.model, example)
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer)  # not to the path: torch's own file writer aborts the process on a full disk
    atomic_write_with(path, lambda handle: handle.write(buffer.getbuffer()))


def _load_torchscript(path: Path, run: RunModel) -> Runner:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def runner(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(images)).numpy()

    return runner


# ---------------------------------------------------------------------------------------- safetensors


def _write_safetensors(run: RunModel, example: torch.Tensor, path: Path) -> None:
    from safetensors.torch import save

    # clone(): tensors that share storage (tied weights) cannot be saved as views.
    state = {name: tensor.detach().cpu().contiguous().clone() for name, tensor in run.model.state_dict().items()}
    data = save(state, metadata={"classes": json.dumps(list(run.classes))})
    atomic_write_with(path, lambda handle: handle.write(data))  # a write error stays an OSError


def _load_safetensors(path: Path, run: RunModel) -> Runner:
    from safetensors.torch import load_file

    # As any user would: a fresh model of the preset's architecture, weights from the file only.
    model = build_model(
        run.preset.model, num_classes=len(run.classes), in_channels=IN_CHANNELS, load_pretrained=False, code=run.code
    )
    model.load_state_dict(load_file(str(path)))
    model.eval()

    def runner(images: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(images)).numpy()

    return runner


EXPORTERS: dict[str, Exporter] = {
    "onnx": Exporter(".onnx", _write_onnx, _load_onnx, needs_extra=True),
    "torchscript": Exporter(".torchscript.pt", _write_torchscript, _load_torchscript),
    "safetensors": Exporter(".safetensors", _write_safetensors, _load_safetensors),
}
FORMATS: tuple[str, ...] = tuple(EXPORTERS)


# ---------------------------------------------------------------------------------------------- steps


def parity_images(run: RunModel, count: int = PARITY_IMAGES) -> torch.Tensor:
    """`count` validation images spread over the split, normalised as the model expects (float32 CPU).

    The run folder's thumbnails are the validation images themselves when the model's input is no
    larger than them; otherwise the run's validation split is loaded.
    """
    preset = run.preset
    size = preset.data.image_size
    thumbnails = RunFolder(run.checkpoint_file.parent).read_val_images()
    if thumbnails is not None and thumbnails.ndim == 4 and thumbnails.shape[1:] == (size, size, 3):
        images = torch.from_numpy(np.ascontiguousarray(thumbnails)).permute(0, 3, 1, 2)
    else:
        images = validation_view(load_data(preset.data, seed=preset.train.seed).val.images, size)
    pick = torch.linspace(0, len(images) - 1, min(count, len(images))).round().long().unique()
    return normalize(images[pick].contiguous(), preset.augment.mean, preset.augment.std)


def default_out(run_dir: Path, checkpoint: Checkpoint, fmt: str) -> Path:
    return Path(run_dir) / "export" / f"{checkpoint}{EXPORTERS[fmt].suffix}"


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


def describe(run: RunModel, out: Path, fmt: str, max_abs_error: float, images: int) -> dict[str, Any]:
    """The sidecar: everything a program in any language needs to preprocess an image and read the output."""
    size = run.image_size
    stored = store_size(run.preset.data)
    square = (
        f"the whole image to {stored}x{stored} pixels"
        if run.preset.data.resize == "squash"
        else f"the centre square of the image (side: its shorter side) to {stored}x{stored} pixels"
    )
    first = "turn it upright by its EXIF orientation and convert to RGB first"
    resize = (
        f"{square}, bilinear, no further crop ({first})"
        if stored == size
        else f"{square}, bilinear, then the centre {size}x{size} crop "
        f"(left and top offset ({stored} - {size}) // 2; {first})"
    )
    return {
        "format": 1,
        "file": out.name,
        "kind": fmt,
        "classes": list(run.classes),
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", IN_CHANNELS, size, size],
            "dtype": "float32",
            "layout": "NCHW",
            "channel_order": "RGB",
            "orientation": "EXIF orientation applied before anything else (Pillow: ImageOps.exif_transpose), "
            "as training did: a phone photo taken in portrait is seen upright",
            "resize": resize,
            "resize_to": stored,
            "resize_mode": run.preset.data.resize,
            "pixel_scale": 1 / 255,
            "mean": list(run.preset.augment.mean),
            "std": list(run.preset.augment.std),
            "formula": "x[c] = (pixel[c] * pixel_scale - mean[c]) / std[c]",
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", len(run.classes)],
            "meaning": "logits in the order of `classes`; softmax gives probabilities",
        },
        "parity": {"images": images, "max_abs_error": max_abs_error, "atol": ATOL, "rtol": RTOL},
        "checkpoint": run.checkpoint,
        "epoch": run.epoch,
        "run": str(run.checkpoint_file.parent),
        "created_at": now_iso(),
        "preset": resolved_toml(run.preset),
    }


def export_run(
    run_dir: Path,
    fmt: str = "onnx",
    out: Path | None = None,
    checkpoint: Checkpoint = "best",
    *,
    code: TargetAccess | None = None,
) -> ExportResult:
    """Write, check and keep one export of a run's checkpoint.

    Raises ExportUnavailable (missing extra), RunFolderError / PresetError / DataError (unusable
    input), ExportMismatch (the check failed; nothing is kept) and ExportWriteError (nothing is kept).
    `code`: where the preset's `model.target` may be imported from (None refuses a preset that has one).
    """
    if fmt not in EXPORTERS:
        raise ValueError(f"format is one of {', '.join(FORMATS)}, not {fmt!r}")
    exporter = EXPORTERS[fmt]
    if exporter.needs_extra:
        require_export_extra()
    run = load_run_model(Path(run_dir), checkpoint, device="cpu", fp32=True, code=code)  # parity in plain fp32
    out = Path(out) if out is not None else default_out(run_dir, checkpoint, fmt)
    sample = parity_images(run)
    with torch.no_grad():
        reference = run.model(sample).numpy()
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with _writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            exporter.write(run, sample[:2].clone(), temporary)
        got = np.asarray(exporter.load(temporary, run)(sample.numpy()), dtype=np.float32)
        if got.shape != reference.shape:
            raise ExportMismatch(f"the {fmt} export gives logits of shape {got.shape}, PyTorch {reference.shape}")
        error = float(np.abs(got - reference).max()) if got.size else 0.0
        if not np.allclose(got, reference, rtol=RTOL, atol=ATOL) or not np.isfinite(got).all():
            raise ExportMismatch(
                f"the {fmt} export differs from the PyTorch model on {len(sample)} validation images: max |difference| "
                f"of the logits {error:.3g} > tolerance {ATOL:g} + {RTOL:g} x |logit|; the file was deleted"
            )
        with _writing(out):
            os.chmod(temporary, 0o644)  # some writers create 0600 files; an export is meant to be shared
            os.replace(temporary, out)
    finally:
        with contextlib.suppress(OSError):  # a folder we could not write holds no temporary file either
            temporary.unlink(missing_ok=True)
    sidecar = sidecar_path(out)
    try:
        with _writing(sidecar):
            atomic_write_text(sidecar, json.dumps(describe(run, out, fmt, error, len(sample)), indent=2) + "\n")
    except ExportWriteError:
        out.unlink(missing_ok=True)  # an export without its sidecar cannot be fed correctly
        raise
    return ExportResult(out, sidecar, error, len(sample))
