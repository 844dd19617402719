"""``analyst eval`` and ``analyst eval-retrieval``: registered on the main CLI by :func:`register`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings
from bot.errors import ConfigError, UserError
from bot.terminal import markup_safe


class EngineOpt(StrEnum):
    auto = "auto"
    llm = "llm"
    indicators = "indicators"


class ProviderOpt(StrEnum):
    none = "none"
    openai = "openai"
    anthropic = "anthropic"
    ollama = "ollama"
    llamacpp = "llamacpp"


def _settings(**overrides) -> Settings:
    try:
        return Settings(**overrides)
    except Exception as exc:  # pydantic ValidationError: one line about the bad setting
        raise ConfigError(f"Invalid configuration: {' '.join(str(exc).splitlines()[:3])}") from exc


def _console(stderr: bool = False):
    from bot.terminal import console

    return console(stderr)


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr; yields the (what, done, total) callback the runner calls."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=_console(True), transient=True,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            stage = "indexing" if what == "indexing" else "searching" if what == "searching" else "assessing"
            if stage not in tasks:
                tasks[stage] = bar.add_task(markup_safe(what), total=total)
            bar.update(tasks[stage], description=markup_safe(what), completed=done, total=total)

        yield update


def _load_baseline(path: Path | None, model):
    """The earlier report, read before this run may overwrite it."""
    if path is None:
        return None
    try:
        return model.model_validate_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{path}: no such report") from exc
    except ValueError as exc:
        raise UserError(f"{path}: not a report of this kind ({str(exc).splitlines()[0]})") from exc


def _write_json(path: Path, data: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data, encoding="utf-8")


def eval_cases(
    cases: Annotated[Path, typer.Argument(help="A case file (YAML, with its documents in docs/ next to it).")],
    engine: Annotated[EngineOpt, typer.Option(help="auto: the LLM when one is configured, else indicators.")] = EngineOpt.auto,
    provider: Annotated[ProviderOpt | None, typer.Option(help="LLM provider (default: ANALYST_LLM_PROVIDER).")] = None,
    with_starter_corpus: Annotated[
        bool, typer.Option("--with-starter-corpus", help="Also index knowledge/ (off: it describes some cases' outcomes).")
    ] = False,
    out: Annotated[Path, typer.Option(help="Folder for the JSON report and the reliability diagram.")] = Path("reports"),
    calibrate: Annotated[
        bool, typer.Option("--calibrate", help="Fit the likelihood parameters by grid search; report the leave-one-out Brier.")
    ] = False,
    baseline: Annotated[
        Path | None,
        typer.Option(help="An earlier JSON report to compare with (may be the file this run overwrites)."),
    ] = None,
    write_params: Annotated[
        bool, typer.Option("--write-params", help="With --calibrate: write the parameters fitted on all cases to prompts/scoring.yaml.")
    ] = False,
) -> None:
    """Assess every case of a case file as of its date; Brier, accuracy, variable agreement, citation checks."""
    from rich.markup import escape

    from bot.evaluation.cases import load_cases
    from bot.evaluation.report import compare_eval, reliability_png, render_eval
    from bot.evaluation.runner import EvalReport, run_cases
    from bot.evaluation.runner import write_params as _write_params

    if write_params and not calibrate:
        raise typer.BadParameter("--write-params needs --calibrate")
    settings = _settings(**({"llm_provider": provider.value} if provider else {}))
    if engine is EngineOpt.llm and settings.llm_provider == "none":
        raise ConfigError("--engine llm needs an LLM: set ANALYST_LLM_PROVIDER or pass --provider.")
    case_file = load_cases(cases)
    old = _load_baseline(baseline, EvalReport)
    with _progress() as update:
        report = run_cases(
            case_file, settings, engine=engine.value, with_starter_corpus=with_starter_corpus,
            calibrate=calibrate, progress=update,
        )
    if write_params:
        target = settings.prompts_dir / "scoring.yaml"
        assert report.calibration is not None
        if report.calibration.warnings:  # a fit that does not beat the base rate is not shipped
            _console(stderr=True).print(
                f"[yellow]not written: {escape(report.calibration.warnings[0])}[/yellow]"
            )
        else:
            _write_params(target, report)
            report.calibration.written_to = str(target)
    out_json = out / f"eval-{report.label}.json"
    _write_json(out_json, report.model_dump_json(indent=2))
    png = reliability_png(report, out / f"reliability-{report.label}.png")
    console = _console()
    console.print(render_eval(report))
    if old is not None:
        console.print(compare_eval(old, report))
    console.print(f"report: {markup_safe(out_json)}" + (f"; reliability diagram: {markup_safe(png)}" if png else ""))
    if not report.passed:
        raise typer.Exit(1)


def eval_retrieval(
    questions: Annotated[
        Path, typer.Argument(help="Questions YAML: [{question, relevant: [file names], kind, as_of}], or {corpus, questions}.")
    ],
    corpus: Annotated[
        list[Path] | None,
        typer.Option("--corpus", help="Folder or file to index (repeatable; default: the set's corpus: key, else knowledge/)."),
    ] = None,
    k: Annotated[int, typer.Option(min=1, max=50, help="How many passages count as retrieved.")] = 5,
    out: Annotated[Path, typer.Option(help="Folder for the JSON report.")] = Path("reports"),
    baseline: Annotated[Path | None, typer.Option(help="An earlier JSON report to compare with.")] = None,
) -> None:
    """Recall@k and MRR of vector, lexical and hybrid search on a question set with known relevant documents."""
    from bot.evaluation.report import compare_retrieval, retrieval_table
    from bot.evaluation.runner import RetrievalReport, run_retrieval

    settings = _settings()
    for d in corpus or []:
        if not d.exists():
            raise UserError(f"{d}: no such file or folder")
    old = _load_baseline(baseline, RetrievalReport)
    with _progress() as update:
        report = run_retrieval(questions, corpus, settings, k=k, progress=update)
    out_json = out / f"retrieval-{questions.stem}.json"
    _write_json(out_json, report.model_dump_json(indent=2))
    _console().print(retrieval_table(report))
    if old is not None:
        _console().print(compare_retrieval(old, report))
    _console().print(f"report: {markup_safe(out_json)}")


def register(app: typer.Typer) -> None:
    """Add ``eval`` and ``eval-retrieval`` to the main CLI."""
    app.command("eval")(eval_cases)
    app.command("eval-retrieval")(eval_retrieval)

