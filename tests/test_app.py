"""App as a context manager: whatever happens inside ``with``, its stores, lexical index and LLM
are closed on the way out."""

from __future__ import annotations

import sqlite3

import pytest

from bot.app import App


class ClosingLLM:
    closed = 0

    def close(self) -> None:
        self.closed += 1


def test_with_closes_everything_even_after_an_error(settings) -> None:
    llm = ClosingLLM()
    with pytest.raises(RuntimeError, match="inside"), App(settings, llm=llm) as app:
        lexical = app.store().lexical
        assert app.store().count() == 0
        raise RuntimeError("inside")
    assert llm.closed == 1
    assert app._stores == {} and app._backend is None
    with pytest.raises(sqlite3.ProgrammingError):  # the lexical index's connection is closed
        lexical.document(settings.collection, "any")
    app.close()  # closing again is harmless
