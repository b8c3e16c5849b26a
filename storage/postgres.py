"""PostgreSQL, the engine for several replicas: a connection pool behind the same small surface
the SQLite store offers (``db.execute``, ``db.conn``, :class:`storage.db.transaction`).

The storage modules write their SQL once, with ``?`` placeholders and the syntax both engines
share (``INSERT ... ON CONFLICT``, ``RETURNING``); :func:`qmark` turns the placeholders into
psycopg's. Where the engines really differ (schema, triggers, JSON, the chain's lock) the module
asks :func:`storage.db.dialect` and says both forms side by side.

A transaction borrows one pooled connection and binds it to its thread until it ends: every
statement inside the ``with transaction(db):`` block, and every nested transaction (a
savepoint), runs on that connection. A statement outside any transaction borrows a connection
for itself, in autocommit, and its rows are read before the connection goes back.

The password in a URL is never printed: :func:`safe_url`.
"""

from __future__ import annotations

import re
import threading
from contextlib import ExitStack, contextmanager
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

POOL_MIN = 1
POOL_MAX = 8
"""Connections per process (``[database] pool_max`` / ``INFOSHARE_DB_POOL_MAX``): each replica's
turns, jobs and digests borrow from it; PostgreSQL's default ``max_connections`` (100) allows a
dozen replicas at this size."""
POOL_TIMEOUT = 10.0
"""Seconds a turn waits for a free connection, or for the server, before it fails (and the user
is asked to try again; nothing of the turn is written)."""
CONNECT_TIMEOUT = 5
STATEMENT_TIMEOUT_MS = 30_000
"""No statement runs longer than this (the same bound as SQLite's busy timeout)."""

CHAIN_LOCK = 0x1F05_A0D1
"""``pg_advisory_xact_lock`` key that serialises appends to the audit chain across replicas."""
MIGRATE_LOCK = 0x1F05_A0D2
"""Key that lets one replica at a time apply schema migrations."""


def pool_settings() -> dict[str, Any]:
    """Pool sizes and timeout from ``INFOSHARE_DB_POOL_MIN``, ``INFOSHARE_DB_POOL_MAX`` and
    ``INFOSHARE_DB_TIMEOUT`` (seconds), each defaulting to the constants above."""
    import os

    from storage.db import DatabaseProblem
    out: dict[str, Any] = {}
    for key, name, kind in (("pool_min", "INFOSHARE_DB_POOL_MIN", int), ("pool_max", "INFOSHARE_DB_POOL_MAX", int),
                            ("timeout", "INFOSHARE_DB_TIMEOUT", float)):
        raw = os.environ.get(name)
        if raw is None or raw == "":
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = -1
        if value <= 0 or (kind is int and value > 1000):
            raise DatabaseProblem(f"{name}={raw!r}: give a positive {'whole number' if kind is int else 'number'}")
        out[key] = value
    return out


def safe_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


_QMARK = re.compile(r"%|\?")


