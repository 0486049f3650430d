"""`tui-trainer COMMAND`: each sub-command's handler, importing its module only when it runs.

So `tui-trainer check` never loads torch's CUDA libraries or Textual, and a bad preset costs no
more than reading it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..engine.torchrun_env import launched_by_torchrun
from ..runs.outcome import ExitCode
from ..text import printable
from .parser import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    return HANDLERS[args.command](args)


def _train(args: argparse.Namespace) -> int:
    if not args.preset and not args.resume and not args.fork:
        args.usage_error("give a PRESET (or --resume RUN_DIR, or --fork RUN_DIR@EPOCH)")
    if args.run_dir and (args.resume or args.fork):
        args.usage_error("--run-dir goes with PRESET (not --resume or --fork: the same line starts and resumes)")
    if args.fork and args.resume:
        args.usage_error("--fork starts a new run: it does not go with --resume")
    if args.schedule and not args.resume:
        args.usage_error("--schedule goes with --resume RUN_DIR --set train.epochs=N (extending a finished run)")
    if args.trust_code and not (args.resume or (args.fork and not args.preset)):
        args.usage_error(
            "--trust-code goes with --resume or a --fork without PRESET (a preset you run yourself imports its "
            "model.target)"
        )
    preset = _builtin_or_path(args.preset, sweep=False) if args.preset else None
    if args.preset and preset is None:
        return ExitCode.USAGE
    from .train import run_headless

    code = run_headless(
        preset_path=preset,
        overrides=args.overrides,
        runs_dir=Path(args.runs_dir),
        resume=Path(args.resume) if args.resume else None,
        log_every=args.log_every,
        trust_code=args.trust_code,
        run_dir=Path(args.run_dir) if args.run_dir else None,
        schedule=args.schedule,
        fork=args.fork,
    )
    if launched_by_torchrun():  # torch is loaded by now
        from ..engine.distributed import end_worker

        end_worker(code)  # skips the interpreter shutdown where gloo can abort
    return code


def _submit(args: argparse.Namespace) -> int:
    preset = _builtin_or_path(args.preset, sweep=False)
    if preset is None:
        return ExitCode.USAGE
    from .submit import run_submit

    options = {key: getattr(args, key) for key in ("nodes", "gpus_per_node", "time", "partition", "account")}
    run_dir = Path(args.run_dir) if args.run_dir else None
    return run_submit(preset, args.preset, args.overrides, options, Path(args.runs_dir), run_dir, args.dry_run)


def _check(args: argparse.Namespace) -> int:
    preset = _builtin_or_path(args.preset, sweep=False)
    if preset is None:
        return ExitCode.USAGE
    from .check import run_check

    return run_check(preset, args.overrides)


def _find_lr(args: argparse.Namespace) -> int:
    preset = _builtin_or_path(args.preset, sweep=False)
    if preset is None:
        return ExitCode.USAGE
    from .find_lr import run_find_lr

    return run_find_lr(preset, args.overrides, steps=args.lr_steps, start_lr=args.lr_start, end_lr=args.lr_end)


def _sweep(args: argparse.Namespace) -> int:
    sweep = _builtin_or_path(args.sweep, sweep=True)  # a built-in sweep by name: `sweep smoke-sweep`
    if sweep is None:
        return ExitCode.USAGE
    from .sweep import run_sweep_headless

    return run_sweep_headless(
        sweep, Path(args.sweeps_dir), trials=args.trials, overrides=args.overrides, trust_code=args.trust_code
    )


def _eval(args: argparse.Namespace) -> int:
    from .model_commands import run_eval

    data = Path(args.data) if args.data else None
    return run_eval(Path(args.run_dir), data, args.checkpoint, args.tta, trust_code=args.trust_code)


def _predict(args: argparse.Namespace) -> int:
    from .model_commands import run_predict

    paths = [Path(p) for p in args.paths]
    return run_predict(Path(args.run_dir), paths, args.top_k, args.checkpoint, trust_code=args.trust_code)


def _export(args: argparse.Namespace) -> int:
    from .model_commands import run_export

    out = Path(args.out) if args.out else None
    return run_export(Path(args.run_dir), args.format, out, args.checkpoint, trust_code=args.trust_code)


def _explain(args: argparse.Namespace) -> int:
    from .explain import run_explain

    out = Path(args.out) if args.out else None
    return run_explain(
        Path(args.run_dir), args.sample, out, layer=args.layer, method=args.method, trust_code=args.trust_code
    )


def _review(args: argparse.Namespace) -> int:
    if not args.train:
        args.usage_error("give --train: the validation set's review list is `l` on the run's confusion screen")
    from .review import run_review

    out = Path(args.out) if args.out else None
    return run_review(Path(args.run_dir), folds=args.folds, epochs=args.epochs, out_dir=out, trust_code=args.trust_code)


def _serve(args: argparse.Namespace) -> int:
    """The console, with the same PATH and options, in a browser tab."""
    from .serve import LOCAL_HOST, ServeOptions, console_command, run_serve
    from .serve_address import Address

    path = _console_path(args.path)
    if path is not None and not path.exists():
        return _no_such_path(args.path)
    command = console_command(path, args.overrides, Path(args.runs_dir), Path(args.sweeps_dir))
    address = Address(args.host or LOCAL_HOST, args.port, Path(args.socket) if args.socket else None)
    options = ServeOptions(command, address, Path(args.token_file) if args.token_file else None)
    return run_serve(options, serve_forever=serve_forever)


serve_forever = None
"""How `serve` listens and serves (None: for real, until ctrl+c); tests put a stand-in here."""


def _runs(args: argparse.Namespace) -> int:
    from .runs_table import print_runs

    return print_runs(Path(args.runs_dir))


def _presets(_args: argparse.Namespace) -> int:
    from ..config.builtin import list_presets_text

    sys.stdout.write(list_presets_text())
    return ExitCode.OK


def _open(args: argparse.Namespace) -> int:
    path = _console_path(args.path)
    if path is not None and not path.exists():
        return _no_such_path(args.path)
    from ..tui.app import run_console

    return run_console(
        path=path,
        overrides=args.overrides,
        runs_dir=Path(args.runs_dir),
        sweeps_dir=Path(args.sweeps_dir),
        trust_code=args.trust_code,
    )


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "open": _open,
    "train": _train,
    "submit": _submit,
    "check": _check,
    "eval": _eval,
    "predict": _predict,
    "export": _export,
    "explain": _explain,
    "review": _review,
    "find-lr": _find_lr,
    "sweep": _sweep,
    "serve": _serve,
    "runs": _runs,
    "presets": _presets,
}


def _console_path(arg: str | None) -> Path | None:
    """What the console opens: the path given, or the built-in preset it names (`tui-trainer smoke`)."""
    if arg is None or Path(arg).exists():
        return Path(arg) if arg is not None else None
    from ..config.builtin import resolve_preset_arg

    return resolve_preset_arg(arg)


def _no_such_path(arg: str) -> int:
    """The console's PATH is neither a file nor a built-in preset: one line, naming the built-in it is close to."""
    from ..config.builtin import builtin_presets, builtin_sweeps
    from ..text import close_match

    match = close_match(arg.removesuffix(".toml"), [*builtin_presets(), *builtin_sweeps()]) if "/" not in arg else None
    hint = f"; did you mean {match!r}?" if match else ""
    print(printable(f"tui-trainer: {arg}: no such file or folder{hint}"), file=sys.stderr)
    return ExitCode.USAGE


def _builtin_or_path(arg: str, sweep: bool) -> Path | None:
    """The file `arg` names (a path, or a built-in preset or sweep by name); None, with the one-line
    error printed, when there is none or it is a sweep where a preset goes (or the other way round)."""
    from ..config.builtin import resolve_preset_arg, unknown_preset_message, wrong_kind_message

    path = resolve_preset_arg(arg)
    if not path.exists():
        print(printable(f"error: {unknown_preset_message(arg, sweep)}"), file=sys.stderr)
        return None
    wrong = wrong_kind_message(arg, path, sweep)
    if wrong:
        print(printable(f"error: {wrong}"), file=sys.stderr)
        return None
    return path
