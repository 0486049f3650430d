"""A plotext chart whose lines stay readable on every theme, light ones included.

textual-plotext paints the chart's background and axes in the theme's colours, but the series
keep the colours the code names ("orange", xterm 226 yellow): chosen for a dark background, some
nearly vanish on a light one (orange on solarized-light is 2.2:1, white on textual-light 1:1).
`ReadablePlot` renders as `PlotextPlot` does, then darkens (light themes) or lightens (dark
themes) each colour that has less than `MIN_CONTRAST` against the background it is drawn on,
keeping its hue, so "orange" in a title still names the line. It is redrawn on every theme change.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

from rich.color import Color
from rich.style import Style
from rich.terminal_theme import TerminalTheme
from rich.text import Span, Text
from textual.app import RenderResult
from textual.color import Color as TextualColor
from textual_plotext import PlotextPlot

MIN_CONTRAST = 3.0
"""WCAG's minimum for graphics (a line in a chart) against its background."""

RGB = tuple[int, int, int]

PLOT_LIMIT = 1e9
"""A value beyond ±PLOT_LIMIT is drawn at the limit: a diverged run records losses of 1e308, and
plotext computes its axes with `max - min`, which overflows to infinity and stops the console."""


def plottable(xs: Iterable[float], ys: Iterable[float], *, log: bool = False) -> tuple[list[float], list[float]]:
    """The points of a series that a chart can draw: a point with an infinite or NaN coordinate (or,
    on a `log` y scale, a y of 0 or less) is skipped, and both are clipped to ±PLOT_LIMIT, so one
    bad record costs a point, not the screen."""
    kept = [
        (x, y)
        for x, y in zip(map(float, xs), map(float, ys), strict=False)
        if math.isfinite(x) and math.isfinite(y) and (y > 0 or not log)
    ]
    return [_clip(x) for x, _ in kept], [_clip(y) for _, y in kept]


def epoch_ticks(epochs: Iterable[float], most: int = 8) -> list[int]:
    """Where an x-axis of epochs puts its ticks: whole epochs only (plotext's own ticks read 1.00,
    1.50, 2.00), every k-th of them so there are about `most`."""
    whole = sorted({int(x) for x in epochs if math.isfinite(x)})
    return whole[:: max(1, len(whole) // most)]


def _clip(value: float) -> float:
    return max(-PLOT_LIMIT, min(PLOT_LIMIT, value))


def _luminance(rgb: RGB) -> float:
    """WCAG relative luminance of an sRGB colour."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours, 1 (same) to 21 (black on white)."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@lru_cache(maxsize=1024)
def readable(color: RGB, background: RGB, minimum: float = MIN_CONTRAST) -> RGB:
    """`color`, moved towards black (light background) or white (dark) until it reaches `minimum`."""
    if contrast(color, background) >= minimum:
        return color
    target = (0, 0, 0) if _luminance(background) > 0.18 else (255, 255, 255)
    for step in range(1, 11):
        t = step / 10
        moved = tuple(round(c + (d - c) * t) for c, d in zip(color, target, strict=True))
        if contrast(moved, background) >= minimum:  # type: ignore[arg-type]
            return moved  # type: ignore[return-value]
    return target


def readable_text(text: Text, background: RGB, ansi: TerminalTheme) -> Text:
    """`text` with each foreground colour made readable on its span's background (or `background`)."""
    spans = []
    for span in text.spans:
        style = span.style
        if isinstance(style, Style) and style.color is not None and not style.color.is_default:
            back = background
            if style.bgcolor is not None and not style.bgcolor.is_default:
                back = tuple(style.bgcolor.get_truecolor(ansi, foreground=False))  # type: ignore[assignment]
            rgb: RGB = tuple(style.color.get_truecolor(ansi))  # type: ignore[assignment]
            fixed = readable(rgb, back)
            if fixed != rgb:
                style = style + Style(color=Color.from_rgb(*fixed))
        spans.append(Span(span.start, span.end, style))
    text.spans = spans
    return text


class ReadablePlot(PlotextPlot):
    """`PlotextPlot` whose series colours keep `MIN_CONTRAST` against the theme's background."""

    def render(self) -> RenderResult:
        rendered = super().render()
        if not isinstance(rendered, Text):
            return rendered
        surface = TextualColor.parse(self.app.theme_variables.get("surface", "black"))
        return readable_text(rendered, surface.rgb, self.app.ansi_theme)