def qmark(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s`` (a literal ``%`` doubled).

    >>> qmark("SELECT * FROM t WHERE a = ? AND b LIKE 'x%'")
    "SELECT * FROM t WHERE a = %s AND b LIKE 'x%%'"
    """
    return _cached.get(sql) or _cached.setdefault(sql, _QMARK.sub(lambda m: "%%" if m.group() == "%" else "%s", sql))


_cached: dict[str, str] = {}


class Rows:
    """The rows of one statement run outside a transaction, read in full before its connection
    went back to the pool: ``fetchone``, ``fetchall``, iteration, ``description``, ``rowcount``."""

    def __init__(self, cursor: Any) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self._rows = cursor.fetchall() if cursor.description else []
        self._at = 0

    def fetchone(self) -> tuple | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[tuple]:
        rows, self._at = self._rows[self._at:], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())


class Connection:
    """One borrowed connection, inside a transaction, speaking with ``?`` placeholders."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        if params is None:
            return self.raw.execute(sql)
        return self.raw.execute(qmark(sql), list(params))

    def stream(self, sql: str, params: Sequence[Any] | None = None, itersize: int = 5000) -> Any:
        """Rows read from the server in batches (a server-side cursor), not all at once."""
        cur = self.raw.cursor(name=f"infoshare_stream_{id(self)}")
        cur.itersize = itersize
        cur.execute(qmark(sql) if params is not None else sql, None if params is None else list(params))
        return cur

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Any:
        cur = self.raw.cursor()
        cur.executemany(qmark(sql), [list(p) for p in seq])
        return cur


class NoLock:
    """What :func:`storage.db.db_lock` gives for PostgreSQL: each thread has its own connection,
    so nothing in the process needs serialising (the server's own locks do that)."""

    def __enter__(self) -> "NoLock":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class PgDatabase:
    """A pool of connections to one PostgreSQL database.

    Raises :class:`storage.db.DatabaseProblem` at open when the server cannot be reached or
    refuses the login, with the reason and the URL without its password.
    """

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_min: int = POOL_MIN, pool_max: int = POOL_MAX,
                 timeout: float = POOL_TIMEOUT) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        from storage.db import DatabaseProblem
        self.url, self.timeout = url, timeout
        self.lock = NoLock()
        self._local = threading.local()
        kwargs = {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT,
                  "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c timezone=UTC",
                  "application_name": "infoshare"}
        try:  # once, directly: the server's own words when it cannot be used
            psycopg.connect(url, **kwargs).close()
        except psycopg.Error as exc:
            raise DatabaseProblem(f"{safe_url(url)}: {first_line(exc)}") from None
        self.pool = ConnectionPool(url, min_size=pool_min, max_size=max(pool_min, pool_max), timeout=timeout,
                                   kwargs=kwargs, open=False, name="infoshare",
                                   check=ConnectionPool.check_connection)
        self.pool.open(wait=True, timeout=timeout)

    # -- one connection per thread while a transaction runs ------------------------------

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """The thread's bound connection, or a pooled one bound for the block."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        with self.pool.connection() as conn:
            self._local.conn = conn
            try:
                yield conn
            finally:
                self._local.conn = None

    def transaction(self, isolation: str | None = None) -> "_Transaction":
        return _Transaction(self, isolation)

    @property
    def conn(self) -> "Connection | PgDatabase":
        """Inside a transaction its connection; outside, the pool (each statement its own)."""
        bound = getattr(self._local, "conn", None)
        return Connection(bound) if bound is not None else self

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        bound = getattr(self._local, "conn", None)
        if bound is not None:
            return Connection(bound).execute(sql, params)
        with self.pool.connection() as raw:
            return Rows(Connection(raw).execute(sql, params))

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Any:
        with self.transaction() as conn:
            return conn.executemany(sql, seq)

    def close(self) -> None:
        self.pool.close()

    def ping(self) -> str:
        """'' when the server answers a query within a second or two, else the reason."""
        try:
            with self.pool.connection(timeout=2) as raw:
                raw.execute("SELECT 1").fetchone()
        except Exception as exc:  # noqa: BLE001 - any failure is the reason /healthz gives
            return first_line(exc)
        return ""

    def __repr__(self) -> str:
        return f"<PgDatabase {safe_url(self.url)}>"


class _Transaction:
    """``BEGIN`` ... ``COMMIT`` on the thread's connection; a savepoint when one is open already."""

    def __init__(self, db: PgDatabase, isolation: str | None) -> None:
        self.db, self.isolation = db, isolation
        self.stack = ExitStack()

    def __enter__(self) -> Connection:
        raw = self.stack.enter_context(self.db.connection())
        outer = raw.info.transaction_status == 0  # IDLE: this is the outermost block
        self.stack.enter_context(raw.transaction())
        if outer and self.isolation:
            raw.execute(f"SET TRANSACTION ISOLATION LEVEL {self.isolation}")
        return Connection(raw)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        return bool(self.stack.__exit__(exc_type, exc, tb))


def first_line(exc: BaseException) -> str:
    """An error's first line, without the URL or password psycopg may quote."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return re.sub(r"postgres(?:ql)?://\S+", lambda m: safe_url(m.group()), text)
