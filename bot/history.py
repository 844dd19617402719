"""The team's assessment history and votes, stored through SQLAlchemy Core.

Why SQLAlchemy Core and nothing dialect-specific: the default is one SQLite file in the data
directory (``settings.resolved_history_url``), and a team that outgrows it points
``ANALYST_HISTORY_URL`` at PostgreSQL (``postgresql+psycopg://...``) without a code change. So the
schema uses portable types only, there is no ``ON CONFLICT``/``RETURNING`` trickery, and the one
upsert (a vote) is "update, else insert" inside a transaction, with the composite primary key
``(assessment_id, user_id)`` as the guarantee of one vote per user per assessment.

The schema is made and upgraded by Alembic migrations (``bot/migrations/``, run to the head
revision when a store opens); the tables below are what the head revision builds, and a test
compares the two. ``tests/test_history.py`` runs every test here on SQLite and on a real
PostgreSQL server that the test fixture starts on 127.0.0.1.

Every read and write is scoped by ``guild_id`` (``None`` for the CLI): one Discord server never
sees another's history. All calls are blocking; the bot runs them in its worker pool.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.core.framework import short_labels
from bot.core.models import VARIABLES, Assessment, VariableKey
from bot.errors import StoreUnavailable, UserError
from bot.migrations import MigrationError, upgrade

log = logging.getLogger(__name__)

metadata = MetaData()

assessments = Table(
    "assessments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("guild_id", BigInteger, nullable=True),
    Column("channel_id", BigInteger, nullable=True),
    Column("user_id", BigInteger, nullable=True),
    Column("question", Text, nullable=False),
    Column("subject", String(200), nullable=False),
    Column("subject_key", String(200), nullable=False),
    Column("as_of", Date, nullable=True),
    Column("likelihood", Integer, nullable=True),  # None: the answer carried no number
    Column("verdict", String(20), nullable=True),
    Column("confidence", String(10), nullable=False),
    *(Column(f"score_{key}", SmallInteger, nullable=True) for key in VARIABLES),
    Column("engine", String(20), nullable=False),
    Column("model", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("payload", Text, nullable=False),  # the full Assessment as JSON (passages for "Show passages")
    Column("number", Integer, nullable=True),  # 1, 2, 3... per guild: what users see ("#3")
    Index("assessments_guild_subject", "guild_id", "subject_key", "created_at"),
    Index("assessments_guild_number", "guild_id", "number", unique=True),
    Index("assessments_guild_channel", "guild_id", "channel_id"),
)

votes = Table(
    "votes",
    metadata,
    Column("assessment_id", Integer, ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", BigInteger, primary_key=True),
    Column("value", SmallInteger, nullable=False),  # +1 or -1
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Foreign keys are off by default in SQLite; votes cascade with their assessment."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def subject_key(subject: str) -> str:
    """The form subjects are compared in ("South Ossetia" == "south ossetia ")."""
    return " ".join(subject.split()).casefold()[:200]


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; everything here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class HistoryRow:
    """One stored assessment, without its passages (what /history lists and charts)."""

    id: int
    guild_id: int | None
    channel_id: int | None
    user_id: int | None
    question: str
    subject: str
    as_of: dt.date | None
    likelihood: int | None
    verdict: str | None
    confidence: str
    scores: dict[VariableKey, int | None]
    engine: str
    model: str
    created_at: dt.datetime
    number: int = 0  # this guild's assessment number (the id for rows stored before numbering)


@dataclass(frozen=True)
class Stored:
    """A stored assessment with its full payload (for "Show passages", re-runs and thread context)."""

    row: HistoryRow
    assessment: Assessment


@dataclass(frozen=True)
class VoteTally:
    up: int
    down: int
    mine: int  # the voter's current vote: +1, -1 (after this call)
    changed: bool  # False when the same vote was cast again


class HistoryStore:
    """Assessments and votes in any SQLAlchemy database (SQLite by default)."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if url.startswith("sqlite"):
            self._prepare_sqlite_dir(url)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
            if url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            upgrade(self.engine)  # Alembic, to the newest revision: a deployed database is upgraded
        except (SQLAlchemyError, ImportError, MigrationError) as exc:
            raise StoreUnavailable(
                f"Cannot open the history database ({type(exc).__name__}: {str(exc)[:160]})."
            ) from exc

    @staticmethod
    def _prepare_sqlite_dir(url: str) -> None:
        from pathlib import Path

        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ------------------------------------------------------------------------------
    def record(
        self,
        assessment: Assessment,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
    ) -> int:
        """Store an assessment; returns its id (used in button custom ids)."""
        return self.record_numbered(assessment, guild_id=guild_id, channel_id=channel_id, user_id=user_id)[0]

    def record_numbered(
        self,
        assessment: Assessment,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
    ) -> tuple[int, int]:
        """Store an assessment; returns (its id, its number in this guild: 1, 2, 3...).

        The number is computed in the INSERT itself; the unique (guild, number) index turns a race
        between two writers into a retry, never a duplicate.
        """
        values: dict[str, Any] = {
            "guild_id": guild_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "question": assessment.question,
            "subject": assessment.subject[:200],
            "subject_key": subject_key(assessment.subject),
            "as_of": assessment.as_of,
            "likelihood": assessment.likelihood,
            "verdict": assessment.verdict,
            "confidence": assessment.confidence,
            "engine": assessment.engine,
            "model": assessment.model[:200],
            "created_at": assessment.created_at,
            "payload": assessment.model_dump_json(),
        }
        for v in assessment.variables:
            values[f"score_{v.variable}"] = v.score if v.assessed else None
        taken = select(func.coalesce(func.max(assessments.c.number), 0) + 1).where(self._guild_clause(guild_id))
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    result = conn.execute(assessments.insert().values(**values, number=taken.scalar_subquery()))
                    pk = result.inserted_primary_key
                    assert pk is not None  # an INSERT of one row always has one
                    row_id = int(pk[0])
                    number = conn.execute(select(assessments.c.number).where(assessments.c.id == row_id)).scalar()
                    return row_id, int(number or row_id)
            except IntegrityError:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    def vote(self, assessment_id: int, user_id: int, value: int, *, guild_id: int | None) -> VoteTally:
        """Cast or change a user's vote (+1/-1); one vote per user per assessment."""
        if value not in (1, -1):
            raise ValueError("a vote is +1 or -1")
        now = dt.datetime.now(dt.UTC)
        for attempt in range(2):
            try:
                with self.engine.begin() as conn:
                    self._require(conn, assessment_id, guild_id)
                    previous = conn.execute(
                        select(votes.c.value).where(
                            votes.c.assessment_id == assessment_id, votes.c.user_id == user_id
                        )
                    ).scalar()
                    if previous is None:
                        conn.execute(
                            votes.insert().values(
                                assessment_id=assessment_id, user_id=user_id, value=value, updated_at=now
                            )
                        )
                    elif previous != value:
                        conn.execute(
                            votes.update()
                            .where(votes.c.assessment_id == assessment_id, votes.c.user_id == user_id)
                            .values(value=value, updated_at=now)
                        )
                    up, down = self._tally(conn, assessment_id)
                    return VoteTally(up=up, down=down, mine=value, changed=previous != value)
            except IntegrityError:
                # Two clicks raced to insert the same (assessment, user) row: the second retries as an update.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _guild_clause(guild_id: int | None):
        return assessments.c.guild_id.is_(None) if guild_id is None else assessments.c.guild_id == guild_id

    def _require(self, conn: Connection, assessment_id: int, guild_id: int | None) -> None:
        found = conn.execute(
            select(assessments.c.id).where(assessments.c.id == assessment_id, self._guild_clause(guild_id))
        ).scalar()
        if found is None:
            raise UserError("That assessment is no longer available here.")

    @staticmethod
    def _tally(conn: Connection, assessment_id: int) -> tuple[int, int]:
        rows = conn.execute(
            select(votes.c.value, func.count())
            .where(votes.c.assessment_id == assessment_id)
            .group_by(votes.c.value)
        ).all()
        counts = {int(v): int(n) for v, n in rows}
        return counts.get(1, 0), counts.get(-1, 0)

    def tally(self, assessment_id: int) -> tuple[int, int]:
        """(thumbs up, thumbs down) for one assessment."""
        with self.engine.connect() as conn:
            return self._tally(conn, assessment_id)

    def user_vote(self, assessment_id: int, user_id: int) -> int | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(votes.c.value).where(
                    votes.c.assessment_id == assessment_id, votes.c.user_id == user_id
                )
            ).scalar()

    @staticmethod
    def _row(r: Any) -> HistoryRow:
        m = r._mapping
        return HistoryRow(
            id=m["id"],
            guild_id=m["guild_id"],
            channel_id=m["channel_id"],
            user_id=m["user_id"],
            question=m["question"],
            subject=m["subject"],
            as_of=m["as_of"],
            likelihood=m["likelihood"],
            verdict=m["verdict"],
            confidence=m["confidence"],
            scores={key: m[f"score_{key}"] for key in VARIABLES},
            engine=m["engine"],
            model=m["model"],
            created_at=_utc(m["created_at"]),
            number=m["number"] or m["id"],
        )

    _ROW_COLUMNS = [c for c in assessments.c if c.name != "payload"]

    def get(self, assessment_id: int, *, guild_id: int | None) -> Stored:
        """One assessment of this guild, with its passages; UserError when it is not there."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(*self._ROW_COLUMNS, assessments.c.payload).where(
                    assessments.c.id == assessment_id, self._guild_clause(guild_id)
                )
            ).first()
        if r is None:
            raise UserError("That assessment is no longer available here.")
        return Stored(self._row(r), Assessment.model_validate_json(r._mapping["payload"]))

    def first_in_channel(self, channel_id: int, *, guild_id: int | None) -> Stored | None:
        """The first assessment posted in a channel (a mention thread's root question), if any."""
        with self.engine.connect() as conn:
            r = conn.execute(
                select(*self._ROW_COLUMNS, assessments.c.payload)
                .where(assessments.c.channel_id == channel_id, self._guild_clause(guild_id))
                .order_by(assessments.c.created_at, assessments.c.id)
                .limit(1)
            ).first()
        return (
            None if r is None else Stored(self._row(r), Assessment.model_validate_json(r._mapping["payload"]))
        )

    def recent(
        self, *, guild_id: int | None, subject: str | None = None, limit: int = 10
    ) -> list[HistoryRow]:
        """The newest assessments first; ``subject`` matches case-insensitively, as a substring."""
        q = select(*self._ROW_COLUMNS).where(self._guild_clause(guild_id))
        if subject:
            q = q.where(assessments.c.subject_key.contains(subject_key(subject), autoescape=True))
        q = q.order_by(assessments.c.created_at.desc(), assessments.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(q)]

    def most_assessed(self, *, guild_id: int | None) -> str | None:
        """The subject this guild assessed most often (the newest on a tie), or None."""
        q = (
            select(assessments.c.subject_key, func.count().label("n"), func.max(assessments.c.id).label("last"))
            .where(self._guild_clause(guild_id))
            .group_by(assessments.c.subject_key)
            .order_by(func.count().desc(), func.max(assessments.c.id).desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            top = conn.execute(q).first()
            if top is None:
                return None
            return conn.execute(select(assessments.c.subject).where(assessments.c.id == top.last)).scalar()

    def series(self, *, guild_id: int | None, subject: str, limit: int = 200) -> list[HistoryRow]:
        """One subject's assessments, oldest first (what the chart plots). Exact subject match."""
        q = (
            select(*self._ROW_COLUMNS)
            .where(self._guild_clause(guild_id), assessments.c.subject_key == subject_key(subject))
            .order_by(assessments.c.created_at.desc(), assessments.c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = [self._row(r) for r in conn.execute(q)]
        return rows[::-1]


# -- the chart ---------------------------------------------------------------------------------



def render_chart(rows: list[HistoryRow], subject: str) -> bytes:
    """A small PNG: overall likelihood (top) and the five variable scores (bottom) over time.

    Uses matplotlib's object API with the Agg canvas (no pyplot global state), so it is safe to
    call from worker threads and never needs a display.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    if not rows:
        raise ValueError("nothing to plot")
    xs = [r.created_at for r in rows]
    fig = Figure(figsize=(6.4, 4.4), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.3))
    top.plot(xs, [float("nan") if r.likelihood is None else r.likelihood for r in rows], marker="o", color="#c62828", linewidth=2)
    top.set_ylim(0, 100)
    top.set_ylabel("likelihood %")
    top.set_title(f"{subject[:60]}: assessments over time", fontsize=11)
    top.grid(alpha=0.3)
    nan = float("nan")
    for i, (key, label) in enumerate(short_labels().items()):
        offset = (i - 2) * 0.05  # equal scores would hide each other's lines: nudge them apart
        ys = [nan if (s := r.scores.get(key)) is None else s + offset for r in rows]
        bottom.plot(xs, ys, marker="o", markersize=4, linewidth=1.4, label=label)
    bottom.set_ylim(-0.3, 4.3)
    bottom.set_yticks(range(5))
    bottom.set_ylabel("score 0-4")
    bottom.grid(alpha=0.3)
    fig.legend(fontsize=7, ncols=5, loc="outside lower center", frameon=False)
    locator = AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
