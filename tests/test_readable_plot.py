"""Chart lines keep a readable contrast on every theme, light ones included."""

from __future__ import annotations

import asyncio

from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.color import Color

from tui_trainer.tui.common.readable_plot import MIN_CONTRAST, ReadablePlot, contrast, readable

# The colours the console's charts name: metric charts, compare (its 8 runs), per-class accuracy (xterm-256).
SERIES = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow", "white", 39, 208, 46, 201, 226, 51, 250, 118)


class OneChart(App[None]):
    def compose(self) -> ComposeResult:
        yield ReadablePlot(id="chart")

    def on_mount(self) -> None:
        plt = self.query_one(ReadablePlot).plt
        for offset, color in enumerate(SERIES):
            plt.plot([1, 2, 3], [offset, offset + 1, offset + 2], marker="hd", color=color)


def lowest_contrast(text: Text, surface: tuple[int, int, int], app: App) -> float:
    worst = 21.0
    for span in text.spans:
        style = span.style
        if isinstance(style, Style) and style.color is not None and not style.color.is_default:
            back = surface if style.bgcolor is None else tuple(style.bgcolor.get_truecolor(app.ansi_theme, False))
            worst = min(worst, contrast(tuple(style.color.get_truecolor(app.ansi_theme)), back))
    return worst


def test_every_series_colour_is_readable_on_every_theme() -> None:
    async def run() -> None:
        app = OneChart()
        async with app.run_test(size=(80, 24)) as pilot:
            chart = app.query_one(ReadablePlot)
            worst = {}
            for name in sorted(app.available_themes):
                app.theme = name
                await pilot.pause()
                surface = Color.parse(app.theme_variables["surface"]).rgb
                worst[name] = round(lowest_contrast(chart.render(), surface, app), 2)
            assert "solarized-light" in worst and "textual-dark" in worst
            assert {name: c for name, c in worst.items() if c < MIN_CONTRAST} == {}

    asyncio.run(run())


def test_a_readable_colour_is_left_as_it_is_and_a_faint_one_keeps_its_hue() -> None:
    white, solarized_light = (255, 255, 255), (253, 246, 227)
    assert readable((50, 92, 192), white) == (50, 92, 192)
    orange = readable((255, 135, 0), solarized_light)
    assert contrast(orange, solarized_light) >= MIN_CONTRAST
    assert orange[0] > orange[1] > orange[2]  # still orange, only darker
    assert contrast(readable((30, 30, 30), (0, 0, 0)), (0, 0, 0)) >= MIN_CONTRAST  # lightened on dark
