"""The history store and its chart. Every store test runs twice: on SQLite (the default) and on a
real PostgreSQL server started for this module on 127.0.0.1 (``tests/postgres.py``; marked slow,
skipped with the reason where the server's binaries are absent, a failure under CI)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres import Server, fresh_database, postgres_server
from sqlalchemy import create_engine, inspect

from bot import migrations
from bot.core.models import VARIABLES, Assessment, Citation, Passage, VariableAssessment
from bot.errors import StoreUnavailable, UserError
from bot.history import HistoryStore, metadata, render_chart, subject_key

G1, G2 = 111, 222


def make(
    subject: str, likelihood: int, scores: list[int | None], when: dt.datetime, question: str | None = None
) -> Assessment:
    variables = [
        VariableAssessment(variable=k, status="insufficient_evidence")
        if s is None
        else VariableAssessment(
            variable=k, status="assessed", score=s, rationale="r [1]", citations=[Citation(passage=1)]
        )
        for k, s in zip(VARIABLES, scores, strict=True)
    ]
    return Assessment(
        question=question or f"Will Russia send troops into {subject}?",
        subject=subject,
        variables=variables,
        likelihood=likelihood,
        verdict="uncertain",
        confidence="low",
        summary="s",
        passages=[Passage(id="d:0", doc_id="d", title="T", text="passage text")],
        engine="indicators",
        model="m",
        created_at=when,
    )


@pytest.fixture(scope="module")
def pg_server() -> Iterator[Server]:
    with postgres_server() as server:
        yield server


_db_names = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty database: an SQLite file (in a folder that does not exist yet) or a PostgreSQL
    database on the module's server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sub' / 'history.sqlite3'}"
        return
    server = request.getfixturevalue("pg_server")
    with fresh_database(server, f"history_{next(_db_names)}") as pg_url:
        yield pg_url


@pytest.fixture
def store(url: str) -> Iterator[HistoryStore]:
    s = HistoryStore(url)
    yield s
    s.close()


T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def test_record_get_and_guild_scoping(store: HistoryStore) -> None:
    a = make("Kazakhstan", 40, [3, 2, 1, 4, None], T0)
    aid = store.record(a, guild_id=G1, channel_id=5, user_id=9)
    got = store.get(aid, guild_id=G1)
    assert got.assessment == a
    assert got.row.scores == {
        "trigger": 3,
        "local_support": 2,
        "military_opposition": 1,
        "feasibility": 4,
        "costs": None,
    }
    assert got.row.created_at == T0
    with pytest.raises(UserError):
        store.get(aid, guild_id=G2)  # another server cannot read it
    assert store.recent(guild_id=G2) == []
    assert store.first_in_channel(5, guild_id=G1).row.id == aid
    assert store.first_in_channel(5, guild_id=G2) is None


def test_recent_filters_by_subject_and_orders_newest_first(store: HistoryStore) -> None:
    for i, subject in enumerate(["Kazakhstan", "South Ossetia", "kazakhstan", "Armenia"]):
        store.record(make(subject, 10 * i, [1] * 5, T0 + dt.timedelta(days=i)), guild_id=G1)
    assert [r.subject for r in store.recent(guild_id=G1)] == [
        "Armenia",
        "kazakhstan",
        "South Ossetia",
        "Kazakhstan",
    ]
    assert [r.likelihood for r in store.recent(guild_id=G1, subject="KAZAKH")] == [20, 0]
    assert store.recent(guild_id=G1, subject="%") == []  # LIKE wildcards are escaped
    series = store.series(guild_id=G1, subject="Kazakhstan ")
    assert [r.likelihood for r in series] == [0, 20]  # oldest first, case-insensitive exact subject
    assert subject_key("  South   Ossetia ") == "south ossetia"


def test_one_vote_per_user_and_voting_again_changes_it(store: HistoryStore) -> None:
    aid = store.record(make("Kazakhstan", 40, [1] * 5, T0), guild_id=G1)
    first = store.vote(aid, 1, 1, guild_id=G1)
    assert (first.up, first.down, first.changed) == (1, 0, True)
    again = store.vote(aid, 1, 1, guild_id=G1)
    assert (again.up, again.down, again.changed) == (1, 0, False)
    switched = store.vote(aid, 1, -1, guild_id=G1)
    assert (switched.up, switched.down, switched.changed) == (0, 1, True)
    other = store.vote(aid, 2, 1, guild_id=G1)
    assert (other.up, other.down) == (1, 1)
    assert store.user_vote(aid, 1) == -1 and store.tally(aid) == (1, 1)
    with pytest.raises(UserError):
        store.vote(aid, 3, 1, guild_id=G2)
    with pytest.raises(ValueError):
        store.vote(aid, 3, 0, guild_id=G1)


def test_votes_survive_reopening(url: str) -> None:
    s = HistoryStore(url)
    aid = s.record(make("Belarus", 20, [0] * 5, T0), guild_id=G1)
    s.vote(aid, 7, -1, guild_id=G1)
    s.close()
    s2 = HistoryStore(url)
    assert s2.tally(aid) == (0, 1)
    s2.close()


def test_chart_is_a_small_png(store: HistoryStore) -> None:
    for i, scores in enumerate([[1, 1, 1, 1, 1], [2, None, 3, 3, 2], [4, 3, 3, 4, 3]]):
        store.record(make("Kazakhstan", 10 + 30 * i, scores, T0 + dt.timedelta(days=3 * i)), guild_id=G1)
    png = render_chart(store.series(guild_id=G1, subject="Kazakhstan"), "Kazakhstan")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 5_000 < len(png) < 300_000
    with pytest.raises(ValueError):
        render_chart([], "nothing")


def test_simultaneous_first_votes_leave_one_row(store: HistoryStore) -> None:
    # two clicks of one user racing to insert: the primary key keeps one vote, the loser updates
    aid = store.record(make("Moldova", 30, [1] * 5, T0), guild_id=G1)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def click(value: int) -> None:
        barrier.wait()
        try:
            store.vote(aid, 42, value, guild_id=G1)
        except BaseException as exc:  # collected: a thread's exception would be lost
            errors.append(exc)

    threads = [threading.Thread(target=click, args=(v,)) for v in (1, 1, -1, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    up, down = store.tally(aid)
    assert up + down == 1 and store.user_vote(aid, 42) in (1, -1)


# --------------------------------------------------------------------------------------------
# migrations (Alembic)


def test_migrations_build_exactly_the_tables_the_code_uses(store: HistoryStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert migrations.current(store.engine) == migrations.head()
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], diff  # a change to bot/history.py's tables needs a migration


def test_opening_again_is_a_no_op_and_keeps_rows(url: str) -> None:
    s = HistoryStore(url)
    aid = s.record(make("Georgia", 50, [2] * 5, T0), guild_id=G1)
    s.close()
    s2 = HistoryStore(url)  # upgrade to head again: nothing to do
    assert s2.get(aid, guild_id=G1).row.subject == "Georgia"
    assert migrations.current(s2.engine) == migrations.head()
    s2.close()


def test_a_database_made_before_migrations_is_stamped_and_kept(url: str) -> None:
    # what HistoryStore did before Alembic: metadata.create_all of the first schema (revision
    # 0001's tables), no alembic_version table
    if url.startswith("sqlite"):
        HistoryStore._prepare_sqlite_dir(url)
    engine = create_engine(url)
    migrations.upgrade(engine, migrations.FIRST)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE alembic_version")
    with engine.begin() as conn:
        conn.execute(metadata.tables["assessments"].insert().values(
            question="q", subject="Belarus", subject_key="belarus", likelihood=5, verdict="unlikely",
            confidence="low", engine="indicators", model="m", created_at=T0, payload="{}",
        ))
    engine.dispose()
    s = HistoryStore(url)
    assert migrations.current(s.engine) == migrations.head()
    assert [r.subject for r in s.recent(guild_id=None)] == ["Belarus"]
    s.close()


def test_a_database_from_a_newer_version_is_a_clear_error(url: str) -> None:
    s = HistoryStore(url)
    with s.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'fffffffffff'")
    s.close()
    with pytest.raises(StoreUnavailable, match="Cannot open the history database"):
        HistoryStore(url)


def test_downgrade_to_nothing_removes_the_tables(url: str) -> None:
    from alembic import command

    s = HistoryStore(url)
    with s.engine.begin() as conn:
        command.downgrade(migrations.config(conn), "base")
    assert set(inspect(s.engine).get_table_names()) <= {"alembic_version"}
    s.close()


def test_numbers_count_per_guild_and_answers_without_a_likelihood_are_stored(tmp_path) -> None:
    from bot.core.models import VARIABLES, Assessment, VariableAssessment

    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    a = Assessment(
        question="Will Russia send troops into Armenia?", subject="Armenia", likelihood=None, verdict=None,
        likelihood_note="no proven skill", confidence="low", summary="", passages=[], engine="indicators", model="m",
        variables=[VariableAssessment(variable=k, status="insufficient_evidence") for k in VARIABLES],
    )  # fmt: skip
    assert [store.record_numbered(a, guild_id=1)[1] for _ in range(2)] == [1, 2]
    assert store.record_numbered(a, guild_id=2)[1] == 1  # another server starts at 1
    rows = store.recent(guild_id=1)
    assert [r.number for r in rows] == [2, 1] and rows[0].likelihood is None and rows[0].verdict is None
    assert store.most_assessed(guild_id=1) == "Armenia" and store.most_assessed(guild_id=3) is None
    store.close()


def test_a_database_from_the_previous_version_is_migrated(tmp_path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    scores = ", ".join(f"score_{k} SMALLINT" for k in ("trigger", "local_support", "military_opposition", "feasibility", "costs"))
    db.executescript(
        f"""
        CREATE TABLE assessments (id INTEGER PRIMARY KEY AUTOINCREMENT, guild_id BIGINT, channel_id BIGINT,
            user_id BIGINT, question TEXT NOT NULL, subject VARCHAR(200) NOT NULL, subject_key VARCHAR(200) NOT NULL,
            as_of DATE, likelihood INTEGER NOT NULL, verdict VARCHAR(20) NOT NULL, confidence VARCHAR(10) NOT NULL,
            {scores}, engine VARCHAR(20) NOT NULL, model VARCHAR(200) NOT NULL,
            created_at DATETIME NOT NULL, payload TEXT NOT NULL);
        CREATE TABLE votes (assessment_id INTEGER NOT NULL REFERENCES assessments (id) ON DELETE CASCADE,
            user_id BIGINT NOT NULL, value SMALLINT NOT NULL, updated_at DATETIME NOT NULL,
            PRIMARY KEY (assessment_id, user_id));
        """
    )
    for i, guild in enumerate((7, 8, 7), start=1):
        db.execute(
            "INSERT INTO assessments (guild_id, question, subject, subject_key, likelihood, verdict, confidence,"
            " engine, model, created_at, payload) VALUES (?, 'q', 'Armenia', 'armenia', 40, 'uncertain', 'low',"
            " 'indicators', 'm', '2024-01-0' || ?, '{}')",
            (guild, i),
        )
    db.execute("INSERT INTO votes VALUES (1, 99, -1, '2024-01-05')")
    db.commit()
    db.close()
    store = HistoryStore(f"sqlite:///{path}")  # migrates the previous version's shape
    from bot.core.models import VARIABLES, Assessment, VariableAssessment

    a = Assessment(
        question="Will Russia send troops into Armenia?", subject="Armenia", likelihood=None, verdict=None,
        confidence="low", summary="", passages=[], engine="indicators", model="m",
        variables=[VariableAssessment(variable=k, status="insufficient_evidence") for k in VARIABLES],
    )  # fmt: skip
    assert [r.number for r in store.recent(guild_id=7)] == [2, 1]  # the old rows, numbered per guild
    row_id, number = store.record_numbered(a, guild_id=7)
    assert number == 3 and store.recent(guild_id=8)[0].number == 1
    store.vote(row_id, 5, 1, guild_id=7)
    assert store.tally(row_id) == (1, 0)
    assert store.tally(1) == (0, 1)  # the votes survived the rebuild
    store.close()
