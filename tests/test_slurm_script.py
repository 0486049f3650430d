"""`tui-trainer submit` without a cluster: the script's text and quoting, the `[slurm]` settings, what
squeue and sacct say, and a pending run as the runs list and a follower show it."""

from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import replace
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable, Static

from tests.console_kit import SIZE, wait_for
from tests.helpers import SMOKE
from tui_trainer.cli import main
from tui_trainer.cli.runs_table import runs_table
from tui_trainer.config.slurm_settings import SlurmSettings, load_slurm_settings
from tui_trainer.engine.events import SetupProgress
from tui_trainer.runs.folder import RunFolder
from tui_trainer.runs.follow import RunFollower
from tui_trainer.runs.slurm_queue import JobState, JobStateCache, parse_sacct, parse_squeue, query_jobs
from tui_trainer.runs.slurm_script import JobScript, sbatch_script
from tui_trainer.runs.state import RunState
from tui_trainer.runs.summary import list_runs, summarize
from tui_trainer.tui.common.user_config import load_user_config
from tui_trainer.tui.runs import screen as runs_screen
from tui_trainer.tui.runs.screen import RunsScreen

HOSTILE = "a b;touch x.toml"


def _exec_words(script: str) -> list[str]:
    """The words of the script's last command, as bash splits them (line continuations joined)."""
    command = script.split("\nexec ", 1)[1].replace("\\\n", " ")
    return shlex.split(command)


def test_two_nodes_of_two_gpus_run_one_torchrun_per_node_that_meet_at_the_first(tmp_path: Path) -> None:
    preset = tmp_path / HOSTILE
    run_dir = tmp_path / "runs" / "x; rm -rf ~"
    settings = SlurmSettings(nodes=2, gpus_per_node=2, time="01:00:00", partition="gpu", extra=("#SBATCH --qos=hi",))
    script = sbatch_script(JobScript(str(preset), run_dir, ("data.root=$(reboot)",), "smoke", settings))
    directives = [line for line in script.splitlines() if line.startswith("#SBATCH")]
    assert directives == [
        "#SBATCH --job-name=smoke",
        "#SBATCH --nodes=2",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --time=01:00:00",
        "#SBATCH --partition=gpu",
        "#SBATCH --requeue",
        "#SBATCH --signal=USR1@90",
        "#SBATCH --open-mode=append",
        f'#SBATCH --output="{run_dir}/slurm-%j.out"',
        "#SBATCH --qos=hi",
    ]
    assert 'head_node=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)' in script
    words = _exec_words(script)
    assert words[0] == "srun" and Path(words[1]).name == "torchrun"  # beside this Python when it has one
    assert " ".join(words[2:14]) == (
        "--nnodes $SLURM_NNODES --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint $head_node:$port "
        "--rdzv-id $SLURM_JOB_ID --signals-to-handle SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1"
    )
    # What the user or the preset wrote reaches train as one word each, never as shell.
    assert words[14:] == [
        "-m",
        "tui_trainer",
        "train",
        str(preset),
        "--run-dir",
        str(run_dir),
        "--set",
        "data.root=$(reboot)",
    ]
    assert f"'{preset}'" in script and "'data.root=$(reboot)'" in script


def test_one_node_without_gpus_is_one_train_process_that_the_batch_shell_signals(tmp_path: Path) -> None:
    script = sbatch_script(JobScript("smoke", tmp_path / "run", (), "smoke", SlurmSettings()))
    assert "#SBATCH --signal=B:USR1@90" in script and "srun" not in script and "--gpus" not in script
    assert _exec_words(script)[1:] == ["train", "smoke", "--run-dir", str(tmp_path / "run")]


