"""Where a preset's `model.target` may be imported from: decided once where the preset comes in.

`model.target` runs code, so who wrote the preset matters. A preset the user runs directly
(`--headless my.toml`, `--check`, `--find-lr`, the editor) is theirs: its target is imported from
the installed packages, then from the preset's own folder. A run folder's or a received sweep
folder's preset is data someone else may have written: its target is imported only after the user
says so (`--trust-code`, or yes in the console's dialog), from the installed packages, then the
current folder. Front ends decide and pass a `TargetAccess` down (None: no import at all); nothing
puts a folder on `sys.path`, and `locate_target` finds the file a target would load without running it.

Whatever the access, a target must be model code of the user's own package: not the standard
library, torch or a package whose job is loading files or code (`torch.hub.load`, `numpy.load`, ...),
and the attribute a plain function or `nn.Module` class defined in that package (`TARGET_RULE`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import threading
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from typing import Any

from ..models import ModelTargetError, resolve_factory
from ..text import printable

TARGET_RULE = (
    "model.target must name a function (or torch.nn.Module class) defined in your own package, which returns "
    "a torch.nn.Module; not the standard library, torch, or a loader package (numpy, pandas, joblib, dill, "
    'cloudpickle, huggingface_hub, transformers, timm: use model.name = "timm:...")'
)
LOADER_PACKAGES = frozenset(
    {
        "__main__",
        "torch",
        "numpy",
        "pandas",
        "joblib",
        "dill",
        "cloudpickle",
        "huggingface_hub",
        "transformers",
        "timm",
        "onnx",
        "onnxruntime",
    }
)
"""Top-level packages a target may not name (besides the standard library): they load files or code."""


@dataclass(frozen=True)
class TargetAccess:
    """`model.target` may be imported: from the installed packages, then from `folder` (when set).

    Pass None instead of a TargetAccess where the preset is data from elsewhere and the user has not
    trusted it: then no target is imported at all.
    """

    folder: Path | None = None

    @classmethod
    def beside(cls, preset_file: Path | None) -> TargetAccess:
        """A preset the user runs directly: its own folder (none for a preset with no file)."""
        return cls(Path(preset_file).resolve().parent if preset_file is not None else None)

    @classmethod
    def here(cls) -> TargetAccess:
        """`--trust-code` (or yes in the console): the current folder, which the user chose by starting there."""
        return cls(Path.cwd())


def trusted_access(trust_code: bool) -> TargetAccess | None:
    """The access of a run folder's or received sweep's preset: the current folder with `--trust-code`, else none."""
    return TargetAccess.here() if trust_code else None


def split_target(target: str) -> tuple[str, str]:
    """("package.module", "factory") of "package.module:factory"; ModelTargetError for anything else."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr or not all(part.isidentifier() for part in module_name.split(".")):
        raise ModelTargetError(f'model target {target!r} must look like "package.module:factory"')
    return module_name, attr


def module_problem(module_name: str) -> str | None:
    """Why `module_name` may not be a target's module (checked before anything is imported), or None."""
    top = module_name.partition(".")[0]
    if top in sys.stdlib_module_names:
        return f"{module_name!r} is in the standard library"
    if top in LOADER_PACKAGES:
        return f"{module_name!r} is part of {top}"
    return None


def factory_problem(module_name: str, factory: Any) -> str | None:
    """Why the imported attribute may not be called as a model factory, or None."""
    if not callable(factory):
        return f"it is a {type(factory).__name__}, not a callable factory"
    if inspect.isclass(factory):
        if not any(
            f"{base.__module__}.{base.__qualname__}" == "torch.nn.modules.module.Module" for base in factory.__mro__
        ):
            return f"the class {factory.__qualname__} is not a torch.nn.Module"
    elif not inspect.isfunction(factory):
        return f"it is a {type(factory).__name__}, not a plain Python function"
    defined = str(getattr(factory, "__module__", "") or "")
    if defined.partition(".")[0] != module_name.partition(".")[0]:
        return f"{factory.__qualname__} is defined in {defined!r}, not in {module_name!r}'s package"
    return None


_IMPORTING = threading.Lock()
"""One target import at a time: the check "not imported yet" and the import are one step."""


def import_target(target: str, access: TargetAccess | None) -> Any:
    """The factory `target` names, imported under `access`; ModelTargetError for anything not allowed.

    Nothing is imported when `access` is None or the module breaks the rules. The module is looked for
    in the installed packages first; only when it is not there, in `access.folder`.
    """
    module_name, _ = split_target(target)
    if access is None:
        raise ModelTargetError(
            f"model target {target!r}: this preset comes from a run or sweep folder, whose code runs only "
            "with --trust-code (or yes in the console's dialog)"
        )
    problem = module_problem(module_name)
    if problem:
        raise ModelTargetError(f"model target {target!r}: {problem}; {TARGET_RULE}")
    with _IMPORTING:
        try:
            _load_top_level(module_name.partition(".")[0], access.folder)
        except Exception as exc:  # the package's own __init__ fails (a SyntaxError, an ImportError inside it)
            raise ModelTargetError(
                f"model target {target!r}: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
            ) from exc
        factory = resolve_factory(target)  # the import and the attribute, with the messages of a built-in's
    problem = factory_problem(module_name, factory)
    if problem:
        raise ModelTargetError(f"model target {target!r}: {problem}; {TARGET_RULE}")
    return factory


def _load_top_level(top: str, folder: Path | None) -> None:
    """Import the top-level package `top` from `folder` when it is not installed (sys.path left as it is)."""
    if top in sys.modules or folder is None or importlib.util.find_spec(top) is not None:
        return  # imported already, or installed: `import_module` finds it
    spec = PathFinder.find_spec(top, [str(folder)])
    if spec is None or spec.loader is None:
        return  # `import_module` then says "No module named ..."
    module = importlib.util.module_from_spec(spec)
    sys.modules[top] = module  # a package's submodules are found through its own __path__
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(top, None)
        raise


def locate_target(target: str, folder: Path | None) -> Path | None:
    """The file `target`'s module would be loaded from, found without running any of it (None: not found)."""
    try:
        module_name, _ = split_target(target)
    except ModelTargetError:
        return None
    top, *rest = module_name.split(".")
    spec = _top_level_spec(top, folder)
    name = top
    for part in rest:
        locations = spec.submodule_search_locations if spec is not None else None
        if not locations:
            return None
        name = f"{name}.{part}"
        module = sys.modules.get(name)
        spec = module.__spec__ if module is not None else PathFinder.find_spec(name, list(locations))
    if spec is None or not spec.has_location or not spec.origin:
        return None
    return Path(spec.origin)


def _top_level_spec(top: str, folder: Path | None) -> ModuleSpec | None:
    module = sys.modules.get(top)
    if module is not None:
        return module.__spec__
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: finding it runs nothing
    except (ImportError, ValueError):
        spec = None
    if spec is None and folder is not None:
        spec = PathFinder.find_spec(top, [str(folder)])
    return spec


def untrusted_target_message(preset_file: Path, target: str) -> str:
    """The one-line refusal for a run folder's (or received sweep's) preset whose target would run code."""
    found = locate_target(target, Path.cwd())
    loads = (
        f"it would load {printable(found)}"
        if found is not None
        else "no file for it is found in the installed packages or the current folder"
    )
    return (
        f"{printable(preset_file)}: model.target = {printable(repr(target))} imports and runs code ({loads}); "
        "a run or sweep folder is data, so its code runs only with --trust-code"
    )
