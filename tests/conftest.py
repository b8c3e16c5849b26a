"""Shared test set-up: the local Slack and Teams stand-ins are helper modules whose asserts
should read as well as the tests' own, so pytest rewrites them too (before any test imports them)."""

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
