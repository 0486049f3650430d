"""Pick the training device and the numeric settings that go with it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DeviceError(ValueError):
    """The preset asks for a device this machine does not have."""


def resolve_device(name: str) -> torch.device:
    """Turn `train.device` into a torch.device, or raise DeviceError before any work starts."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f'train.device = "{name}": no CUDA device is available here (use "auto" or "cpu")')
        device = torch.device(name)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f'train.device = "{name}": this machine has {count} CUDA device(s), 0 to {count - 1}')
        return device
    if name == "mps":
        if not _mps_available():
            raise DeviceError('train.device = "mps": Apple MPS is not available here (use "auto" or "cpu")')
        return torch.device("mps")
    raise DeviceError(f"train.device = {name!r}: allowed are auto, cpu, cuda, cuda:N, mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


@dataclass(frozen=True)
class Numerics:
    """How tensors are laid out and computed on the chosen device."""

    device: torch.device
    autocast_dtype: torch.dtype | None  # None = plain fp32
    channels_last: bool

    @property
    def precision(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.autocast_dtype, "fp32")  # type: ignore[arg-type]

    @property
    def scales_loss(self) -> bool:
        """float16 needs a gradient scaler (its range is too small for many gradients); bfloat16 does not."""
        return self.autocast_dtype is torch.float16

    def autocast(self) -> torch.autocast:
        return torch.autocast(
            device_type=self.device.type,
            dtype=self.autocast_dtype or torch.float32,
            enabled=self.autocast_dtype is not None,
        )


def numerics_for(device: torch.device, precision: str, channels_last: bool) -> Numerics:
    """bf16 / fp16 autocast and channels_last apply on CUDA only; CPU and MPS train in fp32 (the
    preset still runs there: a T4 preset tried on a laptop trains, slower, rather than stopping).

    "auto" is bf16 where the GPU computes bfloat16 natively (Ampere and newer), else fp16 (T4, V100):
    torch emulates bfloat16 on older GPUs, which is slow, so emulation does not count.
    """
    if device.type != "cuda" or precision == "fp32":
        return Numerics(device=device, autocast_dtype=None, channels_last=device.type == "cuda" and channels_last)
    if precision == "auto":
        precision = "bf16" if native_bf16(device) else "fp16"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return Numerics(device=device, autocast_dtype=dtype, channels_last=channels_last)


def native_bf16(device: torch.device) -> bool:
    """Whether the CUDA `device` computes bfloat16 in hardware (torch emulates it on older GPUs)."""
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)
