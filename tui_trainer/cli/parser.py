"""The `tui-trainer` command line: one sub-command per mode, each owning its options.

Only argparse is imported here: a sub-command's module (and torch, Textual) is imported when it
runs, so `tui-trainer check` never loads either.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from .. import __version__
from ..engine.cam_methods import DEFAULT_METHOD, METHODS
from ..engine.lr_range import DEFAULT_RANGE
from ..text import close_match
from .aliases import CONSOLE, as_subcommand

EXAMPLES = """\
examples:
  tui-trainer                                   open the console
  tui-trainer presets/seed.toml                 open a preset in the console
  tui-trainer runs/20261128-101500-seed         open a run (live if it is running)
  tui-trainer check presets/seed.toml           validate, print the resolved preset
  tui-trainer train smoke                       train a built-in preset without the console
  tui-trainer train --resume RUN_DIR            continue an interrupted run
  tui-trainer train --resume RUN --set train.epochs=60   train a finished run on to 60 epochs
  tui-trainer train tuned --fork RUN_DIR@10     a new run from epoch 10 of RUN_DIR
  tui-trainer train seed --run-dir DIR          start, resume or skip (finished) the run in DIR
  tui-trainer submit seed --nodes 2 --gpus-per-node 4   write an sbatch script for seed and submit it
  tui-trainer runs                              the runs in ./runs, as a table
  tui-trainer presets                           the built-in presets and sweeps, and those in ./presets
  tui-trainer eval RUN_DIR --data DATA_ROOT     score the best checkpoint on DATA_ROOT/test
  tui-trainer predict RUN_DIR photos/           classify images, CSV on stdout
  tui-trainer export RUN_DIR --format onnx      write RUN_DIR/export/best.onnx (+ .json)
  tui-trainer explain RUN_DIR --sample 7        where the model looked in validation image 7: cam-7.png
  tui-trainer review RUN_DIR --train            out-of-fold predictions to rank the training set's labels
  tui-trainer sweep smoke-sweep                 run (or continue) a hyper-parameter sweep
  tui-trainer find-lr presets/seed.toml         learning-rate range test, plotted here
  tui-trainer serve presets/seed.toml           the console in a browser: http://127.0.0.1:8000

The flag forms work too: --headless PRESET, --headless --resume RUN_DIR, --check, --eval RUN_DIR,
--predict RUN_DIR PATH..., --export RUN_DIR, --find-lr, --sweep SWEEP, --serve, --list-presets.
"""

SCHEDULE_CHOICES = ("constant", "restart", "continue")
"""`--schedule`: engine.continuation.SCHEDULE_POLICIES's names (argparse is all this module imports)."""

COMMANDS = (
    "open",
    "train",
    "submit",
    "check",
    "eval",
    "predict",
    "export",
    "explain",
    "review",
    "find-lr",
    "sweep",
    "serve",
    "runs",
    "presets",
)
"""Every sub-command; `open` (the console) is what a command line without one means."""

PRESET_HELP = "a preset file (.toml) or a built-in preset's name (smoke, seed)"

TRUST_HELP = (
    "let the run folder's (or the received sweep's) preset import the module its model.target names, "
    "from the installed packages or the current folder"
)


def _port(text: str) -> int:
    port = int(text)  # argparse turns the ValueError into "invalid _port value"
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port}: a port is a number from 1 to 65535")
    return port


_port.__name__ = "int"  # "invalid int value: 'http'"


