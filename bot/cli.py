"""``analyst``: the command line. Same core as the bot: ingest, sources, corpus, ask, serve, eval."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from bot.config import Settings
from bot.core.models import EngineChoice, VariableAssessment
from bot.corpus.cleaning import strip_controls
from bot.errors import UserError
from bot.terminal import markup_safe, safe

if TYPE_CHECKING:
    from bot.app import App

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Scored, cited assessments of Russian intervention questions.")
corpus_app = typer.Typer(no_args_is_help=True, help="List, delete or check indexed documents.")
app.add_typer(corpus_app, name="corpus")


def _date(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from exc


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # pydantic ValidationError: show which setting is wrong, in one line
        raise UserError("Invalid configuration: " + "; ".join(str(exc).splitlines()[:3])) from exc


def _app(settings: Settings, **kw) -> App:
    from bot.app import App

    kw.setdefault("notify", lambda msg: _console(True).print(f"[yellow]{markup_safe(msg)}[/]"))
    return App(settings, **kw)


@app.command()
def ingest(
    items: Annotated[list[str], typer.Argument(help="Files, folders (recursively) or http(s) URLs.")],
    date: Annotated[str | None, typer.Option(help="Publication date for these items (YYYY-MM-DD).")] = None,
    title: Annotated[str | None, typer.Option(help="Title (for a single item).")] = None,
    source: Annotated[str | None, typer.Option(help="Source name, e.g. 'Foreign Policy'.")] = None,
    url: Annotated[str | None, typer.Option(help="Canonical link to cite (for a single item).")] = None,
    tags: Annotated[str | None, typer.Option(help="Comma-separated tags.")] = None,
    collection: Annotated[str | None, typer.Option(help="Collection (default: ANALYST_COLLECTION).")] = None,
) -> None:
    """Index documents: added, updated, skipped (unchanged) and failed, with reasons.

    Exits 1 when any item failed (the others are indexed all the same)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.ingest import expand, ingest_items, summarise

    settings = _settings()
    _date(date)  # a malformed --date is a usage error before anything loads
    meta = {k: v for k, v in {"date": date, "title": title, "source": source, "url": url, "tags": tags}.items() if v}
    if (title or url) and len(expand(items)) > 1:
        raise UserError("--title and --url apply to a single document; give one file or URL.")
    out = _console()
    with _app(settings, build_llm=False) as core, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=_console(True), transient=True
    ) as bar:
        task = bar.add_task("indexing", total=None)

        def progress(i: int, n: int, outcome) -> None:
            bar.update(task, total=n, completed=i, description=f"indexing {markup_safe(outcome.name[:40])}")

        outcomes = ingest_items(core.store(collection), items, settings, meta=meta or None, progress=progress)
    for o in outcomes:
        style = {"added": "green", "updated": "cyan", "skipped": "dim", "failed": "red"}[o.status]
        detail = f" ({o.chunks} chunks)" if o.chunks else ""
        reason = f": {o.reason}" if o.reason else ""
        out.print(f"[{style}]{o.status:>8}[/] {markup_safe(o.name)}{detail}{markup_safe(reason)}")
        for w in o.warnings:
            out.print(f"         [yellow]warning[/] {markup_safe(o.name)}: {markup_safe(w)}")
    counts = summarise(outcomes)
    out.print(", ".join(f"{v} {k}" for k, v in counts.items()))
    if counts["failed"]:
        raise typer.Exit(1)  # a script (or CI) must see that something was not indexed