def _settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_slurm_settings_are_read_and_bad_ones_are_named_with_file_line_and_key(tmp_path: Path) -> None:
    path = _settings_file(
        tmp_path,
        'theme = "nord"\n[slurm]\nnodes = 0\ngpus_per_node = 4\ntime = "4 hours"\npartition = "gpu;reboot"\n'
        'account = "proj-1"\nextra = ["#SBATCH --qos=hi", "--mem=1G"]\nqueue = "x"\n',
    )
    settings, problems = load_slurm_settings(path)
    assert settings == SlurmSettings(gpus_per_node=4, account="proj-1")
    lines = {p.key: (p.source, p.line) for p in problems}
    assert lines == {
        "slurm.nodes": (str(path), 3),
        "slurm.time": (str(path), 5),
        "slurm.partition": (str(path), 6),
        "slurm.extra": (str(path), 8),
        "slurm.queue": (str(path), 9),
    }
    assert "at least 1" in str(problems[0]) and "#SBATCH" in str(problems[3])
    assert load_user_config(path)[1] == []  # the console's own reading leaves [slurm] to its owner


def test_an_extra_line_cannot_add_a_shell_line_to_the_script(tmp_path: Path) -> None:
    path = _settings_file(tmp_path, '[slurm]\nextra = ["#SBATCH --qos=hi\\nrm -rf ~"]\n')
    settings, problems = load_slurm_settings(path)
    assert settings.extra == () and [p.key for p in problems] == ["slurm.extra"]


def test_submit_with_a_bad_setting_says_which_and_submits_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TUI_TRAINER_CONFIG", str(_settings_file(tmp_path, "[slurm]\nnodes = -1\n")))
    monkeypatch.chdir(tmp_path)
    assert main(["submit", str(SMOKE), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'config.toml'}:2: slurm.nodes: must be") and "Traceback" not in err
    assert main(["submit", str(SMOKE), "--dry-run", "--nodes", "1", "--time", "soon"]) == 2
    assert capsys.readouterr().err.startswith("error: --time: must be a time limit")  # --nodes stands for the file's
    assert not (tmp_path / "runs").exists()


def test_dry_run_prints_the_script_and_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "smoke", "--dry-run", "--nodes", "2", "--run-dir", "r"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("#!/bin/bash\n") and "#SBATCH --nodes=2" in out
    assert f"--run-dir {tmp_path / 'r'}" in out and not (tmp_path / "r").exists()


def test_submit_without_sbatch_says_so_in_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "smoke"]) == 2
    err = capsys.readouterr().err
    assert err == "error: sbatch is not on PATH: submit from a SLURM login node (or use --dry-run)\n"
    assert not (tmp_path / "runs").exists()


def test_squeue_and_sacct_lines_become_states_with_reasons() -> None:
    assert parse_squeue("12|PENDING|Priority\n13|RUNNING|None\nnoise\n") == {
        "12": JobState("12", "PENDING", "Priority"),
        "13": JobState("13", "RUNNING"),
    }
    assert JobState("12", "PENDING", "BeginTime").text == "PENDING (BeginTime)"
    assert parse_sacct("14|CANCELLED by 0\n15|COMPLETED\n") == {
        "14": JobState("14", "CANCELLED"),
        "15": JobState("15", "COMPLETED"),
    }


