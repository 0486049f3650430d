"""The `tui-trainer` command: one parser, three modes (console, --check, --headless).

Each mode lives in its own module and is imported only when chosen, so `--check` never loads
torch's CUDA libraries or Textual.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .torchrun_env import launched_by_torchrun

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-trainer",
        description="A terminal training console for image classifiers in PyTorch.",
        epilog=(
            "examples:\n"
            "  tui-trainer                                  open the console\n"
            "  tui-trainer presets/seed.toml                open a preset in the console\n"
            "  tui-trainer runs/20261128-101500-seed        open a run (live if it is running)\n"
            "  tui-trainer --check presets/seed.toml        validate, print the resolved preset\n"
            "  tui-trainer --headless presets/smoke.toml    train without the console\n"
            "  tui-trainer --headless --resume RUN_DIR      continue an interrupted run\n"
            "  tui-trainer --find-lr presets/seed.toml      learning-rate range test, plotted here\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", help="a preset (.toml) or a run folder")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check",
        action="store_true",
        help="validate PRESET and print it with every default filled in",
    )
    mode.add_argument(
        "--headless",
        action="store_true",
        help="train PRESET without the console (for scripts, clusters)",
    )
    mode.add_argument(
        "--find-lr",
        action="store_true",
        help="run a learning-rate range test on PRESET and suggest optimizer.lr (writes nothing)",
    )
    parser.add_argument("--lr-steps", type=int, default=100, metavar="N", help="with --find-lr: steps (default 100)")
    parser.add_argument("--lr-start", type=float, default=1e-6, metavar="LR", help="with --find-lr: first lr")
    parser.add_argument("--lr-end", type=float, default=10.0, metavar="LR", help="with --find-lr: last lr")
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="with --headless: continue the run in RUN_DIR from last.pt",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help='override a preset value, in TOML syntax (repeatable): --set optimizer.lr=0.01 --set data.root="/data"',
    )
    parser.add_argument("--runs-dir", metavar="DIR", default="runs", help="where run folders go (default: ./runs)")
    parser.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and not args.headless:
        parser.error("--resume goes with --headless (the console resumes runs from its runs screen)")
    if args.resume and args.path:
        parser.error("give either PRESET or --resume RUN_DIR, not both")
    if args.check:
        if not args.path:
            parser.error("--check needs a PRESET")
        from .check import run_check

        return run_check(Path(args.path), args.overrides)
    if args.find_lr:
        if not args.path:
            parser.error("--find-lr needs a PRESET")
        from .find_lr import run_find_lr

        return run_find_lr(
            Path(args.path), args.overrides, steps=args.lr_steps, start_lr=args.lr_start, end_lr=args.lr_end
        )
    if args.headless:
        if not args.path and not args.resume:
            parser.error("--headless needs a PRESET (or --resume RUN_DIR)")
        from .headless import run_headless

        code = run_headless(
            preset_path=Path(args.path) if args.path else None,
            overrides=args.overrides,
            runs_dir=Path(args.runs_dir),
            resume=Path(args.resume) if args.resume else None,
        )
        if launched_by_torchrun():  # torch is loaded by now
            from .engine.distributed import end_worker

            end_worker(code)  # skips the interpreter shutdown where gloo can abort
        return code
    from .tui.app import run_console

    return run_console(
        path=Path(args.path) if args.path else None,
        overrides=args.overrides,
        runs_dir=Path(args.runs_dir),
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