@app.command()
def sources(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", min=1, max=50)] = 5,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Only passages published on or before this date.")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only from this source (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only with this tag (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(help="Only published on or after this date.")] = None,
    collection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Numbered background passages (no LLM): title, date, paragraph, link and text."""
    from bot.store import SearchFilter
    from bot.terminal import render_passages

    settings = _settings()
    query = strip_controls(query)
    if not query.strip():
        raise UserError("Give something to search for.")
    flt = SearchFilter(as_of=_date(as_of), date_from=_date(since), sources=tuple(source or ()), tags=tuple(tag or ()))
    with _app(settings, build_llm=False) as core:
        passages = core.store(collection).search(query[: settings.max_question_chars * 4], k, flt)
    if as_json:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in passages], indent=2, ensure_ascii=False))
        return
    if not passages:
        _console().print("No passage matches." + (" (Is the corpus indexed? Try `analyst ingest knowledge/`.)" if not as_of else ""))
        return
    _console().print(render_passages(passages))


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help='e.g. "Will Russia send troops into Kazakhstan?"')],
    as_of: Annotated[str | None, typer.Option("--as-of", help="Assess as of this date (YYYY-MM-DD).")] = None,
    engine: Annotated[str, typer.Option(help="auto (LLM if configured), llm or indicators.")] = "auto",
    collection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the assessment as JSON.")] = False,
) -> None:
    """Assess a question on the five variables and print the scored, cited answer."""
    from bot.terminal import render_assessment

    if engine not in {"auto", "llm", "indicators"}:
        raise typer.BadParameter("engine must be auto, llm or indicators")
    choice = cast(EngineChoice, engine)  # checked just above
    from bot.core.pipeline import check_question

    settings = _settings()
    question = strip_controls(question)  # an escape sequence in a question is not part of it
    check_question(question, settings.max_question_chars)  # before loading anything
    with _app(settings, build_llm=engine != "indicators") as core:
        if core.store(collection).count() == 0:
            raise UserError("The corpus is empty: index something first, e.g. `analyst ingest knowledge/`.")
        err = _console(stderr=True)
        started = time.perf_counter()

        def progress(variable: str, v: VariableAssessment | None) -> None:
            # the CLI fills in variable by variable, as the Discord answer does
            if v is None or core.assessor.judge is None or engine == "indicators":
                return
            lean = f"{v.score}/4" if v.assessed else "no checked evidence"
            err.print(f"[dim]{time.perf_counter() - started:6.1f} s  {variable.replace('_', ' ')}: {lean}[/dim]")

        result = core.assess(question, collection=collection, as_of=_date(as_of), engine=choice, progress=progress)
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        _console().print(render_assessment(result))


@corpus_app.command("list")
def corpus_list(collection: Annotated[str | None, typer.Option()] = None) -> None:
    """The indexed documents: id, date, title, source, chunks."""
    from rich.table import Table
    from rich.text import Text

    settings = _settings()
    with _app(settings, build_llm=False) as core:
        docs = core.store(collection).documents()
    table = Table()
    table.add_column("id", no_wrap=True)
    table.add_column("date", no_wrap=True)
    table.add_column("title")
    table.add_column("source")
    table.add_column("chunks", justify="right")
    for d in docs:
        # Text cells, not str: a str cell is rich markup, and a title holding "[/]" is data
        table.add_row(
            Text(safe(d.id)), d.date.isoformat() if d.date else "undated", Text(safe(d.title)), Text(safe(d.source)),
            str(d.chunks),
        )
    _console().print(table)
    _console().print(f"{len(docs)} documents")


@corpus_app.command("delete")
def corpus_delete(doc_id: str, collection: Annotated[str | None, typer.Option()] = None) -> None:
    """Remove a document (its vectors and lexical rows)."""
    settings = _settings()
    with _app(settings, build_llm=False) as core:
        found = core.store(collection).delete(doc_id)
    if not found:
        raise UserError(f"No document with id '{doc_id}' (see `analyst corpus list`).")
    _console().print(f"deleted {markup_safe(doc_id)}")


@corpus_app.command("check")
def corpus_check(
    repair: Annotated[
        bool, typer.Option("--repair", help="Re-embed missing vectors, delete stale and orphan ones, rebuild the full-text index.")
    ] = False,
    collection: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Compare every document's chunks across the registry, the lexical index and the vectors."""
    settings = _settings()
    core = _app(settings, build_llm=False)
    try:
        report = core.store(collection).check(repair=repair)
    finally:
        core.close()
    out = _console()
    out.print(
        f"{report.documents} documents, {report.chunks} chunks in the lexical index, {report.vectors} vectors "
        f"(collection {markup_safe(report.collection)})"
    )
    problems = [
        (f"{sum(map(len, report.missing.values()))} chunk(s) of {len(report.missing)} document(s) have no vector", report.missing),
        (f"{len(report.stale)} stale vector(s) (an old version of a document)", report.stale),
        (f"{len(report.orphans)} orphan vector(s) (no such document)", report.orphans),
        (f"{len(report.miscounted)} document(s) whose lexical rows do not match the registry", report.miscounted),
    ]
    for text, what in problems:
        if what:
            out.print(f"[red]problem[/] {text}")
    if not report.fts_ok:
        out.print("[red]problem[/] the full-text index does not match its table")
    for doc_id, (registered, rows) in list(report.miscounted.items())[:10]:
        out.print(f"         {markup_safe(doc_id)}: {registered} registered, {rows} lexical rows: re-ingest it")
    if report.ok:
        out.print("[green]ok[/]: every document's chunks are in all three")
        return
    if repair:
        done = ", ".join(f"{v} {k}" for k, v in report.repaired.items()) or "nothing repairable"
        out.print(f"repaired: {done}")
        if report.miscounted:
            raise typer.Exit(1)
        return
    out.print("run `analyst corpus check --repair` to fix it")
    raise typer.Exit(1)


def _console(stderr: bool = False):
    from bot.terminal import console

    return console(stderr)


def _register_plugins() -> None:
    """Commands that live with their feature: serve (Discord), eval and eval-retrieval."""
    for module in ("bot.discord.cli", "bot.evaluation.cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # feature not present in this checkout
            raise
        mod.register(app)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("chromadb").setLevel(logging.ERROR)
    _register_plugins()
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of raising it
    except UserError as exc:
        _console(True).print(f"[red]error:[/] {markup_safe(exc.message)}", soft_wrap=True)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:
        if isinstance(exc, _click_exceptions()):
            exc.show()
            sys.exit(exc.exit_code)
        logging.getLogger("analyst").exception("unexpected error")
        _console(True).print(f"[red]error:[/] unexpected {type(exc).__name__}; the traceback is above.")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions() -> tuple[type[Any], ...]:
    """Usage errors: typer >= 0.29 raises its vendored click's, older typer plain click's (two
    unrelated classes, both with ``show()`` and ``exit_code``)."""
    import click

    kinds: list[type[Any]] = [click.exceptions.ClickException]
    try:
        from typer._click import exceptions as vendored

        kinds.append(vendored.ClickException)
    except ImportError:
        pass
    return tuple(kinds)


if __name__ == "__main__":
    main()