def test_a_job_squeue_has_forgotten_is_asked_of_sacct(monkeypatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    asked = []

    def run(args):
        asked.append(args[0])
        if args[0] == "squeue":
            return "7|RUNNING|None\n" if args[5] == "7" else None  # squeue fails on a purged id
        return "8|COMPLETED\n"

    assert query_jobs(["7", "8"], run) == {"7": JobState("7", "RUNNING"), "8": JobState("8", "COMPLETED")}
    assert asked == ["squeue", "squeue", "sacct"]


def test_a_job_id_that_slurm_would_not_write_is_never_asked(monkeypatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    asked = []

    def run(args):
        asked.append(args[5])
        return None

    query_jobs(["12", "12_3", "-u root", "1,2", "$(reboot)", ""], run)  # a run folder someone else wrote
    assert asked == ["12", "12_3", "12,12_3"]  # squeue for each plausible id, then sacct for both


def test_no_slurm_on_the_machine_asks_nothing(monkeypatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert query_jobs(["7"], lambda args: pytest.fail("asked")) == {}


def test_job_states_are_cached_between_rescans() -> None:
    calls = []
    cache = JobStateCache(lambda ids: calls.append(sorted(ids)) or {i: JobState(i, "RUNNING") for i in ids})
    assert cache.states(["1"], now=100.0) == {"1": JobState("1", "RUNNING")}
    assert cache.states(["1"], now=105.0) == {"1": JobState("1", "RUNNING")}
    cache.states(["1", "2"], now=106.0)
    cache.states(["1"], now=200.0)
    assert calls == [["1"], ["2"], ["1"]]


def _pending_run(tmp_path: Path, job_id: str = "123") -> RunFolder:
    folder = RunFolder.create_at(tmp_path / "runs" / "submitted")
    folder.change_state(RunState.PENDING, preset_name="smoke", epochs_planned=3)
    folder.write_status(slurm_job_id=job_id)
    return folder


def test_a_submitted_run_is_listed_pending_with_its_jobs_state_beside(tmp_path: Path) -> None:
    _pending_run(tmp_path)
    run = summarize(tmp_path / "runs" / "submitted")
    assert (run.state, run.slurm_job_id) == ("pending", "123")
    plain = runs_table([run]).splitlines()
    assert plain[0].split()[:2] == ["name", "state"] and "slurm job" not in plain[0]  # no SLURM, no column
    table = runs_table([replace(run, job=JobState("123", "PENDING", "Priority"))]).splitlines()
    assert re.split(r"\s{2,}", table[0])[:3] == ["name", "state", "slurm job"]
    assert table[1].split()[:5] == ["submitted", "pending", "123", "PENDING", "(Priority)"]


def test_a_submitted_run_whose_job_was_cancelled_before_it_started_reads_never_started(tmp_path: Path) -> None:
    _pending_run(tmp_path)
    run = replace(summarize(tmp_path / "runs" / "submitted"), job=JobState("123", "CANCELLED"))
    assert run.label == "never started"
    assert runs_table([run]).splitlines()[1].split()[:5] == ["submitted", "never", "started", "123", "CANCELLED"]
    assert replace(run, job=JobState("123", "PENDING", "Priority")).label == "pending"  # still waiting: pending


def test_a_pending_run_opens_waiting_for_its_job_and_then_follows_it(tmp_path: Path, monkeypatch) -> None:
    folder = _pending_run(tmp_path)
    monkeypatch.setattr("shutil.which", lambda name: None)  # no squeue here: the job id alone
    events = []
    follower = RunFollower(folder.path, [events.append])
    follower.poll()
    assert events == [SetupProgress(stage="waiting for SLURM job 123", done=0, total=0)] and not follower.done
    folder.change_state(RunState.RUNNING, classes=None)  # the job has started: setting up
    follower.poll()
    assert events[-1] == SetupProgress(stage="setting up the run (loading data)", done=0, total=0)


def test_listing_stays_whole_with_a_pending_run(tmp_path: Path) -> None:
    _pending_run(tmp_path)
    assert [run.state for run in list_runs(tmp_path / "runs")] == ["pending"]


def test_the_runs_screen_shows_the_jobs_state_beside_the_folders(tmp_path: Path, monkeypatch) -> None:
    _pending_run(tmp_path)
    said = JobState("123", "PENDING", "Priority")
    monkeypatch.setattr(runs_screen, "with_job_states", lambda runs: [replace(run, job=said) for run in runs])

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(RunsScreen(tmp_path / "runs"))

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=SIZE) as pilot:
            table = app.screen.query_one("#runs-table", DataTable)
            await wait_for(pilot, lambda: "PENDING" in str(table.get_row_at(0)[1]))
            assert str(table.get_row_at(0)[1]) == "pending · PENDING (Priority)"
            detail = str(app.screen.query_one("#runs-detail", Static).render())
            assert "SLURM job 123: PENDING (Priority)" in detail

    asyncio.run(scenario())
