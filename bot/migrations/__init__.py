"""Alembic migrations of the history store (``bot/history.py``), shipped inside the package so
that an installed wheel can upgrade a deployed database. ``HistoryStore`` upgrades to the head
revision when it opens a database (:func:`upgrade`); a database created before migrations
existed (by ``metadata.create_all``) is stamped with the first revision, then upgraded.

A schema change: edit the tables in ``bot/history.py``, then write the revision with

    alembic -c bot/migrations/alembic.ini -x url=sqlite:///.analyst/history.sqlite3 \\
        revision --autogenerate -m "what changed"

and check it by hand (``tests/test_history.py`` fails while the head schema and the tables differ).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

HERE = Path(__file__).resolve().parent
FIRST = "0001"


def config(connection=None):
    from alembic.config import Config

    cfg = Config(str(HERE / "alembic.ini"))
    cfg.set_main_option("script_location", str(HERE))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class MigrationError(Exception):
    """The database cannot be brought to the schema this version needs (Alembic's CommandError:
    e.g. a database stamped with a revision this version does not know, made by a newer one)."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the newest), in one transaction where the
    database has transactional DDL (PostgreSQL, SQLite)."""
    from alembic import command
    from alembic.util import CommandError

    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:  # a revision that rebuilds a table must not cascade-delete the votes
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # outside a transaction, or it is ignored
                conn.commit()
            try:
                with conn.begin():
                    cfg = config(conn)
                    tables = set(inspect(conn).get_table_names())
                    if "alembic_version" not in tables and "assessments" in tables:
                        command.stamp(cfg, FIRST)  # made by create_all before migrations: revision 0001
                    command.upgrade(cfg, revision)
            finally:
                if sqlite:
                    conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                    conn.commit()
    except CommandError as exc:
        raise MigrationError(str(exc)) from exc


def current(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory

    rev = ScriptDirectory.from_config(config()).get_current_head()
    assert rev is not None
    return rev
