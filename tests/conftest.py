"""Shared test set-up: the local Slack and Teams stand-ins are helper modules whose asserts
should read as well as the tests' own, so pytest rewrites them too (before any test imports them)."""

import pytest

pytest.register_assert_rewrite("slack_mock", "teams_mock")
