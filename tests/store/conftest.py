"""Every store test runs twice: on a SQLite file and on a fresh PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from store import Store
from testkit import pg


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(schema, url): a fresh schema in database `test`, dropped after the test."""
    with pg.temporary_schema() as schema_and_url:
        yield schema_and_url


@pytest.fixture
def pg_url(pg_schema: tuple[str, str]) -> str:
    return pg_schema[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/botarmy.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.close()
