"""Shared test set-up: the local Slack and Teams stand-ins are helper modules whose asserts
should read as well as the tests' own, so pytest rewrites them too (before any test imports them).
A real PostgreSQL server for the session and a new database for a test come from ``pg_server.py``."""

import contextlib
import os

import pytest

pytest.register_assert_rewrite("slack_mock", "teams_mock")


@pytest.fixture
def db_path(tmp_path):
    """A fresh SQLite file for one test (a test module may define its own)."""
    return tmp_path / "infoshare.db"


@pytest.fixture
def db(db_path):
    """A fresh SQLite database (:func:`db_path`) with the audit schema."""
    from storage import audit
    from storage.db import open_db
    d = open_db(db_path)
    audit.ensure_schema(d)
    return d


@pytest.fixture
def engine(db_path):
    """The conversation engine on :func:`db_path`, no contacts, no leads."""
    from dialogs.engine import Engine
    from storage.db import open_db
    return Engine(open_db(db_path))


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the whole session (``tests/pg_server.py``: its URLs and SQL run
    as the superuser), stopped and removed after it. Where none can be started the tests that use
    it are skipped, except in CI (``CI`` is set), where they fail: none may be skipped there."""
    import pg_server
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(pg_server.temporary_server())
        except pg_server.Unavailable as e:
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is needed in CI: {e}")
            pytest.skip(f"no PostgreSQL server: {e}")
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """The superuser's URL of the session's server: ``postgresql://postgres@127.0.0.1:PORT/postgres``."""
    return postgres_server.url


@pytest.fixture
def pg_database(postgres_server):
    """The superuser's URL of a new empty database on the session's server, for one test; the
    database is dropped after it (its connections closed)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])
