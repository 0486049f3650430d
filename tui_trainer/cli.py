"""The `tui-trainer` command: one parser, several modes (console, --serve, --check, --headless, ...).

Each mode lives in its own module and is imported only when chosen, so `--check` never loads
torch's CUDA libraries or Textual.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .printable import printable
from .runs.outcome import ExitCode
from .torchrun_env import launched_by_torchrun


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
            "  tui-trainer --headless smoke                 train a built-in preset without the console\n"
            "  tui-trainer --list-presets                   the built-in presets and where they live\n"
            "  tui-trainer --headless --resume RUN_DIR      continue an interrupted run\n"
            "  tui-trainer --headless seed --run-dir DIR    start, resume or skip (finished) the run in DIR\n"
            "  tui-trainer --eval RUN_DIR --data DATA_ROOT  score the best checkpoint on DATA_ROOT/test\n"
            "  tui-trainer --predict RUN_DIR photos/        classify images, CSV on stdout\n"
            "  tui-trainer --export RUN_DIR --format onnx   write RUN_DIR/export/best.onnx (+ .json)\n"
            "  tui-trainer --sweep presets/smoke-sweep.toml run (or continue) a hyper-parameter sweep\n"
            "  tui-trainer --find-lr presets/seed.toml      learning-rate range test, plotted here\n"
            "  tui-trainer --serve presets/seed.toml        the console in a browser: http://127.0.0.1:8000\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "path", nargs="?", help="a preset (.toml), the name of a built-in preset (smoke, seed), or a run folder"
    )
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
    mode.add_argument("--eval", metavar="RUN_DIR", help="score a run's model on a test set (see --data)")
    mode.add_argument(
        "--predict", metavar=("RUN_DIR", "PATH"), nargs="+", help="classify image files and folders, CSV on stdout"
    )
    mode.add_argument("--export", metavar="RUN_DIR", help="write a run's model as a file to deploy (see --format)")
    use = parser.add_argument_group("with --eval, --predict, --export")
    use.add_argument(
        "--data",
        metavar="PATH",
        help="--eval: a folder of <class>/<images>, or a dataset root whose test/ is used "
        "(default: the run's test/ split, else its validation split)",
    )
    use.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default: best)")
    use.add_argument("--tta", action="store_true", help="--eval: average with the horizontally flipped image")
    use.add_argument("--top-k", type=int, default=3, metavar="K", help="--predict: classes per image (default: 3)")
    use.add_argument(
        "--format", choices=("onnx", "torchscript", "safetensors"), default="onnx", help="--export (default: onnx)"
    )
    use.add_argument("--out", metavar="PATH", help="--export: the file (default: RUN_DIR/export/<checkpoint>.<ext>)")
    mode.add_argument(
        "--sweep",
        metavar="SWEEP",
        help="run the trials of a sweep file without the console; rerun to continue it",
    )
    parser.add_argument("--trials", metavar="N", type=int, help="with --sweep: the study's total number of trials")
    parser.add_argument(
        "--sweeps-dir", metavar="DIR", default="sweeps", help="where sweep folders go (default: ./sweeps)"
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
        "--trust-code",
        action="store_true",
        help="let a run folder's (or a received sweep's) preset import the module its model.target names, "
        "from the installed packages or the current folder (with --eval, --predict, --export, "
        "--headless --resume, --sweep, or the console)",
    )
    parser.add_argument(
        "--run-dir",
        metavar="DIR",
        help="with --headless: the run's folder; the same command starts the run there, resumes it, "
        "or exits 0 when it has finished (for SLURM requeues and restart loops)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help='override a preset value, in TOML syntax (repeatable): --set optimizer.lr=0.01 --set data.root="/data"',
    )
    parser.add_argument(
        "--list-presets", action="store_true", help="list the built-in presets (by name) and those in ./presets"
    )
    parser.add_argument(
        "--log-every",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="with --headless and output that is not a terminal: a progress line every SECONDS (0: none; default 30)",
    )
    parser.add_argument("--runs-dir", metavar="DIR", default="runs", help="where run folders go (default: ./runs)")
    mode.add_argument(
        "--serve",
        action="store_true",
        help="open the console in a web browser (textual-serve) instead of this terminal",
    )
    serve = parser.add_argument_group("with --serve")
    serve.add_argument(
        "--host", metavar="HOST", help="the address to listen on (default: 127.0.0.1, this machine only)"
    )
    serve.add_argument("--port", metavar="PORT", type=int, help="the port to listen on (default: 8000)")
    serve.add_argument(
        "--socket",
        metavar="PATH",
        help="listen on a Unix socket that only you can open, instead of a port (reach it with ssh -L 8000:PATH)",
    )
    serve.add_argument(
        "--token-file",
        metavar="PATH",
        help="the token browsers must show, read from this file (default: a random one, printed in the address)",
    )
    parser.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and not args.headless:
        parser.error("--resume goes with --headless (the console resumes runs from its runs screen)")
    if args.resume and args.path:
        parser.error("give either PRESET or --resume RUN_DIR, not both")
    if args.trust_code and (args.check or args.find_lr or args.serve or (args.headless and not args.resume)):
        parser.error(
            "--trust-code goes with a run or sweep folder: --eval, --predict, --export, --headless --resume, "
            "--sweep, or the console (a preset you run yourself imports its model.target without it)"
        )
    if args.run_dir and (not args.headless or args.resume or not args.path):
        parser.error("--run-dir goes with --headless PRESET (not --resume: the same line starts and resumes)")
    if args.list_presets:
        from .config.builtin import list_presets_text

        sys.stdout.write(list_presets_text())
        return ExitCode.OK
    if args.eval or args.predict or args.export:
        return _use_run(parser, args)
    if args.trials is not None and not args.sweep:
        parser.error("--trials goes with --sweep")
    if args.trials is not None and args.trials < 1:
        parser.error("--trials must be at least 1")
    if args.sweep:
        if args.path or args.resume:
            parser.error("--sweep takes the sweep file only (its preset is named inside it)")
        from .sweep_headless import run_sweep_headless

        sweep = _builtin_or_path(args.sweep, sweep=True)  # a built-in sweep by name: `--sweep smoke-sweep`
        if sweep is None:
            return ExitCode.USAGE
        return run_sweep_headless(
            sweep, Path(args.sweeps_dir), trials=args.trials, overrides=args.overrides, trust_code=args.trust_code
        )
    if args.path and (args.check or args.headless or args.find_lr):
        preset = _builtin_or_path(args.path, sweep=False)  # a built-in preset by name: `--headless smoke`
        if preset is None:
            return ExitCode.USAGE
        args.path = str(preset)
    elif args.path and not Path(args.path).exists():
        from .config.builtin import resolve_preset_arg

        args.path = str(resolve_preset_arg(args.path))  # the console opens a built-in one by name too
    if args.serve or any(getattr(args, name) is not None for name in _SERVE_OPTIONS):
        return _serve(parser, args)
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
            log_every=args.log_every,
            trust_code=args.trust_code,
            run_dir=Path(args.run_dir) if args.run_dir else None,
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
        sweeps_dir=Path(args.sweeps_dir),
        trust_code=args.trust_code,
    )


def _builtin_or_path(arg: str, sweep: bool) -> Path | None:
    """The file `arg` names (a path, or a built-in preset or sweep by name); None, with the one-line
    error printed, when there is none or it is a sweep where a preset goes (or the other way round)."""
    from .config.builtin import resolve_preset_arg, unknown_preset_message, wrong_kind_message
    from .printable import printable

    path = resolve_preset_arg(arg)
    if not path.exists():
        print(printable(f"error: {unknown_preset_message(arg, sweep)}"), file=sys.stderr)
        return None
    wrong = wrong_kind_message(arg, path, sweep)
    if wrong:
        print(printable(f"error: {wrong}"), file=sys.stderr)
        return None
    return path


_SERVE_OPTIONS = ("host", "port", "socket", "token_file")


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--serve: the console, with the same PRESET/RUN_DIR and options, in a browser tab."""
    from .serve import DEFAULT_PORT, LOCAL_HOST, ServeOptions, console_command, run_serve
    from .serve_address import Address

    if not args.serve:
        parser.error("--host, --port, --socket and --token-file go with --serve")
    if args.socket is not None and args.host is not None:
        parser.error("give --host or --socket, not both")
    port = DEFAULT_PORT if args.port is None else args.port
    if not 0 < port < 65536:
        parser.error(f"--port {port}: a port is a number from 1 to 65535")
    if args.path is not None and not Path(args.path).exists():
        print(printable(f"tui-trainer: {args.path}: no such file or folder"), file=sys.stderr)
        return ExitCode.USAGE
    command = console_command(
        Path(args.path) if args.path else None, args.overrides, Path(args.runs_dir), Path(args.sweeps_dir)
    )
    address = Address(args.host or LOCAL_HOST, port, Path(args.socket) if args.socket else None)
    options = ServeOptions(command, address, Path(args.token_file) if args.token_file else None)
    return run_serve(options, serve_forever=serve_forever)


serve_forever = None
"""How `--serve` listens and serves (None: for real, until ctrl+c); tests put a stand-in here."""


def _use_run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """--eval, --predict, --export: a trained run's model put to use."""
    from . import model_commands

    if args.path:
        parser.error(f"unexpected {args.path!r}: --eval, --predict and --export take RUN_DIR as their value")
    if args.eval:
        return model_commands.run_eval(
            Path(args.eval),
            Path(args.data) if args.data else None,
            args.checkpoint,
            args.tta,
            trust_code=args.trust_code,
        )
    if args.predict:
        if len(args.predict) < 2:
            parser.error("--predict needs RUN_DIR and at least one image file or folder")
        run_dir, *paths = args.predict
        return model_commands.run_predict(
            Path(run_dir), [Path(p) for p in paths], args.top_k, args.checkpoint, trust_code=args.trust_code
        )
    return model_commands.run_export(
        Path(args.export),
        args.format,
        Path(args.out) if args.out else None,
        args.checkpoint,
        trust_code=args.trust_code,
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