def _at_least(minimum: int, why: str = "") -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum` ("invalid int value" otherwise)."""

    def number(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: must be at least {minimum}{why}")
        return value

    number.__name__ = "int"
    return number


_at_least_one = _at_least(1)
_at_least_two_folds = _at_least(2, " (cross-validation needs two folds)")


def _shared() -> dict[str, argparse.ArgumentParser]:
    """Options several sub-commands take, each spelt once."""
    overrides = argparse.ArgumentParser(add_help=False)
    overrides.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help='override a preset value, in TOML syntax (repeatable): --set optimizer.lr=0.01 --set data.root="/data"',
    )
    runs_dir = argparse.ArgumentParser(add_help=False)
    runs_dir.add_argument("--runs-dir", metavar="DIR", default="runs", help="where run folders go (default: ./runs)")
    sweeps_dir = argparse.ArgumentParser(add_help=False)
    sweeps_dir.add_argument(
        "--sweeps-dir", metavar="DIR", default="sweeps", help="where sweep folders go (default: ./sweeps)"
    )
    trust = argparse.ArgumentParser(add_help=False)
    trust.add_argument("--trust-code", action="store_true", help=TRUST_HELP)
    checkpoint = argparse.ArgumentParser(add_help=False)
    checkpoint.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which weights (default: best)"
    )
    return {"set": overrides, "runs": runs_dir, "sweeps": sweeps_dir, "trust": trust, "checkpoint": checkpoint}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tui-trainer",
        description="A terminal training console for image classifiers in PyTorch.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tui-trainer {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    shared = _shared()

    def command(name: str, help: str, *parents: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[shared[p] for p in parents])
        for folder in {"runs", "sweeps"} - set(parents):  # the flag forms took both with any mode: still allowed
            sub.add_argument(f"--{folder}-dir", default=folder, help=argparse.SUPPRESS)
        sub.set_defaults(usage_error=sub.error)
        return sub

    console = command("open", "the console (the default: `tui-trainer [PATH]`)", "set", "runs", "sweeps", "trust")
    console.add_argument(
        "path", nargs="?", help="a preset (.toml), a built-in preset's name (smoke, seed), a run or sweep folder"
    )

    train = command("train", "train PRESET without the console (for scripts, clusters)", "set", "runs", "trust")
    start = train.add_mutually_exclusive_group()
    start.add_argument("preset", nargs="?", metavar="PRESET", help=PRESET_HELP)
    start.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from last.pt; a finished one trains on with --set train.epochs=N",
    )
    train.add_argument(
        "--schedule",
        choices=SCHEDULE_CHOICES,
        help="with --resume --set train.epochs=N: the added epochs' learning rate: constant (the default: "
        "the lr the run ended with), restart (the preset's lr and schedule again over the added epochs) or "
        "continue (the schedule recomputed for the new total: the lr jumps back up)",
    )
    train.add_argument(
        "--fork",
        metavar="RUN_DIR@EPOCH",
        help="a new run starting from the weights of RUN_DIR's epoch EPOCH (kept by train.keep_every, or its "
        "last.pt or best.pt), with PRESET or, without one, RUN_DIR's preset and --set",
    )
    train.add_argument(
        "--run-dir",
        metavar="DIR",
        help="the run's folder: the same command starts the run there, resumes it, or exits 0 when it has "
        "finished (for SLURM requeues and restart loops)",
    )
    train.add_argument(
        "--log-every",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="with output that is not a terminal: a progress line every SECONDS (0: none; default 30)",
    )

    submit = command(
        "submit", "write an sbatch script that trains PRESET, print it and submit it (SLURM)", "set", "runs"
    )
    submit.add_argument("preset", metavar="PRESET", help=PRESET_HELP)
    submit.add_argument("--nodes", metavar="N", type=int, help="machines, one torchrun on each ([slurm] nodes; 1)")
    submit.add_argument(
        "--gpus-per-node", metavar="G", type=int, help="GPUs (processes) on each machine ([slurm] gpus_per_node; 0)"
    )
    submit.add_argument("--time", metavar="T", help='the time limit, "04:00:00" ([slurm] time)')
    submit.add_argument("--partition", metavar="P", help="the partition ([slurm] partition)")
    submit.add_argument("--account", metavar="A", help="the account to charge ([slurm] account)")
    submit.add_argument("--run-dir", metavar="DIR", help="the run's folder (default: a new one in --runs-dir)")
    submit.add_argument("--dry-run", action="store_true", help="print the script; write and submit nothing")

    check = command("check", "validate PRESET and print it with every default filled in", "set")
    check.add_argument("preset", metavar="PRESET", help=PRESET_HELP)

    evaluate = command("eval", "score a run's model on a test set", "checkpoint", "trust")
    evaluate.add_argument("run_dir", metavar="RUN_DIR", help="the run folder whose model is scored")
    evaluate.add_argument(
        "--data",
        metavar="PATH",
        help="a folder of <class>/<images>, or a dataset root whose test/ is used "
        "(default: the run's test/ split, else its validation split)",
    )
    evaluate.add_argument("--tta", action="store_true", help="average with the horizontally flipped image")

    predict = command("predict", "classify image files and folders, CSV on stdout", "checkpoint", "trust")
    predict.add_argument("run_dir", metavar="RUN_DIR", help="the run folder whose model classifies the images")
    predict.add_argument("paths", metavar="PATH", nargs="+", help="image files and folders")
    predict.add_argument("--top-k", type=int, default=3, metavar="K", help="classes per image (default: 3)")

    export = command("export", "write a run's model as a file to deploy", "checkpoint", "trust")
    export.add_argument("run_dir", metavar="RUN_DIR", help="the run folder whose model is written")
    export.add_argument(
        "--format",
        choices=("onnx", "torchscript", "safetensors"),
        default="onnx",
        help="the file's kind (default: onnx)",
    )
    export.add_argument("--out", metavar="PATH", help="the file (default: RUN_DIR/export/<checkpoint>.<ext>)")

    explain = command(
        "explain", "a PNG of where a run's model looked in one validation image: image | predicted | true", "trust"
    )
    explain.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run folder, or an evaluation folder (RUN_DIR/evals/NAME) for its images"
    )
    explain.add_argument(
        "--sample", type=int, required=True, metavar="INDEX", help="the image's # in the confusion gallery"
    )
    explain.add_argument("--out", metavar="PATH", help="the PNG (default: cam-INDEX.png here)")
    explain.add_argument(
        "--layer", metavar="NAME", help="the model's layer to explain at (default: its last feature map before pooling)"
    )
    explain.add_argument(
        "--method", choices=tuple(METHODS), default=DEFAULT_METHOD, help=f"the map (default: {DEFAULT_METHOD})"
    )

    review = command(
        "review", "rank a run's training images by how likely their label is wrong (cross-validation)", "trust"
    )
    review.add_argument("run_dir", metavar="RUN_DIR", help="the run folder whose training images are ranked")
    review.add_argument(
        "--train",
        action="store_true",
        help="the training set: K models trained on K-1 folds each predict the fold they never saw "
        "(writes their predictions into RUN_DIR)",
    )
    review.add_argument(
        "--folds", metavar="K", type=_at_least_two_folds, default=3, help="folds, one model each (default: 3)"
    )
    review.add_argument(
        "--epochs", metavar="E", type=_at_least_one, help="epochs per model (default: the run's train.epochs)"
    )
    review.add_argument(
        "--out", metavar="DIR", help="write the file in DIR instead of the run folder (a run folder not yours)"
    )

    find_lr = command("find-lr", "learning-rate range test on PRESET; suggests optimizer.lr (writes nothing)", "set")
    find_lr.add_argument("preset", metavar="PRESET", help=PRESET_HELP)
    lr = DEFAULT_RANGE
    find_lr.add_argument("--lr-steps", type=int, default=lr.steps, metavar="N", help=f"steps (default {lr.steps})")
    find_lr.add_argument(
        "--lr-start", type=float, default=lr.start, metavar="LR", help=f"first lr (default {lr.start:g})"
    )
    find_lr.add_argument("--lr-end", type=float, default=lr.end, metavar="LR", help=f"last lr (default {lr.end:g})")

    sweep = command("sweep", "run a sweep's trials without the console; rerun to continue", "set", "sweeps", "trust")
    sweep.add_argument("sweep", metavar="SWEEP", help="a sweep file or a built-in sweep's name")
    sweep.add_argument("--trials", metavar="N", type=_at_least_one, help="the study's total number of trials")

    serve = command("serve", "the console in a web browser (textual-serve)", "set", "runs", "sweeps")
    serve.add_argument("path", nargs="?", help="what the console opens: a preset or a run or sweep folder")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--host", metavar="HOST", help="the address to listen on (default: 127.0.0.1, this machine)")
    where.add_argument(
        "--socket",
        metavar="PATH",
        help="listen on a Unix socket that only you can open, instead of a port (reach it with ssh -L 8000:PATH)",
    )
    serve.add_argument("--port", metavar="PORT", type=_port, default=8000, help="the port (default: 8000)")
    serve.add_argument(
        "--token-file",
        metavar="PATH",
        help="the token browsers must show, read from this file (default: a random one, printed in the address)",
    )

    command("runs", "the runs in a runs folder as a table: state, epochs, best val acc, start", "runs")
    command("presets", "the built-in presets and sweeps (by name) and those in ./presets")
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """`argv` parsed, the documented flag forms (`--headless PRESET`, ...) taken as their sub-command.

    A misspelt sub-command (`trian`) and an option its sub-command does not take (`eval --dta`) are usage
    errors that say so with the likely meant word, in the sub-command's own usage."""
    parser = build_parser()
    words = as_subcommand(argv, COMMANDS, value_options(parser))
    if words[:1] == [CONSOLE] and argv[:1] != [CONSOLE]:
        _refuse_misspelt_command(parser, argv[0] if argv else None)
    args, extras = parser.parse_known_args(words)
    if extras:
        subs = _sub_parsers(parser)
        sub = subs[args.command]
        sub.error(f"unrecognized arguments: {' '.join(extras)}{_option_hint(sub, subs, extras)}")
    return args


def value_options(parser: argparse.ArgumentParser) -> frozenset[str]:
    """Every option, of any sub-command, that takes a value: what the flag forms' reading skips over."""
    parsers = (parser, *_sub_parsers(parser).values())
    return frozenset(
        option for sub in parsers for action in sub._actions if action.nargs != 0 for option in action.option_strings
    )


def _refuse_misspelt_command(parser: argparse.ArgumentParser, word: str | None) -> None:
    """A first word that is no file, no built-in preset and nearly a sub-command's name is that command misspelt."""
    if word is None or word.startswith("-") or os.path.exists(word):
        return
    match = close_match(word, COMMANDS)
    if match is None:
        return
    from ..config.builtin import resolve_preset_arg  # only now: reading the built-ins costs a TOML parse each

    if not resolve_preset_arg(word).exists():
        parser.error(f"no command, file or built-in preset {word!r}; did you mean `tui-trainer {match}`?")


def _sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each sub-command's parser by name (argparse keeps them on its sub-parsers action)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _option_hint(sub: argparse.ArgumentParser, subs: dict[str, argparse.ArgumentParser], extras: Sequence[str]) -> str:
    """ "; did you mean --data?" for the first unknown option close to one of `sub`'s; else that a preset value
    goes in --set, the command an option belongs to (`--host`: serve's), or where the options are listed."""
    mine = {o.removeprefix("--"): o for o in _options(sub)}
    unknown = [word.partition("=")[0] for word in extras if word.startswith("--")]
    for option in unknown:
        match = close_match(option.removeprefix("--"), mine)
        if match is not None:
            return f"; did you mean {mine[match]}?"
    hints = ["a preset value is --set section.key=VALUE"] if "--set" in mine.values() else []
    for option in unknown[:1]:
        owners = [f"`tui-trainer {name}`" for name, other in subs.items() if option in _options(other)]
        if owners:
            hints.append(f"{option} is an option of {' and '.join(owners)}")
    return f" ({'; '.join(hints or [f'{sub.prog} --help lists its options'])})"


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The long options `parser` shows in its help."""
    return [o for action in parser._actions if action.help != argparse.SUPPRESS for o in action.option_strings]
