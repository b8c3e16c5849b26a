"""Open the store, SQLite (the embedded default) or PostgreSQL (several replicas), with the
settings every writer relies on.

``INFOSHARE_DB`` / ``--db`` name it: a path or ``sqlite:///path`` is a SQLite file; a URL
``postgresql://user@host:port/db`` is a PostgreSQL database (:mod:`storage.postgres`). Both
give the same small surface (``db.execute``, ``db.conn``, :class:`transaction`); the storage
modules write SQL once, in the syntax both share, and ask :func:`dialect` where they differ.

**The locking rule.** Every storage function that writes owns its transaction (:class:`transaction`:
``BEGIN IMMEDIATE`` ... ``COMMIT``), and a caller that needs several writes to stand or fall
together wraps them in one more: the inner ones then nest as savepoints. The engine does that
for a whole turn (the delivery key, the conversation's state, an audit append, a content gap:
one commit), and :class:`GroupCommit` for a batch of turns. Threads share a SQLite connection
only under :func:`db_lock`, taken before any conversation's own lock; on PostgreSQL each
transaction has a pooled connection of its own and :func:`db_lock` holds nothing.

Example:
    >>> db = open_db(":memory:")
    >>> db.execute("pragma journal_mode").fetchone()[0] in ("wal", "memory")
    True
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

DEFAULT_DB = "infoshare.db"
"""Database file used when neither ``--db`` nor ``INFOSHARE_DB`` names one (in the working directory)."""

BUSY_TIMEOUT_MS = 30_000


def default_db_path() -> str:
    """The database path: ``INFOSHARE_DB`` if set, else ``infoshare.db`` in the working directory."""
    return os.environ.get("INFOSHARE_DB") or DEFAULT_DB


Database = Any
"""What :func:`open_db` returns: a ``sqlite_utils.Database`` or a :class:`storage.postgres.PgDatabase`."""


class DatabaseProblem(Exception):
    """The database cannot be used as it is: the message names the file or server and what is wrong."""


def is_postgres_url(target: str) -> bool:
    return target.split("://", 1)[0].lower() in ("postgresql", "postgres") and "://" in target


def sqlite_path(target: str) -> str:
    """The SQLite file a ``--db`` / ``INFOSHARE_DB`` value names: a plain path, or a URL
    ``sqlite:///relative/path`` or ``sqlite:////absolute/path``. Any other URL scheme is refused
    with :class:`DatabaseProblem` (``postgresql://`` is opened by :func:`open_db`, never here):
    a URL must never become a file of that name."""
    if target.startswith("sqlite:///"):
        return target[len("sqlite:///"):] or ":memory:"
    scheme = target.split(":", 1)[0].lower() if "://" in target else ""
    if scheme:
        raise DatabaseProblem(f"{scheme}://...: not a database this version knows; give a file path, "
                              f"sqlite:///path or postgresql://user@host:port/db")
    return target


def dialect(db: Database) -> str:
    """``"sqlite"`` or ``"postgresql"``: which SQL a storage function speaks to ``db``."""
    return getattr(db, "dialect", "sqlite")


def _check_path(path: str) -> None:
    p = Path(path)
    if p.is_dir():
        raise DatabaseProblem(f"{path}: is a directory, not a database file")
    if not p.parent.is_dir():
        raise DatabaseProblem(f"{path}: its folder {str(p.parent)!r} does not exist")
    if p.exists() and not os.access(p, os.W_OK):
        raise DatabaseProblem(f"{path}: the file is read-only (infoshare records decisions, so it must be writable)")
    if not p.exists() and not os.access(p.parent, os.W_OK):
        raise DatabaseProblem(f"{path}: cannot create the file, its folder is not writable")


def open_db(path: str | os.PathLike[str] | None = None, readonly: bool = False) -> Database:
    """Open the store ``path`` names (default :func:`default_db_path`).

    SQLite: the file is created if needed, with WAL, ``synchronous=FULL`` and a busy timeout.
    The connection runs in autocommit mode (``isolation_level=None``): every write that must be
    atomic is wrapped in an explicit ``BEGIN IMMEDIATE`` ... ``COMMIT`` by the caller
    (see :func:`transaction`).

    PostgreSQL (``postgresql://...``): a pool of connections (:mod:`storage.postgres`); the
    server's own settings make commits durable. ``readonly`` opens it as any other reader.
    """
    target = str(path or default_db_path())
    if is_postgres_url(target):
        from storage.postgres import PgDatabase, pool_settings
        return PgDatabase(target, **pool_settings())
    path = sqlite_path(target)
    if path != ":memory:" and not readonly:
        _check_path(path)
    try:
        if readonly:
            if not Path(path).is_file():
                raise DatabaseProblem(f"{path}: no such database file")
            conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        else:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        conn.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("select count(*) from sqlite_master").fetchone()  # a file that is not SQLite fails here
        if path != ":memory:" and not readonly:
            _use_wal(conn)
        conn.execute("pragma synchronous = full")
        conn.execute("pragma foreign_keys = on")
    except sqlite3.DatabaseError as exc:
        raise DatabaseProblem(f"{path}: {_plain_reason(exc)}") from None
    db = sqlite_utils.Database(conn)
    db.lock = threading.RLock()  # type: ignore[attr-defined]
    db.dialect = "sqlite"  # type: ignore[attr-defined]
    return db


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode, waiting up to the busy timeout for another connection's write.

    Switching a new file to WAL takes the write lock while this connection reads it. When another
    connection holds that lock (a second server opening the same new file and creating its tables),
    SQLite answers "database is locked" at once rather than risk a deadlock, without its busy
    timeout; so the switch is retried here, with short pauses, until that timeout has passed.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            conn.execute("pragma journal_mode = wal").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if not str(exc).startswith(("database is locked", "database is busy")) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _plain_reason(exc: sqlite3.DatabaseError) -> str:
    text = str(exc)
    if "not a database" in text:
        return "not an SQLite database file (or encrypted)"
    if "malformed" in text:
        return "the database file is damaged (a corrupt page); restore it from a backup"
    if "readonly" in text:
        return "the file is read-only"
    return text


def db_lock(db: Database) -> threading.RLock:
    """The lock that serialises use of this connection between threads (see :class:`transaction`);
    on PostgreSQL a lock that holds nothing (each transaction has its own connection)."""
    lock = getattr(db, "lock", None)
    if lock is None:
        lock = db.lock = threading.RLock()  # type: ignore[attr-defined]
    return lock


class transaction:
    """``with transaction(db):`` runs the block in ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error).

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout instead
    of failing with "database is locked" half way through.

    Inside another transaction it is a savepoint: the engine runs a whole turn in one transaction
    (state, audit append and delivery key together), and the writes inside it nest. On SQLite
    every savepoint has the same name (``RELEASE`` and ``ROLLBACK TO`` take the innermost of that
    name), so its statements are parsed once and then found in the connection's statement cache.

    On PostgreSQL it is ``BEGIN`` ... ``COMMIT`` on a pooled connection bound to the thread for
    the block (savepoints inside); ``isolation`` (``"REPEATABLE READ, READ ONLY"``, say) applies
    there to the outermost block. Either way the block gets the connection to run its SQL on.
    """

    def __new__(cls, db: Database, isolation: str | None = None) -> Any:
        if dialect(db) == "postgresql":
            return db.transaction(isolation)
        return super().__new__(cls)

    def __init__(self, db: Database, isolation: str | None = None) -> None:
        self.conn = db.conn
        self.savepoint: str | None = None

    def __enter__(self) -> sqlite3.Connection:
        if self.conn.in_transaction:
            self.savepoint = "nested"
            self.conn.execute(f"SAVEPOINT {self.savepoint}")
        else:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if self.savepoint is not None:
            if exc_type is not None:
                self.conn.execute(f"ROLLBACK TO {self.savepoint}")
            self.conn.execute(f"RELEASE {self.savepoint}")
        elif exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


@contextmanager
def snapshot(db: Database) -> Iterator[Any]:
    """One consistent read over several statements (rows committed meanwhile are not half-seen):
    a deferred read transaction on SQLite, ``REPEATABLE READ, READ ONLY`` on PostgreSQL."""
    if dialect(db) == "postgresql":
        with db.transaction("REPEATABLE READ, READ ONLY") as conn:
            yield conn
        return
    conn = db.conn
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def table_exists(db: Database, name: str) -> bool:
    """True if the table ``name`` exists in the store."""
    sql = ("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?"
           if dialect(db) == "postgresql" else "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
    return db.execute(sql, [name]).fetchone() is not None


def integrity_problems(db: Database) -> list[str]:
    """What the engine's own check finds wrong with the store's pages ([] when sound): SQLite's
    ``integrity_check``; PostgreSQL checks its pages itself (data checksums) and gives []."""
    if dialect(db) == "postgresql":
        return []
    try:
        problems = [r[0] for r in db.conn.execute("PRAGMA integrity_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if problems == ["ok"] else problems


def ping(db: Database) -> str:
    """'' when the store answers, else the reason (``/healthz``)."""
    if dialect(db) == "postgresql":
        return db.ping()
    try:
        with db_lock(db):
            db.execute("SELECT 1").fetchone()
    except sqlite3.Error as exc:
        return str(exc)
    return ""


class GroupCommit:
    """One worker thread that runs database work in batches: one transaction, so one durable
    commit (one fsync with ``synchronous=FULL``), for all the work queued while the last batch ran.

    Each piece of work runs in a savepoint of its own: one that raises leaves no trace and gets
    its exception, the others are kept. Nobody is given a result before the batch's ``COMMIT``
    is done, so nothing is shown as done that a crash could still lose; if the commit itself
    fails, every piece of the batch gets that error. With one piece queued at a time it is a
    plain transaction per piece. The whole batch holds the connection's lock (:func:`db_lock`)
    and the write lock (``BEGIN IMMEDIATE``), so another server on the same file waits for it
    as for one turn.

    Example:
        >>> db = open_db(":memory:")
        >>> _ = db.execute("create table t (x)")
        >>> commits = GroupCommit(db)
        >>> commits.submit(lambda: db.execute("insert into t values (1)").rowcount).result()
        1
        >>> commits.close()
    """

    def __init__(self, db: Database, max_batch: int = 64, name: str = "infoshare-commit") -> None:
        import queue
        self.db, self.max_batch = db, max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Queue ``fn(*args)``; a :class:`concurrent.futures.Future` of its result, set after the commit."""
        future: Future[Any] = Future()
        self._queue.put((future, fn, args))
        return future

    def close(self) -> None:
        """Finish the work queued so far, then stop the thread."""
        self._queue.put(None)

    def _run(self) -> None:
        import queue
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch, stop = [item], False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._run_batch(batch)
            if stop:
                return

    def _run_batch(self, batch: list) -> None:
        outcomes = []
        try:
            with db_lock(self.db), transaction(self.db):
                for future, fn, args in batch:
                    if not future.set_running_or_notify_cancel():
                        outcomes.append(None)
                        continue
                    try:
                        with transaction(self.db):  # a savepoint: this piece alone is undone if it fails
                            outcomes.append((True, fn(*args)))
                    except BaseException as exc:  # noqa: BLE001 - handed to the piece's caller
                        outcomes.append((False, exc))
        except BaseException as exc:  # noqa: BLE001 - BEGIN or COMMIT failed: nothing of the batch is stored
            for future, _fn, _args in batch:
                if future.running() or (not future.done() and future.set_running_or_notify_cancel()):
                    future.set_exception(exc)
            return
        for (future, _fn, _args), outcome in zip(batch, outcomes):
            if outcome is not None:
                ok, value = outcome
                future.set_result(value) if ok else future.set_exception(value)
