"""What the CLI prints is the data as text: rich markup in titles and links is shown, not obeyed;
terminal escape sequences in documents and questions never reach the terminal; a Discord outage at
``analyst serve`` start is one line."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import tcp_server
from typer.testing import CliRunner

from bot.config import REPO_ROOT

OSC8 = "\x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[3J\x1b[H"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    for name in list(os.environ):
        if name.upper().startswith("ANALYST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ANALYST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env
    yield CliRunner()


def _invoke(runner: CliRunner, *args: str):
    from bot.cli import app

    return runner.invoke(app, list(args))


def test_markup_in_titles_and_links_is_printed_as_written(cli: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "brackets.md").write_text(
        '---\ntitle: "Kazakhstan [/] and [bold]CSTO[/bold] [link=https://x.example]x[/link]"\n'
        "source: \"[red]Wire\"\ndate: 2022-01-07\n---\nTokayev asked the CSTO for troops on 5 January 2022.\n",
        encoding="utf-8",
    )
    first = _invoke(cli, "ingest", str(docs), "http://127.0.0.1:9/[/]x?[bold]y")
    assert first.exception is None or isinstance(first.exception, SystemExit), first.exception
    assert "1 added" in first.output and "1 failed" in first.output, first.output
    assert "http://127.0.0.1:9/[/]x?[bold]y" in first.output  # the report names the link as given
    assert first.exit_code == 1  # one item failed

    listing = _invoke(cli, "corpus", "list")
    assert listing.exit_code == 0, listing.output
    flat = " ".join(listing.output.split())
    assert "[/]" in flat and "[bold]CSTO[/bold]" in flat and "[red]Wire" in flat
    assert "1 documents" in listing.output

    src = _invoke(cli, "sources", "Tokayev CSTO troops", "--k", "1")
    assert src.exit_code == 0 and "[bold]CSTO[/bold]" in " ".join(src.output.split())

    missing = _invoke(cli, "corpus", "delete", "no-such-[/]-doc")
    assert missing.exit_code != 0 and "Traceback" not in missing.output


def test_escape_sequences_never_reach_the_terminal(cli: CliRunner, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hostile.md").write_text(
        f'---\ntitle: "Almaty{CLEAR} airport"\nsource: "Wire{CLIPBOARD}"\ndate: 2022-01-07\n'
        f'url: "https://example.org/a"\n---\n'
        f"Russian paratroopers landed in Almaty and took the airport. {OSC8}\n\n"
        f"Tokayev asked the CSTO for help against what he called terrorists.{CLEAR}\n",
        encoding="utf-8",
    )
    for args in (
        ["ingest", str(docs)],
        ["corpus", "list"],
        ["sources", f"paratroopers Almaty{CLEAR}", "--k", "2"],
        ["ask", f"Will Russia send troops into Kazakhstan?{CLEAR}{OSC8}", "--engine", "indicators"],
    ):
        result = _invoke(cli, *args)
        assert result.exit_code == 0, (args, result.output)
        assert "\x1b" not in result.output and "\x07" not in result.output, (args, repr(result.output))
    listing = _invoke(cli, "corpus", "list").output
    assert "Almaty airport" in " ".join(listing.split())


# --------------------------------------------------------------------------------------------
# analyst serve: a Discord that cannot be reached is one line, not a traceback

SERVE = """
import sys
import discord.http
discord.http.Route.BASE = sys.argv[1]
sys.argv = ["analyst", "serve", "--no-seed"]
from bot.cli import main
main()
"""


@pytest.fixture
def dropping_server() -> Iterator[int]:
    """Accepts each connection, reads the request and hangs up without a word."""

    def hang_up(conn: socket.socket) -> bool:
        conn.settimeout(2)
        with contextlib.suppress(OSError):
            conn.recv(65536)
        return False

    with tcp_server(hang_up) as port:
        yield port


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["refused", "dropped"])
def test_serve_answers_a_discord_outage_with_one_line(kind, request, tmp_path: Path) -> None:
    port = request.getfixturevalue("dropping_server") if kind == "dropped" else _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ANALYST_")}
    env |= {
        "ANALYST_DISCORD_TOKEN": "not-a-real-token",
        "ANALYST_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", SERVE, f"http://127.0.0.1:{port}/api/v10"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: cannot reach Discord ("), proc.stderr
