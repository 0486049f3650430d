"""The confusion matrix as a heat map with a cell cursor; each class's precision, recall, F1 and support beside it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...engine.class_figures import ClassReport, class_report
from ...runs.report import row_shares

# Colour ramps from the xterm 256-colour cube, so a plain SSH terminal shows exactly these.
# Correct predictions (the diagonal) in greens, confusions in reds; darker = smaller share of the row.
DIAGONAL_RAMP = (22, 28, 34, 40, 46)
CONFUSION_RAMP = (52, 88, 124, 160, 196)
LIGHT_TEXT = Color.from_ansi(231)
DARK_TEXT = Color.from_ansi(16)
CURSOR = Style(color=Color.from_ansi(16), bgcolor=Color.from_ansi(220), bold=True)
HEADER = Style(bold=True)
HEADER_MARK = Style(bold=True, underline=True, color=Color.from_ansi(220))
DIM = Style(dim=True)
ZERO = "·"
MAX_NAME = 8  # row header characters
WIDE_NAME = 16  # row header characters when the terminal is wide
STATS = (("prec", 6), ("rec", 6), ("F1", 6))


def abbreviate(names: tuple[str, ...] | list[str], width: int) -> list[str]:
    """Each name cut to `width` characters and kept distinct.

    When cutting makes names clash, a prefix they all share is dropped first ("class07" → "07");
    a name that still clashes ends in its class index.
    """
    width = max(width, 1)
    names = list(names)

    def clashes(cut: list[str]) -> set[str]:
        seen: dict[str, int] = {}
        for short in cut:
            seen[short] = seen.get(short, 0) + 1
        return {short for short, count in seen.items() if count > 1}

    cut = [name[:width] for name in names]
    if clashes(cut) and len(names) > 1:
        shared = 0
        while all(len(name) > shared and name[shared] == names[0][shared] for name in names):
            shared += 1
        if all(len(name) > shared for name in names):
            cut = [name[shared : shared + width] for name in names]
    clashing = clashes(cut)
    out = []
    for index, (name, short) in enumerate(zip(names, cut, strict=True)):
        if short in clashing:
            suffix = str(index)
            short = name[: max(width - len(suffix), 0)] + suffix if len(suffix) < width else suffix[-width:]
        out.append(short)
    return out


def share_level(share: float) -> int:
    """0 for an empty cell, else 1-5 on a square-root scale so a 2 % confusion is already visible."""
    if share <= 0:
        return 0
    return min(5, max(1, math.ceil(math.sqrt(share) * 5)))


def cell_style(share: float, diagonal: bool) -> Style:
    """Background by row share (green on the diagonal, red elsewhere), text readable on it."""
    level = share_level(share)
    if level == 0:
        return DIM
    ramp = DIAGONAL_RAMP if diagonal else CONFUSION_RAMP
    text = DARK_TEXT if diagonal and level >= 3 else LIGHT_TEXT
    return Style(color=text, bgcolor=Color.from_ansi(ramp[level - 1]))


def format_cell(count: int, share: float, percent: bool) -> str:
    if count == 0:
        return ZERO
    if not percent:
        return str(count)
    value = round(share * 100)
    return "<1" if value == 0 else str(value)


@dataclass(frozen=True)
class _Layout:
    row_header: int  # cells of the sticky left column (names + one space)
    cell: int  # cells per matrix column, a leading space included
    support: int  # cells of the support column
    width: int  # the whole line


class ConfusionMatrix(ScrollView, can_focus=True):
    """Rows = true class, columns = predicted. The header row and the class names stay put while it scrolls.

    The cursor walks the cells and also the two headers (left of the first column, above the first
    row): Enter on a cell asks for that cell's samples, on a header for all of that class's errors.
    """

    DEFAULT_CSS = """
    ConfusionMatrix {
        height: auto;
        max-height: 70vh;
        width: 1fr;
        scrollbar-size: 1 1;
    }
    ConfusionMatrix:focus {
        background-tint: $foreground 4%;
        border-left: outer $accent;
    }
    ConfusionMatrix {
        border-left: outer $surface;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "move(-1, 0)", "Move", group=Binding.Group("Move", compact=True), id="matrix.up", show=False),
        Binding("down", "move(1, 0)", "Move", group=Binding.Group("Move", compact=True), id="matrix.down", show=False),
        Binding("left", "move(0, -1)", "Move", group=Binding.Group("Move", compact=True), id="matrix.left", show=False),
        Binding(
            "right", "move(0, 1)", "Move", group=Binding.Group("Move", compact=True), id="matrix.right", show=False
        ),
        Binding("enter", "select", "Images", id="matrix.select"),
    ]

    @dataclass
    class Selected(Message):
        """Enter (or a second click): on a cell `true` and `pred` are set, on a row header only `true`,
        on a column header only `pred`."""

        matrix: ConfusionMatrix
        true: int | None
        pred: int | None

        @property
        def control(self) -> ConfusionMatrix:
            return self.matrix

    @dataclass
    class CursorMoved(Message):
        """The cursor is on (row, column); -1 is a header."""

        matrix: ConfusionMatrix
        row: int
        column: int

        @property
        def control(self) -> ConfusionMatrix:
            return self.matrix

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.confusion: np.ndarray = np.zeros((0, 0), dtype=np.int64)
        self.names: tuple[str, ...] = ()
        self.report: ClassReport = class_report(self.confusion)
        self.shares: np.ndarray = np.zeros((0, 0))
        self.show_percent = False
        self.cursor: tuple[int, int] = (0, 0)
        self._layout = _Layout(1, 4, 4, 1)
        self._row_labels: list[str] = []
        self._column_labels: list[str] = []

    # ---- data ----------------------------------------------------------------------------------

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    def set_data(self, confusion: np.ndarray, names: tuple[str, ...]) -> None:
        """Show a new matrix; the cursor stays where it was when the classes did not change."""
        confusion = np.asarray(confusion, dtype=np.int64)
        if len(names) != confusion.shape[0]:
            names = tuple(names[i] if i < len(names) else str(i) for i in range(confusion.shape[0]))
        self.confusion = confusion
        self.names = tuple(names)
        self.report = class_report(confusion)
        self.shares = row_shares(confusion)
        k = self.num_classes
        row, column = self.cursor
        self.cursor = (min(row, k - 1), min(column, k - 1)) if k else (0, 0)
        self._relayout()

    def on_resize(self) -> None:
        if self.num_classes:
            self._relayout()

    def set_percent(self, percent: bool) -> None:
        self.show_percent = percent
        self._relayout()

    def _relayout(self) -> None:
        k = self.num_classes
        longest = max((len(n) for n in self.names), default=1)
        available = self.size.width or (self.app.size.width - 2 if self.is_attached else 0)
        # A wide terminal shows longer names and column heads; 80 columns keep the compact layout.
        name_width = min(longest, max(MAX_NAME, min(WIDE_NAME, (available - 40) // 4)))
        largest = int(self.confusion.max()) if self.confusion.size else 0
        digits = 3 if self.show_percent else max(2, len(str(largest)))
        support_digits = max(1, len(str(int(self.report.support.max()) if k else 0)))
        row_header = name_width + 1
        support = max(support_digits, 1) + 2
        fixed = row_header + sum(w for _, w in STATS) + support
        spare = available - fixed - k * (digits + 1) - 1
        head = min(max(longest, digits), digits + spare // k) if k and spare > 0 else digits
        cell = head + 1
        width = fixed + k * cell
        self._layout = _Layout(row_header, cell, support, width)
        self._row_labels = abbreviate(self.names, name_width)
        self._column_labels = abbreviate(self.names, head)
        self.virtual_size = Size(width, k + 1)
        self.refresh()

    # ---- drawing -------------------------------------------------------------------------------

    def _header_line(self) -> tuple[list[Segment], list[Segment]]:
        layout = self._layout
        row, column = self.cursor
        corner = "% row" if self.show_percent else "count"
        if len(corner) >= layout.row_header:
            corner = "%" if self.show_percent else "#"
        left = [Segment(f"{corner:<{layout.row_header}}", DIM)]
        right: list[Segment] = []
        for j, label in enumerate(self._column_labels):
            text = f"{label:>{layout.cell}}"
            if (row, column) == (-1, j):
                right.append(Segment(" " * (layout.cell - len(label))))
                right.append(Segment(label, CURSOR))
            else:
                right.append(Segment(text, HEADER_MARK if column == j else HEADER))
        for title, width in STATS:
            right.append(Segment(f"{title:>{width}}", HEADER))
        right.append(Segment(f"{'n':>{layout.support}}", HEADER))
        return left, right

    def _row_line(self, i: int) -> tuple[list[Segment], list[Segment]]:
        layout = self._layout
        row, column = self.cursor
        label = self._row_labels[i]
        name_style = CURSOR if (row, column) == (i, -1) else HEADER_MARK if row == i else HEADER
        left = [Segment(label, name_style), Segment(" " * (layout.row_header - len(label)))]
        right: list[Segment] = []
        for j in range(self.num_classes):
            count = int(self.confusion[i, j])
            share = float(self.shares[i, j])
            text = f"{format_cell(count, share, self.show_percent):>{layout.cell}}"
            style = CURSOR if (row, column) == (i, j) else cell_style(share, i == j)
            right.append(Segment(text, style))
        report = self.report
        for value, (_, width) in zip((report.precision[i], report.recall[i], report.f1[i]), STATS, strict=True):
            right.append(Segment(f"{value * 100:>{width}.1f}"))
        right.append(Segment(f"{int(report.support[i]):>{layout.support}}", DIM))
        return left, right

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        line = 0 if y == 0 else y + scroll_y  # the header row is sticky
        if line > self.num_classes or not self.num_classes:
            return Strip.blank(width, base)
        left, right = self._header_line() if line == 0 else self._row_line(line - 1)
        header = self._layout.row_header
        left_strip = Strip(left).apply_style(base).crop_extend(0, min(header, width), base)
        right_width = max(width - header, 0)
        right_strip = Strip(right).apply_style(base).crop_extend(scroll_x, scroll_x + right_width, base)
        return Strip.join([left_strip, right_strip])

    # ---- cursor --------------------------------------------------------------------------------

    def _move_to(self, row: int, column: int) -> None:
        k = self.num_classes
        if not k:
            return
        row = max(-1, min(k - 1, row))
        column = max(-1, min(k - 1, column))
        if (row, column) == (-1, -1):  # the empty corner
            return
        if (row, column) == self.cursor:
            return
        self.cursor = (row, column)
        self.refresh()
        self._scroll_to_cursor()
        self.post_message(self.CursorMoved(self, row, column))

    def _scroll_to_cursor(self) -> None:
        layout = self._layout
        row, column = self.cursor
        # Virtual coordinates of the scrolling part (right of the names, below the header).
        x = layout.row_header + max(column, 0) * layout.cell
        y = 1 + max(row, 0)
        region = Region(x, y, layout.cell, 1)
        self.scroll_to_region(region, spacing=Spacing(1, 0, 0, layout.row_header), animate=False, immediate=True)

    def action_move(self, rows: int, columns: int) -> None:
        row, column = self.cursor
        self._move_to(row + rows, column + columns)

    def action_select(self) -> None:
        if not self.num_classes:
            return
        row, column = self.cursor
        true = row if row >= 0 else None
        pred = column if column >= 0 else None
        self.post_message(self.Selected(self, true, pred))

    def cell_at(self, x: int, y: int) -> tuple[int, int] | None:
        """The (row, column) under a point of the widget's content, -1 for a header; None off the matrix."""
        layout = self._layout
        scroll_x, scroll_y = self.scroll_offset
        row = -1 if y == 0 else y + scroll_y - 1
        if x < layout.row_header:
            column = -1
        else:
            column = (x - layout.row_header + scroll_x) // layout.cell
            if column >= self.num_classes:
                return None
        if row >= self.num_classes or (row, column) == (-1, -1):
            return None
        return row, column

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        target = self.cell_at(offset.x, offset.y)
        if target is None:
            return
        if target == self.cursor:
            self.action_select()
        else:
            self._move_to(*target)
