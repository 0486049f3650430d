"""The documented flag forms (`--headless PRESET`, `--eval RUN_DIR`, ...) as the sub-commands they name.

The design names `tui-trainer --headless preset.toml`, and scripts, SLURM jobs and detached runs
use the flag forms: each keeps working, translated here in one place before the parser sees it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

LEGACY_MODES = {
    "--headless": "train",
    "--check": "check",
    "--eval": "eval",
    "--predict": "predict",
    "--export": "export",
    "--find-lr": "find-lr",
    "--sweep": "sweep",
    "--serve": "serve",
    "--list-presets": "presets",
}
"""Each old mode flag and the sub-command it is; the flag's value (a RUN_DIR, a SWEEP) becomes its argument."""

CONSOLE = "open"
TOP_LEVEL = ("-h", "--help", "--version")


def as_subcommand(argv: Sequence[str], commands: Collection[str], value_options: Collection[str]) -> list[str]:
    """`argv` with its sub-command first: as given, from the first old mode flag, or `open` (the console).

    `value_options`: the options whose next word is their value (`--set --check` names no mode), as the
    parser declares them (`parser.value_options`), so a new option cannot be missing here."""
    argv = list(argv)
    if not argv or argv[0] in commands or argv[0] in TOP_LEVEL:
        return argv or [CONSOLE]
    after_value = False
    for i, word in enumerate(argv):
        if word == "--":
            break
        flag, equals, value = word.partition("=")
        if not after_value and flag in LEGACY_MODES:
            return [LEGACY_MODES[flag], *argv[:i], *([value] if equals else []), *argv[i + 1 :]]
        after_value = not after_value and not equals and flag in value_options
    return [CONSOLE, *argv]
