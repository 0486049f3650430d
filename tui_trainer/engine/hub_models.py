"""timm and torchvision architectures with a new classifier, and their pretrained weights.

`model.pretrained` picks the weights: "" leaves the library's random initialisation, "hub" lets the
library download its weights, anything else is a local file (.safetensors, .pth, .bin). The
classifier ("head") always starts new, sized for the data's classes; every other tensor of a file
must match the architecture, or the error names the missing, unexpected and misshapen keys.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from ..config.schema import ModelConfig
from ..models.hub import WEIGHT_SUFFIXES, architecture_problem, import_family, parse_hub_name

HUB = "hub"
"""The `model.pretrained` value that downloads the library's own weights."""

PROBE_SECONDS = 5.0
"""How long a download may take to reach its server before we call the machine offline.

huggingface_hub retries an unreachable host for about 45 s per file; a quick connection test
first turns "no internet" into an error within seconds.
"""


class PretrainedError(ValueError):
    """Pretrained weights could not be loaded; the message says what to do."""


def build_hub_model(
    cfg: ModelConfig, num_classes: int, in_channels: int = 3, *, load_pretrained: bool = True
) -> nn.Module:
    """cfg.name = "timm:..." or "torchvision:..." with a num_classes head; weights per cfg.pretrained.

    load_pretrained=False builds the same architecture without reading any weights (resume and
    inference overwrite them from a checkpoint, so a moved weights file must not matter).
    """
    parsed = parse_hub_name(cfg.name)
    if parsed is None:
        raise ValueError(f"{cfg.name!r} is not a timm: or torchvision: model name")
    problem = architecture_problem(cfg.name)
    if problem:
        raise ValueError(f"model.name: {problem}")
    family, arch = parsed
    source = cfg.pretrained if load_pretrained else ""
    if family == "timm":
        model = _build_timm(arch, num_classes, in_channels, download=source == HUB)
    else:
        if in_channels != 3:
            raise ValueError(f"torchvision models take 3-channel images, the data has {in_channels}")
        model = import_family("torchvision").get_model(arch, weights=None, num_classes=num_classes)
        if source == HUB:
            load_backbone_weights(model, _torchvision_hub_state(arch), head_prefixes(model, num_classes), "hub weights")
    if source and source != HUB:
        path = Path(source).expanduser()
        load_backbone_weights(model, read_weights_file(path), head_prefixes(model, num_classes), str(path))
    return model


def check_weights_reachable(cfg: ModelConfig) -> None:
    """Raise PretrainedError now, before data loading, when cfg.pretrained's file is missing or its
    download server cannot be reached; building the model later reads or downloads the weights."""
    parsed = parse_hub_name(cfg.name)
    if parsed is None or cfg.target or not cfg.pretrained:
        return
    family, arch = parsed
    if cfg.pretrained != HUB:
        path = Path(cfg.pretrained).expanduser()
        if not path.is_file():
            raise PretrainedError(f"model.pretrained: no such weights file {str(path)!r}")
    elif family == "timm":
        _fail_fast_if_offline(_timm_weights_host(import_family("timm"), arch), cfg.name)
    else:
        try:
            weights = import_family("torchvision").get_model_weights(arch).DEFAULT
        except Exception as exc:
            raise PretrainedError(_download_failed(cfg.name, exc)) from exc
        if not _torchvision_cached(weights.url).exists():
            _fail_fast_if_offline(weights.url, cfg.name)


def _build_timm(arch: str, num_classes: int, in_channels: int, *, download: bool) -> nn.Module:
    timm = import_family("timm")
    if download:
        _fail_fast_if_offline(_timm_weights_host(timm, arch), f"timm:{arch}")
    try:
        return timm.create_model(arch, pretrained=download, num_classes=num_classes, in_chans=in_channels)
    except Exception as exc:
        if not download:
            raise
        raise PretrainedError(_download_failed(f"timm:{arch}", exc)) from exc


# ------------------------------------------------------------------------------------------ the head


