"""The presets that ship with the package, found by name: `tui-trainer --headless smoke`.

After `pip install .` the repository's presets/ folder is not beside the user, so a preset
argument that is not a file is looked up here by name (`smoke` or `smoke.toml`).
`tui-trainer --list-presets` prints them with where they live.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .loading import loads_or_none


def builtin_preset_dir() -> Path:
    """The folder of the presets that ship with the package."""
    return Path(str(resources.files("tui_trainer.presets")))


def builtin_presets() -> dict[str, Path]:
    """Name (the file's stem) -> path of every built-in preset."""
    return {path.stem: path for path in sorted(builtin_preset_dir().glob("*.toml"))}


def resolve_preset_arg(arg: str) -> Path:
    """A path as given when it exists; else the built-in preset of that name; else the path (for its error)."""
    path = Path(arg)
    if path.exists():
        return path
    builtin = builtin_presets().get(arg.removesuffix(".toml")) if "/" not in arg else None
    return builtin if builtin is not None else path


def unknown_preset_message(arg: str) -> str:
    names = ", ".join(builtin_presets()) or "none"
    return (
        f"{arg}: no such file, nor a built-in preset (built-in: {names}, in {builtin_preset_dir()}; "
        "tui-trainer --list-presets shows them)"
    )


def _description(path: Path) -> str:
    try:
        raw = loads_or_none(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raw = None
    return "(cannot read)" if raw is None else str(raw.get("description", ""))


def list_presets_text(cwd: Path | None = None) -> str:
    """The built-in presets and those in ./presets: name, description and path, one a line."""
    cwd = cwd or Path.cwd()
    groups = [
        (f"built-in (tui-trainer --headless NAME), in {builtin_preset_dir()}", builtin_presets()),
        (f"./presets, in {cwd / 'presets'}", {p.stem: p for p in sorted((cwd / "presets").glob("*.toml"))}),
    ]
    lines = []
    for title, presets in groups:
        if not presets:
            continue
        lines.append(f"{title}:")
        width = max(len(name) for name in presets)
        lines += [f"  {name:<{width}}  {_description(path)}" for name, path in presets.items()]
    return "\n".join(lines) + "\n"
