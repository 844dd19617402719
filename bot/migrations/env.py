"""Alembic's environment: run on the connection that HistoryStore hands over, or, for
``alembic revision --autogenerate`` by hand, on the URL given with ``-x url=...``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.history import metadata

cfg = context.config


def run() -> None:
    connection = cfg.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic ... -x url=sqlite:///path/history.sqlite3")
    engine = create_engine(url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