def head_prefixes(model: nn.Module, num_classes: int) -> tuple[str, ...]:
    """Module names of the classifier that is replaced, e.g. ("fc",) or ("head.fc",).

    timm names it in the model's pretrained config; for torchvision it is the last Linear or
    Conv2d layer with num_classes outputs (resnet "fc", vgg "classifier.6", vit "heads.head").
    """
    cfg = getattr(model, "pretrained_cfg", None) or {}
    named = cfg.get("classifier") if isinstance(cfg, dict) else None
    if named:
        return (named,) if isinstance(named, str) else tuple(named)
    last = ""
    for name, module in model.named_modules():
        outputs = getattr(module, "out_features", getattr(module, "out_channels", None))
        if isinstance(module, (nn.Linear, nn.Conv2d)) and outputs == num_classes:
            last = name
    if not last:
        raise ValueError(f"cannot find the classifier of {type(model).__name__} (no layer with {num_classes} outputs)")
    return (last,)


def is_head_key(key: str, prefixes: Iterable[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


# ------------------------------------------------------------------------------------------ files


def read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors (safetensors) or .pth/.pt/.bin (torch.load, weights only).

    A checkpoint that wraps its weights ({"state_dict": ...} or {"model": ...}, as tui-trainer's
    own best.pt does) is unwrapped, and a DistributedDataParallel "module." prefix is dropped.
    """
    if not path.is_file():
        raise PretrainedError(
            f"model.pretrained: no such weights file {str(path)!r} (relative paths start at the current folder)"
        )
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        elif suffix in WEIGHT_SUFFIXES:
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise PretrainedError(
                f"model.pretrained: {path} is not a weights file; use one of {', '.join(WEIGHT_SUFFIXES)}"
            )
    except PretrainedError:
        raise
    except Exception as exc:  # a corrupt file, or a pickle that holds more than tensors
        raise PretrainedError(f"model.pretrained: cannot read {path}: {type(exc).__name__}: {exc}") from exc
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"model.pretrained: {path} holds no state dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _some(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", … ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_backbone_weights(
    model: nn.Module, state: dict[str, torch.Tensor], heads: tuple[str, ...], source: str
) -> None:
    """Copy every non-head tensor of state into model; raise PretrainedError naming what does not fit.

    The head's keys may differ or be absent (it is new), so they are left out on both sides.
    """
    own = model.state_dict()
    missing = [k for k in own if not is_head_key(k, heads) and k not in state]
    unexpected = [k for k in state if not is_head_key(k, heads) and k not in own]
    misshapen = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in state and not is_head_key(k, heads) and state[k].shape != own[k].shape
    ]
    if missing or unexpected or misshapen:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_some(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_some(unexpected)}")
        if misshapen:
            parts.append(f"{len(misshapen)} keys of another shape: {_some(misshapen, 3)}")
        raise PretrainedError(
            f"model.pretrained: the weights in {source} do not fit this architecture: {'; '.join(parts)} "
            f"(the classifier {', '.join(heads)} is replaced, so its keys may differ)"
        )
    model.load_state_dict({k: v for k, v in state.items() if not is_head_key(k, heads)}, strict=False)


# ------------------------------------------------------------------------------------------ downloads


def _download_failed(name: str, exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f'model.pretrained = "hub": could not get the weights of {name} ({first}). Downloading needs the internet; '
        'offline, pass a weights file instead: model.pretrained = "path/to/weights.safetensors"'
    )


def _fail_fast_if_offline(url_or_host: str | None, name: str) -> None:
    if not url_or_host:
        return
    host = urlparse(url_or_host).hostname or url_or_host
    try:
        socket.create_connection((host, 443), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        raise PretrainedError(_download_failed(name, OSError(f"cannot reach {host}: {exc}"))) from exc


def _timm_weights_host(timm: Any, arch: str) -> str | None:
    """The server timm would download from, or None when no download is needed (cached or offline mode)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return None  # huggingface_hub reads its local cache only
    cfg = timm.get_pretrained_cfg(arch)
    if cfg is None:
        return None  # create_model says there are no weights
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        for filename in ("model.safetensors", "pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(repo, filename), str):
                return None
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return cfg.url or None


def _torchvision_hub_state(arch: str) -> dict[str, torch.Tensor]:
    models = import_family("torchvision")
    name = f"torchvision:{arch}"
    try:
        weights = models.get_model_weights(arch).DEFAULT
    except Exception as exc:
        raise PretrainedError(_download_failed(name, exc)) from exc
    if not _torchvision_cached(weights.url).exists():
        _fail_fast_if_offline(weights.url, name)
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:
        raise PretrainedError(_download_failed(name, exc)) from exc


def _torchvision_cached(url: str) -> Path:
    """Where torch.hub keeps a downloaded torchvision weights file."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)
