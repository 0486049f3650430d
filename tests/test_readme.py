"""README.md's tables are well formed: a row that strays outside its table, or into another, is
read by no one and rendered as text (or as a wrong row) on GitHub."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.helpers import REPO
from tui_trainer.cli.parser import parse_args

README = REPO / "README.md"
SEPARATOR = re.compile(r"\s*:?-+:?\s*")


def _cells(row: str) -> list[str]:
    """The cells of a table row; `\\|` is a pipe inside a cell, as GitHub reads it."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def _tables(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, rows) of every run of lines starting with `|`, outside fenced code."""
    tables: list[tuple[int, list[str]]] = []
    fenced = False
    previous_was_row = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
        is_row = not fenced and line.startswith("|")
        if is_row and previous_was_row:
            tables[-1][1].append(line)
        elif is_row:
            tables.append((number, [line]))
        previous_was_row = is_row
    return tables


def test_every_table_has_a_header_and_rows_as_wide_as_it() -> None:
    problems = []
    for first, rows in _tables(README.read_text(encoding="utf-8")):
        header = _cells(rows[0])
        if len(rows) < 2 or not all(SEPARATOR.fullmatch(cell) for cell in _cells(rows[1])):
            problems.append(f"README.md:{first}: rows outside a table (no header and |---| line above them)")
            continue
        for offset, row in enumerate(rows[1:], start=1):
            if len(_cells(row)) != len(header):
                problems.append(f"README.md:{first + offset}: {len(_cells(row))} cells, the header has {len(header)}")
    assert problems == []


def test_each_generated_block_has_one_begin_and_one_end_marker() -> None:
    text = README.read_text(encoding="utf-8")
    markers = re.findall(r"<!-- ([\w-]+):(begin|end)\b", text)
    assert markers, "the README has generated blocks (the preset reference at least)"
    counts = Counter(markers)
    assert {marker: n for marker, n in counts.items() if n != 1} == {}
    for name in {name for name, _ in markers}:
        assert counts[(name, "begin")] == counts[(name, "end")] == 1, name
        assert text.index(f"<!-- {name}:begin") < text.index(f"<!-- {name}:end"), name


def test_every_benchmark_script_is_a_row_of_the_benchmarks_table_and_of_no_other() -> None:
    scripts = sorted(path.name for path in (REPO / "benchmarks").glob("*.py") if not path.name.startswith("_"))
    found: dict[str, list[str]] = {}
    for _, rows in _tables(README.read_text(encoding="utf-8")):
        header = " | ".join(_cells(rows[0]))
        for row in rows[2:]:
            named = re.match(r"`benchmarks/(\w+\.py)", _cells(row)[0])
            if named:
                found.setdefault(named.group(1), []).append(header)
    assert {script: found.get(script) for script in scripts} == {script: ["script | measures"] for script in scripts}


def test_the_folders_the_readmes_commands_write_by_default_are_ignored_by_git() -> None:
    """`--sweep presets/smoke-sweep.toml` in a checkout must not leave an untracked folder behind."""
    gitignore = REPO / ".gitignore"
    if not gitignore.exists():  # an unpacked sdist: nothing to check
        pytest.skip("no .gitignore")
    ignored = set(gitignore.read_text().split())
    args = parse_args(["--sweep", "presets/smoke-sweep.toml"])
    for default in (args.runs_dir, args.sweeps_dir):
        assert f"/{default}/" in ignored
