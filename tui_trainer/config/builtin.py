"""The presets and sweeps that ship with the package, found by name: `tui-trainer --headless smoke`,
`tui-trainer --sweep smoke-sweep`.

After `pip install .` the repository's presets/ folder is not beside the user, so a preset or
sweep argument that is not a file is looked up here by name (`smoke` or `smoke.toml`).
`tui-trainer --list-presets` prints them, presets apart from sweeps, with where they live; a sweep
file where a preset goes (or the other way round) is one line that gives the right command.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..text import close_match, command_line
from .loading import loads_or_none
from .sweep_file import is_sweep_file


def builtin_preset_dir() -> Path:
    """The folder of the presets that ship with the package."""
    return Path(str(resources.files("tui_trainer.presets")))


def _builtin_files() -> dict[str, Path]:
    """Name (the file's stem) -> path of every built-in TOML file, presets and sweeps alike."""
    return {path.stem: path for path in sorted(builtin_preset_dir().glob("*.toml"))}


def builtin_presets() -> dict[str, Path]:
    """Name -> path of every built-in preset (`tui-trainer --headless NAME`)."""
    return {name: path for name, path in _builtin_files().items() if not is_sweep_file(path)}


def builtin_sweeps() -> dict[str, Path]:
    """Name -> path of every built-in sweep file (`tui-trainer --sweep NAME`)."""
    return {name: path for name, path in _builtin_files().items() if is_sweep_file(path)}


def resolve_preset_arg(arg: str) -> Path:
    """A path as given when it exists; else the built-in preset or sweep of that name; else the path (for its error)."""
    path = Path(arg)
    if path.exists():
        return path
    builtin = _builtin_files().get(arg.removesuffix(".toml")) if "/" not in arg else None
    return builtin if builtin is not None else path


def unknown_preset_message(arg: str, sweep: bool = False) -> str:
    """One line for a preset (or sweep) argument that is neither a file nor a built-in name; a name
    close to a built-in one (`smokee`) leads with the likely meant one."""
    kind = "sweep" if sweep else "preset"
    builtins = builtin_sweeps() if sweep else builtin_presets()
    names = ", ".join(builtins) or "none"
    match = close_match(arg.removesuffix(".toml"), builtins) if "/" not in arg else None
    if match:
        return f"no {kind} {arg!r}; did you mean {match!r}? (built-in: {names}; `tui-trainer presets` lists them)"
    return (
        f"{arg}: no such file, nor a built-in {kind} (built-in: {names}, in {builtin_preset_dir()}; "
        "`tui-trainer presets` lists them)"
    )


def wrong_kind_message(arg: str, path: Path, sweep: bool) -> str:
    """One line when `path` (as the user named it: `arg`) is a sweep file where a preset goes
    (`sweep=False`), or not a sweep file where one goes; "" when it is the kind asked for.

    Without it the file is validated as the other kind: a wall of "unknown key" errors.
    """
    if not sweep and is_sweep_file(path):
        return f"{arg} is a sweep file: run it with `{command_line('tui-trainer', '--sweep', arg)}`"
    if sweep and path.is_file() and not is_sweep_file(path) and _looks_like_preset(path):
        return f"{arg} is a preset, not a sweep file: train it with `{command_line('tui-trainer', '--headless', arg)}`"
    return ""


def _looks_like_preset(path: Path) -> bool:
    """A TOML file with neither a sweep's `preset` key nor its [space] table (a sweep file with a
    mistake in one of them is left to the sweep loader, which names the key)."""
    try:
        raw = loads_or_none(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return raw is not None and "preset" not in raw and "space" not in raw


def _description(path: Path) -> str:
    try:
        raw = loads_or_none(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        raw = None
    return "(cannot read)" if raw is None else str(raw.get("description", ""))


def list_presets_text(cwd: Path | None = None) -> str:
    """The built-in presets and sweeps and those in ./presets: name and description, one a line,
    under a heading that says where they live and the command that runs them."""
    cwd = cwd or Path.cwd()
    local = {p.stem: p for p in sorted((cwd / "presets").glob("*.toml"))}
    local_sweeps = {name: path for name, path in local.items() if is_sweep_file(path)}
    groups = [
        (f"built-in (tui-trainer --headless NAME), in {builtin_preset_dir()}", builtin_presets()),
        (f"built-in sweeps (tui-trainer --sweep NAME), in {builtin_preset_dir()}", builtin_sweeps()),
        (
            f"./presets, in {cwd / 'presets'}",
            {name: path for name, path in local.items() if name not in local_sweeps},
        ),
        ("sweeps in ./presets (tui-trainer --sweep presets/NAME.toml)", local_sweeps),
    ]
    lines = []
    for title, presets in groups:
        if not presets:
            continue
        lines.append(f"{title}:")
        width = max(len(name) for name in presets)
        lines += [f"  {name:<{width}}  {_description(path)}" for name, path in presets.items()]
    return "\n".join(lines) + "\n"
