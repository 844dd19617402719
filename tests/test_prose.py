"""is_prose: sentences are evidence; keyword lines, headings, captions and tag lists are not."""

from __future__ import annotations

import pytest

from bot.corpus.prose import is_prose

PROSE = [
    "Tokayev asked the CSTO for help on 5 January, and Russian paratroopers landed the next day.",
    "The CSTO said it would send peacekeepers.",
    "Moscow has long regarded Central Asia as its backyard.",
    "“We will not allow a colour revolution,” Putin told the summit, adding that the mission was over.",
    # running text cut by a chunker mid-sentence is still prose
    "Moscow has bases in Kyrgyzstan and Tajikistan and a large ethnic Russian population lives in the north "
    "of Kazakhstan, which has made the question of its borders a recurring theme of the Kremlin's",
]
NOT_PROSE = [
    "Tokayev CSTO troops Kazakhstan.",  # the keyword line of issue 10
    "Kazakhstan, CSTO, Russia, troops, Tokayev, Almaty, protests, January 2022.",
    "Russia Sends Troops Into Kazakhstan As Protests Spread Across The Country",  # a headline
    "Photo: Reuters",
    "Share this article",
    "Tags: Russia; Kazakhstan; CSTO; intervention; peacekeeping; Almaty",
    "",
    "   ",
    "Russian troops Almaty airport CSTO deployment January",
]


@pytest.mark.parametrize("text", PROSE)
def test_sentences_are_prose(text: str) -> None:
    assert is_prose(text)


@pytest.mark.parametrize("text", NOT_PROSE)
def test_fragments_are_not_prose(text: str) -> None:
    assert not is_prose(text)
