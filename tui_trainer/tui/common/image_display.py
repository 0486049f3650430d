"""How the console draws images: the terminal's own graphics (Sixel, Kitty's protocol) or half blocks.

Decided once, before Textual starts: the terminal is asked (through `textual-image`) only while
nothing else reads its replies. `auto` picks graphics when the terminal answers that it shows them
and nothing in between hides them (tmux or screen without passthrough, the browser of `--serve`, a
pipe); `graphics` and `halfblocks` force one. The settings file's `images` key chooses, and
`TUI_TRAINER_IMAGES` beats it (tests, one session).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

ImagesSetting = Literal["auto", "graphics", "halfblocks"]
IMAGES_SETTINGS: tuple[str, ...] = ("auto", "graphics", "halfblocks")
IMAGES_ENV = "TUI_TRAINER_IMAGES"
Protocol = Literal["sixel", "tgp"]
MISSING_EXTRA = 'images in terminal graphics need textual-image: pip install "tui-trainer[images]"'


@dataclass(frozen=True)
class ImageDisplay:
    """The decision and why: `protocol` is None for half blocks."""

    protocol: Protocol | None
    reason: str

    @property
    def graphics(self) -> bool:
        return self.protocol is not None


HALFBLOCKS = ImageDisplay(None, "not decided: half blocks")


def decide(
    setting: str,
    env: Mapping[str, str],
    *,
    is_tty: bool,
    have_extra: bool,
    query: Callable[[], Protocol | None],
) -> ImageDisplay:
    """The display for this terminal. `query` asks the terminal which protocol it answers to (None: neither);
    it is called only when the answer matters, since asking costs up to 0.2 s when nobody answers."""
    setting = env.get(IMAGES_ENV) or setting
    if setting == "halfblocks":
        return ImageDisplay(None, f"half blocks: images = {setting!r}")
    if not have_extra:
        return ImageDisplay(None, f"half blocks: {MISSING_EXTRA}")
    if setting == "graphics":
        protocol = (query() if is_tty else None) or _protocol_by_name(env)
        return ImageDisplay(protocol, f"{protocol}: images = 'graphics'")
    if not is_tty:
        return ImageDisplay(None, "half blocks: the output is not a terminal")
    if "web_driver" in env.get("TEXTUAL_DRIVER", ""):
        return ImageDisplay(None, "half blocks: the browser of --serve (xterm.js) does not show terminal graphics")
    if env.get("TMUX") or env.get("STY") or env.get("TERM", "").startswith(("screen", "tmux")):
        return ImageDisplay(None, "half blocks: tmux or screen passes no graphics through (images = 'graphics' forces)")
    protocol = query()
    if protocol is None:
        return ImageDisplay(None, "half blocks: the terminal answers neither Sixel nor Kitty graphics")
    return ImageDisplay(protocol, f"{protocol}: the terminal answers that it shows them")


def _protocol_by_name(env: Mapping[str, str]) -> Protocol:
    """The protocol a forced `graphics` uses when the terminal was not asked: Kitty's own, else Sixel."""
    if env.get("KITTY_WINDOW_ID") or env.get("TERM") == "xterm-kitty" or env.get("TERM_PROGRAM") == "ghostty":
        return "tgp"
    return "sixel"


def query_terminal() -> Protocol | None:
    """Ask the terminal (textual-image does, on import) which graphics it answers to, and its cell size in
    pixels (`textual_image.widget` does): both only before Textual starts reading the terminal.

    A terminal that answers oddly (a pseudo-terminal with no size makes textual-image divide by zero) gets
    half blocks: asking must never keep the console from starting."""
    try:
        import textual_image.widget  # noqa: F401  (asks for the cell size)
    except Exception:  # noqa: BLE001 - whatever the terminal did, half blocks still work
        return None
    from textual_image.renderable import Image, SixelImage, TGPImage

    if Image is SixelImage:
        return "sixel"
    if Image is TGPImage:
        return "tgp"
    return None


_decided: ImageDisplay | None = None


def detect_image_display(setting: str = "auto") -> ImageDisplay:
    """Decide for this process's terminal and keep the decision (`image_display()` returns it)."""
    global _decided
    stdout = sys.__stdout__
    _decided = decide(
        setting,
        os.environ,
        is_tty=bool(stdout and stdout.isatty()),
        have_extra=importlib.util.find_spec("textual_image") is not None,
        query=query_terminal,
    )
    return _decided


def image_display() -> ImageDisplay:
    """The decision made at start; without one (tests, a console started another way) the terminal is
    not asked (Textual may own it already) and only `TUI_TRAINER_IMAGES` can turn graphics on."""
    if _decided is None:
        return decide(
            "halfblocks",
            os.environ,
            is_tty=False,
            have_extra=importlib.util.find_spec("textual_image") is not None,
            query=lambda: None,
        )
    return _decided
