"""A sweep's storage: four workers killed at random on one study (a real PostgreSQL, a real MariaDB, a journal file),
Optuna's heartbeat and retry for a trial of a lost machine, and a database password never printed."""

from __future__ import annotations

import asyncio
import glob
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import SMOKE, TINY, free_port, terminate
from tui_trainer.config.sweep_file import load_sweep
from tui_trainer.runs.sweep_study import SweepFolder, load_study, trial_rows

optuna = pytest.importorskip("optuna")

GRID = {"loss.smoothing": [0.0, 0.05, 0.1], "optimizer.lr": [0.001, 0.01]}
KILLS = 3


def write_sweep(folder: Path, storage: str, body: str, name: str = "s") -> Path:
    path = folder / f"{name}.toml"
    sets = ", ".join(f'"{s}"' for s in (*TINY, "data.synthetic_train_size=320"))
    path.write_text(
        f'name = "{name}"\npreset = "{SMOKE.as_posix()}"\nstorage = "{storage}"\nset = [{sets}]\n{body}',
        encoding="utf-8",
    )
    return path


def _initdb() -> str | None:
    found = shutil.which("initdb") or sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A PostgreSQL server of its own (initdb + pg_ctl in a temporary folder, a free port): its URL.

    The URL carries a password (the server trusts local connections, so any will do) that the
    tests check is never printed."""
    initdb = _initdb()
    if initdb is None:
        pytest.skip("PostgreSQL is not installed (initdb not found; Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'tui-trainer[sweep]'")
    bin_dir = Path(initdb).parent
    place = Path(tempfile.mkdtemp(prefix="pg-"))
    user = "nobody" if os.geteuid() == 0 else None  # initdb refuses root
    if user is not None:
        shutil.chown(place, user)
    port = free_port()
    data = place / "data"

    def run(*args: str) -> None:
        subprocess.run(args, check=True, user=user, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
    options = f"-p {port} -k {place} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(place / "log"), "-w", "start")
    try:
        yield f"postgresql://postgres:s3cret-pw@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user=user, capture_output=True
        )
        shutil.rmtree(place, ignore_errors=True)


def _mariadb() -> tuple[str, str] | None:
    """MariaDB's server and its data folder maker, where installed (Debian keeps the server in /usr/sbin)."""
    path = os.pathsep.join((os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"))
    server = shutil.which("mariadbd", path=path) or shutil.which("mysqld", path=path)
    install = shutil.which("mariadb-install-db", path=path) or shutil.which("mysql_install_db", path=path)
    return (server, install) if server and install else None


@pytest.fixture(scope="module")
def mysql() -> Iterator[str]:
    """A MariaDB server of its own (mariadb-install-db + mariadbd in a temporary folder, a free port): its URL.

    The URL names a user made at start-up with a real password, so the server checks it and the tests
    check it is never printed."""
    found = _mariadb()
    if found is None:
        pytest.skip(
            "MariaDB is not installed (no mariadbd or mariadb-install-db; Debian: apt-get install mariadb-server)"
        )
    pymysql = pytest.importorskip("pymysql", reason="pymysql is missing: pip install 'tui-trainer[sweep]'")
    server, install = found
    place = Path(tempfile.mkdtemp(prefix="mariadb-"))
    user = "nobody" if os.geteuid() == 0 else None  # mariadbd refuses root
    (place / "init.sql").write_text(
        "CREATE USER 'sweeper'@'127.0.0.1' IDENTIFIED BY 's3cret-pw';\n"
        "CREATE DATABASE sweeps;\n"
        "GRANT ALL ON sweeps.* TO 'sweeper'@'127.0.0.1';\n",
        encoding="utf-8",
    )
    if user is not None:
        shutil.chown(place, user)
        shutil.chown(place / "init.sql", user)
    port, data = free_port(), place / "data"
    subprocess.run(
        [install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True,
        user=user,
        capture_output=True,
        timeout=120,
    )
    options = [
        f"--datadir={data}",
        f"--socket={place / 'sock'}",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--pid-file={place / 'pid'}",
        f"--log-error={place / 'log'}",
        f"--init-file={place / 'init.sql'}",
        "--skip-name-resolve",
        "--innodb-flush-log-at-trx-commit=0",
        "--max-connections=100",
    ]
    process = subprocess.Popen(
        [server, "--no-defaults", *options], user=user, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                pymysql.connect(
                    host="127.0.0.1", port=port, user="sweeper", password="s3cret-pw", database="sweeps"
                ).close()
                break
            except pymysql.err.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (place / "log").read_text(errors="replace") if (place / "log").exists() else ""
                    pytest.fail(f"MariaDB did not start:\n{log[-2000:]}")
                time.sleep(0.1)
        yield f"mysql+pymysql://sweeper:s3cret-pw@127.0.0.1:{port}/sweeps"
    finally:
        terminate(process)
        shutil.rmtree(place, ignore_errors=True)


DATABASES = {"postgres": pytest.mark.postgres, "mysql": pytest.mark.mysql}
"""The database servers a test can start: fixture name -> the mark that selects (or leaves out) its tests."""


@pytest.fixture(params=["journal", *(pytest.param(name, marks=mark) for name, mark in DATABASES.items())])
def storage(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(request.param) if request.param in DATABASES else "journal"


def worker(path: Path, sweeps: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "tui_trainer", "--sweep", str(path), "--sweeps-dir", str(sweeps)]
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        )


@pytest.mark.slow
def test_four_workers_killed_at_random_end_with_each_grid_point_once(tmp_path: Path, storage: str) -> None:
    """4 workers on one study; kill -9 at random moments, each replaced at once (as a requeued job)."""
    space = "".join(f'"{k}" = {v}\n' for k, v in GRID.items())
    path = write_sweep(tmp_path, storage, f'sampler = "grid"\n[pruner]\nname = "none"\n[space]\n{space}')
    sweeps, log = tmp_path / "sweeps", tmp_path / "workers.log"
    workers = [worker(path, sweeps, log) for _ in range(4)]
    chance = random.Random()
    kills = 0
    deadline = time.monotonic() + 240
    while kills < KILLS and any(w.poll() is None for w in workers):
        time.sleep(chance.uniform(0.5, 3.0))
        alive = [w for w in workers if w.poll() is None]
        if not alive:
            break
        victim = chance.choice(alive)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        kills += 1
        workers[workers.index(victim)] = worker(path, sweeps, log)
    for w in workers:
        w.wait(timeout=max(1.0, deadline - time.monotonic()))
    outputs = log.read_text(errors="replace")
    assert [w.returncode for w in workers] == [0] * 4, outputs[-3000:]

    folder = SweepFolder(sweeps / "s")
    study = load_study(folder)  # from the journal file or the database that sweep.toml names
    done = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    points = [(t.params["loss.smoothing"], t.params["optimizer.lr"]) for t in done]
    grid = [(s, lr) for s in GRID["loss.smoothing"] for lr in GRID["optimizer.lr"]]
    print(
        f"{storage.split(':')[0]}: {len(done)} trials finished, {kills} kills, {len(points) - len(set(points))} twice"
    )
    assert sorted(points) == sorted(grid)  # exactly the grid, no point twice
    rows = trial_rows(study)  # what the sweep screen shows
    assert sorted(r.number for r in rows if r.state == "finished") == sorted(t.number for t in done)
    assert not [r for r in rows if r.state in ("running", "waiting", "stale")]
    assert "s3cret-pw" not in outputs
    _screen_shows(folder, len(grid))


def _screen_shows(folder: SweepFolder, finished: int) -> None:
    """The sweep screen opened on the folder reads the study from where sweep.toml says, password hidden."""
    from textual.app import App

    from tui_trainer.tui.common.confirm_screen import ConfirmScreen
    from tui_trainer.tui.sweep.screen import SweepScreen

    class Host(App[None]):
        def on_mount(self) -> None:
            self.push_screen(SweepScreen(folder.path))

    async def scenario() -> None:
        app = Host()
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(100):
                if isinstance(app.screen, ConfirmScreen):  # a database named by the folder: asked first
                    await pilot.press("y")
                if getattr(app.screen, "rows", None):
                    break
                await pilot.pause(0.1)
            screen = app.screen
            assert sum(r.state == "finished" for r in screen.rows) == finished
            assert "s3cret-pw" not in screen.sub_title

    asyncio.run(scenario())


@pytest.fixture(params=[pytest.param(name, marks=mark) for name, mark in DATABASES.items()])
def database(request: pytest.FixtureRequest) -> str:
    """The URL of each database server a test can start."""
    return request.getfixturevalue(request.param)


def test_a_worker_waits_its_turn_on_the_database_whatever_the_sweeps_name(tmp_path: Path, database: str) -> None:
    """The lock the server holds for a sweep keeps a second worker out until the first is done; the longest
    sweep names, not ASCII, take their own lock (not one shared with a sweep named alike)."""
    from tui_trainer.runs.sweep_storage import study_lock

    name = "😀" * 78  # a sweep name is up to 80 characters
    one, neighbour = tmp_path / f"{name}-a", tmp_path / f"{name}-b"

    def enter(folder: Path) -> threading.Event:
        entered = threading.Event()

        def take_turn() -> None:
            with study_lock(folder, database):
                entered.set()

        threading.Thread(target=take_turn, daemon=True).start()
        return entered

    with study_lock(one, database):
        assert enter(neighbour).wait(60)
        second = enter(one)
        assert not second.wait(1.0)  # held: the second worker waits
    assert second.wait(60)


@pytest.fixture(params=["sqlite", *(pytest.param(name, marks=mark) for name, mark in DATABASES.items())])
def beating_storage(request: pytest.FixtureRequest) -> str:
    """The storages with Optuna's heartbeat: sqlite, and each database server a test can start."""
    return request.getfixturevalue(request.param) if request.param in DATABASES else "sqlite"


def test_a_trial_of_a_lost_machine_is_run_again_by_optunas_heartbeat_in_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, beating_storage: str
) -> None:
    """A database storage: a trial whose machine stopped beating is failed by Optuna and retried."""
    from tui_trainer.runs import sweep_storage
    from tui_trainer.runs.sweep import next_trial, open_study, suggest

    monkeypatch.setattr(sweep_storage, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(sweep_storage, "GRACE_SECONDS", 1)
    body = 'sampler = "random"\ntrials = 2\n[space]\n"model.width" = [4, 8]\n'
    spec = load_sweep(write_sweep(tmp_path, beating_storage, body, name="lost"))
    folder = SweepFolder(tmp_path / "sweeps" / "lost")
    study = open_study(spec, folder)
    lost = study.ask()
    values = suggest(lost, spec)
    lost.set_user_attr("host", "a-node-that-is-gone")
    lost.set_user_attr("run_dir", "/shared/sweeps/s/trials/s-t000")
    study._storage.record_heartbeat(lost._trial_id)  # its last beat
    time.sleep(2.5)  # past the grace period

    retry = next_trial(study, spec, folder, 2, set())
    trials = study.get_trials(deepcopy=False)
    assert trials[0].state == optuna.trial.TrialState.FAIL
    again = trials[retry.number]
    assert again.system_attrs["retry_history"] == [0] and suggest(retry, spec) == values
    assert again.user_attrs["resume_dir"] == "/shared/sweeps/s/trials/s-t000"  # continues in its folder


def test_a_database_password_is_never_printed() -> None:
    from tui_trainer.config.sweep_file import masked

    assert masked("postgresql://me:p%40ss@db.lab:5432/sweeps") == "postgresql://me:***@db.lab:5432/sweeps"
    assert (
        masked("mysql+pymysql://me@db/x?password=hush&charset=utf8")
        == "mysql+pymysql://me@db/x?password=***&charset=utf8"
    )
    assert masked("postgresql://db.lab/sweeps") == "postgresql://db.lab/sweeps"


def _headless(tmp_path: Path, storage: str) -> tuple[int, str]:
    """A sweep on `storage` run as `tui-trainer --sweep`: its exit status and all it printed."""
    from tui_trainer.cli.sweep import run_sweep_headless

    path = write_sweep(tmp_path, storage, '[space]\n"model.width" = [4, 8]\n')
    out, err = io.StringIO(), io.StringIO()
    status = run_sweep_headless(path, tmp_path / "sweeps", out=out, err=err)
    return status, out.getvalue() + err.getvalue()


@pytest.mark.parametrize(("scheme", "driver"), [("postgresql", "psycopg"), ("mysql+pymysql", "pymysql")])
def test_an_unreachable_database_is_named_with_its_password_masked(tmp_path: Path, scheme: str, driver: str) -> None:
    pytest.importorskip(driver)
    port = free_port()
    status, printed = _headless(tmp_path, f"{scheme}://me:s3cret-pw@127.0.0.1:{port}/sweeps")
    assert status == 2
    assert f"{scheme}://me:***@127.0.0.1:{port}/sweeps" in printed and "s3cret-pw" not in printed


@pytest.mark.mysql
def test_a_wrong_database_password_is_refused_by_the_server_and_never_printed(tmp_path: Path, mysql: str) -> None:
    status, printed = _headless(tmp_path, mysql.replace("s3cret-pw", "not-the-s3cret-pw"))
    assert status == 2 and "Access denied" in printed
    assert "mysql+pymysql://sweeper:***@127.0.0.1" in printed and "s3cret-pw" not in printed


def test_a_database_url_whose_driver_is_missing_says_what_to_install(tmp_path: Path) -> None:
    """SQLAlchemy's plain mysql:// wants mysqlclient (MySQLdb), which the sweep extra does not bring."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("mysqlclient is installed here: mysql:// has its driver")
    status, printed = _headless(tmp_path, f"mysql://me:s3cret-pw@127.0.0.1:{free_port()}/sweeps")
    assert status == 2 and len(printed.strip().splitlines()) == 1
    assert "MySQLdb" in printed and "pip install 'tui-trainer[sweep]'" in printed and "mysql+pymysql://" in printed
    assert "s3cret-pw" not in printed


def test_a_storage_that_is_neither_file_nor_database_is_refused_without_its_password(tmp_path: Path) -> None:
    from tui_trainer.config import PresetError

    path = write_sweep(tmp_path, "postgres://me:s3cret-pw@db/sweeps", '[space]\n"model.width" = [4, 8]\n')
    with pytest.raises(PresetError) as caught:
        load_sweep(path)
    (problem,) = [str(p) for p in caught.value.problems]
    assert problem.startswith(f"{path}:3: storage: got 'postgres://me:***@db/sweeps'") and "s3cret" not in problem


@pytest.mark.parametrize(
    "url",
    [
        "mysql+pymysql://me:s3cret-pw@db/sweeps?charset=utf8mb4&local_infile=1",
        "mysql+pymysql://me:s3cret-pw@db/sweeps?charset=utf8mb4&client_flag=128",
        "mysql+pymysql://me:s3cret-pw@db/sweeps?charset=utf8mb4&read_default_file=~/.my.cnf",
        "postgresql://me:s3cret-pw@db/sweeps?sslmode=require&gssdelegation=1",
        "postgresql://me:s3cret-pw@db/sweeps?sslmode=require&passfile=/home/me/.pgpass",
        "postgresql+psycopg://me:s3cret-pw@db/sweeps?sslmode=require&sslkey=/home/me/.postgresql/postgresql.key",
    ],
)
def test_a_database_url_that_would_hand_the_server_the_users_files_or_credentials_is_refused(
    tmp_path: Path, url: str
) -> None:
    """A sweep file someone else wrote cannot have a database server read the user's files or learn their
    password or Kerberos credentials: only the URL options that cannot are taken."""
    from tui_trainer.config import PresetError

    option = url.rsplit("&", 1)[1]
    path = write_sweep(tmp_path, url, "[space]\nx = [1]\n")
    with pytest.raises(PresetError) as caught:
        load_sweep(path)
    (problem,) = [str(p) for p in caught.value.problems]
    assert f"not {option.split('=')[0]!r}" in problem and "s3cret" not in problem


def _grid_study(tmp_path: Path):
    from tui_trainer.runs.sweep import open_study

    space = "\n".join(f'"{k}" = {v}' for k, v in GRID.items())
    spec = load_sweep(write_sweep(tmp_path, "journal", f'sampler = "grid"\n[pruner]\nname = "none"\n[space]\n{space}'))
    folder = SweepFolder.for_spec(tmp_path / "sweeps", spec)
    return spec, folder, open_study(spec, folder)


def _asked_then_killed(study) -> dict:
    """A worker that queued the first grid point and asked for it, then died before drawing its values or
    naming its process (a kill -9 in those milliseconds)."""
    point = {k: v[0] for k, v in GRID.items()}
    study.enqueue_trial(point)
    study.ask()
    return point


def test_a_trial_whose_worker_died_before_naming_its_process_is_run_again_at_once(tmp_path: Path) -> None:
    from tui_trainer.runs.sweep import next_trial, suggest

    spec, folder, study = _grid_study(tmp_path)
    orphan = _asked_then_killed(study)
    trial = next_trial(study, spec, folder, target=6, mine=set())
    assert suggest(trial, spec) == orphan  # failed, queued again and handed out: no point lost, none twice
    assert study.get_trials(deepcopy=False)[0].state == optuna.trial.TrialState.FAIL


def test_a_point_another_worker_is_still_drawing_is_not_handed_out_again(tmp_path: Path) -> None:
    """Workers take turns to ask, but draw their values after their turn: one seen with half its values drawn
    still holds its whole point."""
    from tui_trainer.runs.sweep import next_trial, suggest

    spec, folder, study = _grid_study(tmp_path)
    mine: set[int] = set()
    drawing = next_trial(study, spec, folder, target=6, mine=mine)
    drawing.suggest_categorical(
        "loss.smoothing", GRID["loss.smoothing"]
    )  # the first of its two values, from its queued point
    other = next_trial(study, spec, folder, target=6, mine=mine)
    assert suggest(other, spec) != suggest(drawing, spec)


def test_a_dead_trial_failed_by_a_worker_killed_before_queuing_it_again_is_queued_by_the_next(
    tmp_path: Path,
) -> None:
    from tui_trainer.runs.sweep import next_trial, suggest

    spec, folder, study = _grid_study(tmp_path)
    orphan = _asked_then_killed(study)
    study.tell(0, state=optuna.trial.TrialState.FAIL)  # the cleaner's first step; then it was killed too
    trial = next_trial(study, spec, folder, target=6, mine=set())
    assert suggest(trial, spec) == orphan
    assert trial.number == 1 and len(study.get_trials(deepcopy=False)) == 2


def _asked_on_another_machine(study) -> tuple[object, dict]:
    """A trial of the first grid point, running on a node this machine cannot see (its pid means nothing here)."""
    point = {k: v[0] for k, v in GRID.items()}
    study.enqueue_trial(point)
    trial = study.ask()
    trial.set_user_attr("pid", 4242)
    trial.set_user_attr("host", "node-that-was-preempted")
    return trial, point


def test_a_journal_trial_of_a_machine_whose_beat_went_quiet_is_run_again(tmp_path: Path, monkeypatch) -> None:
    """The journal file has no Optuna heartbeat: a trial beats in the sweep folder, and one whose beat is older
    than the grace (its node lost, its job requeued elsewhere) is failed and its point handed out again."""
    from tui_trainer.runs import sweep, sweep_storage

    monkeypatch.setattr(sweep_storage, "GRACE_SECONDS", 60)
    spec, folder, study = _grid_study(tmp_path)
    lost, point = _asked_on_another_machine(study)
    beat = sweep_storage.beat_file(folder.path, lost.number)
    sweep_storage.write_beat(beat)
    alive = sweep.next_trial(study, spec, folder, target=6, mine=set())
    assert sweep.suggest(alive, spec) != point  # beating: its point stays taken

    beat.write_text(f"{time.time() - 61}\n")  # its last beat, a minute and a second ago
    again = sweep.next_trial(study, spec, folder, target=6, mine={alive.number})
    assert sweep.suggest(again, spec) == point
    assert study.get_trials(deepcopy=False)[lost.number].state == optuna.trial.TrialState.FAIL


def test_a_journal_trial_killed_before_its_first_beat_is_run_again_after_the_grace(tmp_path: Path, monkeypatch) -> None:
    from tui_trainer.runs import sweep, sweep_storage

    spec, folder, study = _grid_study(tmp_path)
    _, point = _asked_on_another_machine(study)
    monkeypatch.setattr(sweep_storage, "GRACE_SECONDS", 0.5)
    time.sleep(0.6)
    again = sweep.next_trial(study, spec, folder, target=6, mine=set())
    assert sweep.suggest(again, spec) == point


def test_a_journal_trial_beats_in_the_sweep_folder_while_it_runs_and_not_after(tmp_path: Path, monkeypatch) -> None:
    from tui_trainer.engine.events import EpochFinished
    from tui_trainer.runs import sweep_storage
    from tui_trainer.runs.sweep import run_sweep

    monkeypatch.setattr(sweep_storage, "HEARTBEAT_SECONDS", 0.05)
    spec = load_sweep(
        write_sweep(tmp_path, "journal", 'sampler = "random"\ntrials = 1\n[space]\n"model.width" = [4]\n')
    )
    sweeps = tmp_path / "sweeps"
    beat = sweep_storage.beat_file(sweeps / "s", 0)
    seen: list[float | None] = []

    def listener(event: object) -> None:
        if isinstance(event, EpochFinished):
            seen.append(sweep_storage.last_beat(beat))

    outcome = run_sweep(spec, sweeps, listeners=[listener])
    assert outcome.ran == 1 and seen and all(b is not None and time.time() - b < 30 for b in seen)
    assert not beat.exists()


def test_a_beat_is_never_written_through_a_linked_beats_folder(tmp_path: Path) -> None:
    """A sweep folder someone else made may hold `heartbeats` as a link to another folder of the user's."""
    from tui_trainer.runs import sweep_storage

    elsewhere, sweep = tmp_path / "elsewhere", tmp_path / "sweeps" / "s"
    elsewhere.mkdir()
    sweep.mkdir(parents=True)
    (sweep / sweep_storage.BEATS_FOLDER).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match="is a link"):
        sweep_storage.write_beat(sweep_storage.beat_file(sweep, 0))
    assert list(elsewhere.iterdir()) == []
