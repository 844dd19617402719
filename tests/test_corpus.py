"""Loaders, cleaning and chunking: files in, clean paragraphs and well-labelled chunks out."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

from bot.corpus.chunking import chunk_document
from bot.corpus.cleaning import clean_blocks, split_blocks, strip_controls
from bot.corpus.document import Document, slugify, url_id
from bot.corpus.loaders import load_file, parse_date
from bot.embeddings import MAX_TOKENS
from bot.errors import BadInput
from bot.ingest import ingest_items, summarise

MAX = 10_000_000

# --------------------------------------------------------------------------------------------
# helpers


def make_pdf(lines: list[str], title: str | None = None) -> bytes:
    """A real one-page PDF (Helvetica text, correct xref offsets) written by hand."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "72 720 Td", *(f"({esc(ln)}) Tj T*" for ln in lines), "ET"]
    stream = "\n".join(ops).encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    if title:
        objs.append(b"<< /Title (" + esc(title).encode("latin-1") + b") >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objs) + 1)
    if title:
        trailer += b" /Info %d 0 R" % len(objs)
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


HTML_PAGE = """<!doctype html><html><head><title>Belarus border drills | Example News</title>
<meta name="date" content="2021-09-10"><meta property="og:site_name" content="Example News"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news menu</a></li>
<li><a href="/subscribe">Subscribe to our newsletter today</a></li></ul></nav>
<article><h1>Belarus border drills</h1>
<p>Belarusian and Russian units began the Zapad exercise near Grodno on Friday, with about two hundred
thousand troops taking part according to the defence ministry in Minsk.</p>
<p>Observers from Lithuania and Poland said the scale of the drills was larger than announced, and that
several airborne battalions had been moved by rail from the Pskov region during the night.</p>
<p>Officials in Vilnius called the exercise a rehearsal for a rapid deployment across the Suwalki gap,
while Moscow said it was purely defensive in nature.</p>
</article>
<footer><p>Copyright 2021 Example News. All rights reserved. Privacy policy. Cookie settings.</p></footer>
</body></html>"""


# --------------------------------------------------------------------------------------------
# loaders


def test_markdown_front_matter_with_tags(tmp_path, write_doc):
    path = write_doc(
        tmp_path,
        "kaz.md",
        "# Heading that is not the title\n\nTokayev asked the CSTO for help on 5 January.\n\n"
        "About 2,000 troops deployed, mostly Russian airborne forces.",
        title="CSTO deploys to Kazakhstan",
        date="2022-01-07",
        source="Desk note",
        url="https://example.org/kaz",
        tags=["Kazakhstan", "CSTO", "csto"],
        id="kaz-csto",
    )
    doc = load_file(path, max_bytes=MAX)
    assert doc.id == "kaz-csto"
    assert doc.title == "CSTO deploys to Kazakhstan"
    assert doc.date == dt.date(2022, 1, 7)
    assert doc.source == "Desk note"
    assert doc.url == "https://example.org/kaz"
    assert doc.tags == ["csto", "kazakhstan"]  # lower-cased, de-duplicated, sorted
    assert doc.paragraphs == [
        "Heading that is not the title",
        "Tokayev asked the CSTO for help on 5 January.",
        "About 2,000 troops deployed, mostly Russian airborne forces.",
    ]
    assert doc.warnings == []


def test_markdown_tags_as_comma_string(tmp_path, write_doc):
    path = write_doc(
        tmp_path, "t.md", "Body text about Abkhazia.", title="T", tags="Georgia, abkhazia ; peacekeeping"
    )
    assert load_file(path, max_bytes=MAX).tags == ["abkhazia", "georgia", "peacekeeping"]


def test_txt_without_metadata_takes_title_from_first_line(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text(
        "Armenia asks for help\n\nOn 13 September 2022 Azerbaijani forces struck targets inside Armenia.\n\n"
        "Yerevan invoked the CSTO treaty; the organisation sent only a fact-finding mission.\n",
        encoding="utf-8",
    )
    doc = load_file(path, max_bytes=MAX)
    assert doc.title == "Armenia asks for help"
    assert doc.id == "note"
    assert doc.paragraphs[0].startswith("On 13 September 2022")
    assert len(doc.paragraphs) == 2
    assert doc.date == dt.date(2022, 9, 13)  # a full date near the top is used when there is no metadata
    assert doc.source == "" and doc.url is None and doc.tags == []


def test_txt_without_any_date_warns(tmp_path):
    path = tmp_path / "undated.txt"
    path.write_text("A title\n\nSome text without any date in it at all.\n", encoding="utf-8")
    doc = load_file(path, max_bytes=MAX)
    assert doc.date is None
    assert any("no date" in w for w in doc.warnings)


def test_html_main_text_extracted_and_furniture_dropped(tmp_path):
    path = tmp_path / "drills.html"
    path.write_text(HTML_PAGE, encoding="utf-8")
    doc = load_file(path, max_bytes=MAX)
    assert doc.title == "Belarus border drills"
    assert doc.date == dt.date(2021, 9, 10)
    assert doc.source == "Example News"
    text = "\n".join(doc.paragraphs)
    assert "Zapad exercise near Grodno" in text
    assert "Suwalki gap" in text
    assert len(doc.paragraphs) == 3
    for furniture in ("Home", "World news menu", "Subscribe", "Copyright", "Privacy policy", "Cookie"):
        assert furniture not in text


def test_pdf_text_is_loaded(tmp_path):
    path = tmp_path / "armenia.pdf"
    path.write_bytes(
        make_pdf(
            [
                "Armenia asked the CSTO for help in September 2022.",
                "The organisation sent a fact-finding mission",
                "instead of troops, and Yerevan was angered.",
                "",
                "Russia kept its base at Gyumri.",
            ],
            title="Armenia and the CSTO",
        )
    )
    doc = load_file(path, max_bytes=MAX)
    assert doc.title == "Armenia and the CSTO"  # from the PDF's document information
    assert doc.paragraphs == [
        "Armenia asked the CSTO for help in September 2022.",
        # hard-wrapped lines are joined back into one paragraph
        "The organisation sent a fact-finding mission instead of troops, and Yerevan was angered.",
        "Russia kept its base at Gyumri.",
    ]


def test_pdf_without_title_uses_first_line(tmp_path):
    path = tmp_path / "untitled.pdf"
    path.write_bytes(make_pdf(["Gyumri base note.", "", "The 102nd base hosts several thousand troops."]))
    doc = load_file(path, max_bytes=MAX)
    assert doc.title == "Gyumri base note."
    assert doc.paragraphs == ["The 102nd base hosts several thousand troops."]


# --------------------------------------------------------------------------------------------
# bad files: one line each, the rest of the batch goes on


def test_bad_files_fail_alone_with_one_line_reasons(tmp_path, store, settings, write_doc):
    folder = tmp_path / "batch"
    write_doc(
        folder, "good-1.md", "Russia keeps a base at Gyumri in Armenia.", title="Good one", date="2021-03-01"
    )
    write_doc(
        folder,
        "good-2.md",
        "The CSTO sent no troops to Armenia in 2022.",
        title="Good two",
        date="2022-09-20",
    )
    (folder / "empty.md").write_bytes(b"")
    (folder / "blank.txt").write_text("   \n\n  \n", encoding="utf-8")
    (folder / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (folder / "report.docx").write_bytes(b"PK\x03\x04 not really a docx")
    (folder / "huge.txt").write_text("Title\n\n" + "word " * 400, encoding="utf-8")
    (folder / "broken-front.md").write_text(
        "---\ntitle: [unclosed\ndate: 2022-01-01\n---\nBody.\n", encoding="utf-8"
    )
    (folder / "list-front.md").write_text("---\n- a\n- b\n---\nBody text.\n", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref")
    (folder / "fake.pdf").write_bytes(b"this is not a pdf at all")

    small = settings.model_copy(update={"max_file_bytes": 1000})
    seen: list[tuple[int, int, str]] = []
    outcomes = ingest_items(store, [str(folder)], small, progress=lambda i, n, o: seen.append((i, n, o.name)))
    by_name = {o.name: o for o in outcomes}

    assert by_name["good-1.md"].status == "added" and by_name["good-2.md"].status == "added"
    expected = {
        "empty.md": "empty",
        "blank.txt": "empty",
        "binary.txt": "binary",
        "report.docx": "unknown kind of file",
        "huge.txt": "too large",
        "broken-front.md": "front matter is not valid YAML",
        "list-front.md": "front matter must be a mapping",
        "broken.pdf": "not a readable PDF",
        "fake.pdf": "not a PDF",
    }
    for name, fragment in expected.items():
        o = by_name[name]
        assert o.status == "failed", name
        assert fragment in o.reason, (name, o.reason)
        assert "\n" not in o.reason and len(o.reason) < 200, (name, o.reason)
        assert name in o.reason, (name, o.reason)
    assert summarise(outcomes) == {"added": 2, "updated": 0, "skipped": 0, "failed": len(expected)}
    assert [i for i, _, _ in seen] == list(range(1, len(outcomes) + 1))
    assert {n for _, n, _ in seen} == {len(outcomes)}
    assert store.count() == store.vector_count() == 2
    assert {d.title for d in store.documents()} == {"Good one", "Good two"}


def test_unreadable_file_has_a_reason(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("running as root: file permissions cannot make a file unreadable")
    path = tmp_path / "secret.md"
    path.write_text("Title\n\nText.\n", encoding="utf-8")
    path.chmod(0)
    try:
        with pytest.raises(BadInput, match=r"secret\.md: cannot be read \(permission denied\)"):
            load_file(path, max_bytes=MAX)
    finally:
        path.chmod(0o600)


def test_missing_file_and_folder_item(tmp_path):
    with pytest.raises(BadInput, match="no such file"):
        load_file(tmp_path / "nope.md", max_bytes=MAX)
    with pytest.raises(BadInput, match="not a regular file"):
        load_file(tmp_path, max_bytes=MAX)


# --------------------------------------------------------------------------------------------
# cleaning: the pasted seed article

SEED_JUNK = [
    "Join the Conversation",
    "Already a subscriber",
    "Not your account",
    "commenting as",
    "comment guidelines",
    "More from Foreign Policy",
    "Iran",
    "Tehran",
    "New Zealand",
    "Hipkins",
    "Egypt",
    "Megalopolises",
    "Scholz",
    "gas mask",  # the caption, in all three forms
    "Getty Images",
    "Eugene Chausovsky",  # the bio
    "Stratfor",
    "By ,",  # the empty byline
]


def test_seed_article_is_cleaned(seed_path):
    doc = load_file(seed_path, max_bytes=MAX)
    assert doc.title == "Why Russia Sent Troops Into Kazakhstan"
    text = "\n".join(doc.paragraphs)
    for junk in SEED_JUNK:
        assert junk not in text, junk
    lead = "In an article for Foreign Policy last week, I laid out a framework"
    assert sum(p.startswith(lead) for p in doc.paragraphs) == 1
    # the article itself is all there, from the standfirst to the last paragraph
    assert doc.paragraphs[0].startswith("Moscow\u2019s swift aid to a neighboring regime")
    assert doc.paragraphs[-1].startswith("There is a lot on the line in Kazakhstan")
    assert any("Collective Security Treaty Organization (CSTO)" in p for p in doc.paragraphs)
    assert len(doc.paragraphs) == 8


def test_seed_article_indexed_without_boilerplate(seed_path, store, settings, embedder):
    outcome = ingest_items(
        store, [str(seed_path)], settings, meta={"date": "2022-01-07", "source": "Foreign Policy"}
    )[0]
    assert outcome.status == "added", outcome
    rows = store.lexical._db.execute("SELECT text FROM chunks WHERE doc_id=?", (outcome.doc_id,)).fetchall()
    got = store._collection.get(where={"doc_id": outcome.doc_id}, include=["documents"])
    assert len(rows) == len(got["ids"]) == outcome.chunks
    for text in [r[0] for r in rows] + got["documents"]:
        for junk in SEED_JUNK:
            assert junk not in text, (junk, text[:80])
    lead = "In an article for Foreign Policy last week, I laid out a framework"
    assert sum(r[0].count(lead) for r in rows) == 1  # the duplicated lead paragraph: indexed once
    for text in got["documents"]:
        assert embedder.count_tokens(text) <= MAX_TOKENS


# --------------------------------------------------------------------------------------------
# cleaning rules on synthetic pages

ARTICLE = [
    "Tokayev is the president of Kazakhstan and has led the country since 2019, when he took over from "
    "Nursultan Nazarbayev, who kept wide powers as head of the Security Council.",
    "Fuel prices doubled in Zhanaozen at the start of the year, and protests spread within days to Aktau, "
    "Almaty and other cities, where crowds stormed public buildings.",
    "The president asked the CSTO for help on the night of 5 January, and the first Russian airborne units "
    "landed in Almaty the next morning to guard the airport and government sites.",
    "The force left within two weeks. Western governments protested mildly and threatened no sanctions, "
    "which suggests that the costs Moscow anticipated were small.",
    "Whether the deployment becomes a model for the region depends on how many governments would ever ask "
    "Moscow for help, and on what the Kremlin would demand in return.",
]


def _clean_page(lines: list[str]) -> list[str]:
    return clean_blocks(split_blocks("\n\n".join(lines)), title="Kazakhstan's January")


def test_repeated_blocks_are_kept_once():
    page = [ARTICLE[0], ARTICLE[0], ARTICLE[1], ARTICLE[2], ARTICLE[2].replace("’", "'"), *ARTICLE[3:]]
    assert _clean_page(page) == ARTICLE


def test_repeated_lines_inside_one_paragraph_are_split_and_kept_once():
    # a web paste often puts a repeated paragraph on consecutive lines with no blank line between
    text = "\n".join([ARTICLE[0], ARTICLE[0]]) + "\n\n" + "\n\n".join(ARTICLE[1:])
    assert clean_blocks(split_blocks(text)) == ARTICLE


def test_captions_with_credits_are_dropped():
    page = [
        ARTICLE[0],
        "Soldiers guard the airport in Almaty.",
        "Soldiers guard the airport in Almaty.",
        "Soldiers guard the airport in Almaty, Kazakhstan, on Jan. 8. Alexander Ryumin/TASS via Getty Images",
        ARTICLE[1],
        "Protesters gather in Aktau on Jan. 4. (AP Photo/Vladimir Tretyakov)",
        "A burnt car outside the city hall. REUTERS",
        *ARTICLE[2:],
    ]
    assert _clean_page(page) == ARTICLE


def test_byline_and_title_are_dropped():
    page = ["Kazakhstan's January", "By Jane Roe, a fellow at the Example Institute", "By ,", *ARTICLE]
    assert _clean_page(page) == ARTICLE


def test_bio_and_everything_after_it_are_cut():
    page = [
        *ARTICLE,
        "Jane Roe is a senior fellow at the Example Institute for Eurasian Studies. She previously "
        "worked as a correspondent in Almaty.",
        "Join the Conversation",
        "Commenting on this and other recent articles is just one benefit of a subscription.",
        "Already a subscriber? Log in.",
        "More from Example Magazine",
        "Why the Baltic States Are Arming",
        "A long read on the new front line of Europe and what it means for NATO planners.",
    ]
    assert _clean_page(page) == ARTICLE


def test_a_content_paragraph_shaped_like_a_bio_is_kept():
    # ARTICLE[0] starts "Tokayev is the president of Kazakhstan ...": early in the text, it is content
    assert _clean_page(ARTICLE)[0] == ARTICLE[0]


def test_trailing_furniture_without_a_bio_is_cut():
    page = [
        *ARTICLE,
        "Sign up for our daily newsletter",
        "Most popular",
        "The Iran-Israel War Is Just Getting Started",
        "As long as the two countries remain engaged in conflict, they will trade blows.",
        "Related articles",
        "New Zealand Becomes the Latest Country to Pivot to the U.S.",
    ]
    assert _clean_page(page) == ARTICLE


# --------------------------------------------------------------------------------------------
# chunking


def _doc(paragraphs: list[str], **kw) -> Document:
    return Document(id=kw.pop("id", "doc"), title=kw.pop("title", "A title"), paragraphs=paragraphs, **kw)


def test_chunks_are_paragraph_aligned_and_bounded(embedder):
    long_para = " ".join(
        f"Sentence {i} says that the Russian garrison at base number {i} reported on readiness, supply and morale."
        for i in range(40)
    )
    short = ["Short note one.", "Short note two.", "Short note three."]
    doc = _doc([ARTICLE[0], long_para, *short, ARTICLE[1]])
    chunks = chunk_document(doc, count_tokens=embedder.count_tokens, chunk_tokens=200, overlap_tokens=30)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(c.id == f"doc:{doc.content_hash[:12]}:{c.position:04d}" for c in chunks)
    for c in chunks:
        assert embedder.count_tokens(c.text) <= 200 <= MAX_TOKENS
        assert 1 <= c.paragraph_start <= c.paragraph_end <= len(doc.paragraphs)
    long_parts = [c for c in chunks if c.paragraph_start == c.paragraph_end == 2]
    assert len(long_parts) >= 3  # the 40-sentence paragraph had to be split
    assert all(re.search(r"[.]$", c.text) for c in long_parts)  # split at sentence ends
    # short consecutive paragraphs are packed into one chunk that names its paragraph range
    packed = [c for c in chunks if c.paragraph_start == 3]
    assert packed and packed[0].paragraph_end >= 5 and "Short note one. Short note two." in packed[0].text
    # every word of the document is in some chunk
    all_text = " ".join(c.text for c in chunks)
    for p in doc.paragraphs:
        assert p.split()[-1] in all_text


def test_chunk_ids_change_with_content(embedder):
    a = chunk_document(_doc([ARTICLE[0]]), count_tokens=embedder.count_tokens)
    b = chunk_document(_doc([ARTICLE[0] + " Edited."]), count_tokens=embedder.count_tokens)
    assert a[0].id != b[0].id and a[0].id.startswith("doc:") and b[0].id.startswith("doc:")


def test_knowledge_folder_loads_cleanly(knowledge_dir):
    docs = [load_file(p, max_bytes=MAX) for p in sorted(Path(knowledge_dir).glob("*.md"))]
    assert len(docs) >= 20
    for d in docs:
        assert d.title and d.date is not None and d.paragraphs, d.origin
        assert not d.warnings, (d.origin, d.warnings)


# --------------------------------------------------------------------------------------------
# document ids from names and URLs

@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kazakhstan-2022-csto-deployment", "kazakhstan-2022-csto-deployment"),
        ("Kazakhstan 2022_CSTO", "kazakhstan-2022-csto"),
        ("report (1)", "report-1"),
        ("Отчёт о визите", "отчёт-о-визите"),  # Cyrillic stays readable
        ("Доклад", "доклад"),
        ("Справка", "справка"),
        ("Ελληνικά νέα", "ελληνικά-νέα"),
        ("naïve café", "naïve-café"),
        ("ｆｕｌｌｗｉｄｔｈ", "fullwidth"),  # NFKC
        ("हिन्दी समाचार", "हिन्दी-समाचार"),  # combining marks kept with their letters
        ("--a--b--", "a-b"),
    ],
)
def test_slugify_keeps_names_readable_in_any_script(name, expected):
    assert slugify(name, 80) == expected


def test_names_without_letters_get_distinct_hashed_ids():
    ids = {slugify(n, 80) for n in ("???", "!!!", "★", "—")}
    assert len(ids) == 4 and all(re.fullmatch(r"doc-[0-9a-f]{8}", i) for i in ids)
    assert slugify("???", 80) == slugify("???", 80)  # stable


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://example.org/news?id=1", "https://example.org/news?id=2", False),
        ("https://example.org/news?id=1", "https://example.org/news", False),
        ("https://example.org/news#top", "https://example.org/news", True),  # a fragment is the same page
        ("https://example.org/a/b", "https://example.org/a-b", True),  # same slug: the store tells them apart
        ("https://example.org/" + "x" * 100 + "1", "https://example.org/" + "x" * 100 + "2", False),
    ],
)
def test_url_ids(a, b, same):
    assert (url_id(a) == url_id(b)) is same
    assert len(url_id(a)) <= 80


def test_front_matter_id_is_explicit(tmp_path, write_doc):
    given = load_file(write_doc(tmp_path, "a.md", "Text body here.", id="chosen", title="A", date="2020-01-01"), max_bytes=10_000)
    derived = load_file(write_doc(tmp_path, "b.md", "Text body here too.", title="B", date="2020-01-01"), max_bytes=10_000)
    assert (given.id, given.explicit_id) == ("chosen", True)
    assert (derived.id, derived.explicit_id) == ("b", False)

# bad metadata: a reason naming the field, never an internal error


def test_bad_metadata_fails_with_a_reason(tmp_path, store, settings):
    folder = tmp_path / "meta"
    folder.mkdir()
    body = "\nRussian troops guard the Cobasna depot in Transnistria.\n"
    files = {
        "bad-date.md": ("---\ntitle: T\ndate: 2022-13-45\n---" + body, "date '2022-13-45' is not a real date (month must be in 1..12)"),
        "bad-day.md": ("---\ntitle: T\ndate: 2022-02-30\n---" + body, "is not a real date (day is out of range"),
        "month-only.md": ("---\ntitle: T\ndate: September 2022\n---" + body, "only a month or a year, no day"),
        "year-only.md": ("---\ntitle: T\ndate: 2022\n---" + body, "not a date"),
        "words.md": ("---\ntitle: T\ndate: yesterday\n---" + body, "not a date with a year"),
        "tags-number.md": ("---\ntitle: T\ndate: 2022-01-01\ntags: 5\n---" + body, "tags must be a list or comma-separated text, not 5"),
        "tags-map.md": ("---\ntitle: T\ndate: 2022-01-01\ntags: {a: b}\n---" + body, "tags must be a list"),
        "bad-port.md": ("---\ntitle: T\ndate: 2022-01-01\nurl: http://host:99999/\n---" + body, "url 'http://host:99999/' is not a valid link (Port out of range"),
        "bad-scheme.md": ("---\ntitle: T\ndate: 2022-01-01\nurl: javascript:alert(1)\n---" + body, "is not an http(s) link"),
        "title-list.md": ("---\ntitle: [a, b]\ndate: 2022-01-01\n---" + body, "front matter title must be text, not a list"),
    }
    for name, (text, _) in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    outcomes = {o.name: o for o in ingest_items(store, [str(folder)], settings)}
    for name, (_, fragment) in files.items():
        o = outcomes[name]
        assert o.status == "failed", (name, o)
        assert fragment in o.reason, (name, o.reason)
        assert "internal error" not in o.reason and "\n" not in o.reason
    assert store.count() == 0


def test_written_dates_are_read_by_dateparser(tmp_path):
    for written, expected in [
        ("2022-01-07", dt.date(2022, 1, 7)),
        ("7 January 2022", dt.date(2022, 1, 7)),
        ("Jan. 7, 2022", dt.date(2022, 1, 7)),
        ("January 7, 2022", dt.date(2022, 1, 7)),
        ("2022-01-07T10:00:00Z", dt.date(2022, 1, 7)),
    ]:
        assert parse_date(written) == expected, written
    assert parse_date(dt.date(2022, 1, 7)) == dt.date(2022, 1, 7)
    assert parse_date(None) is None and parse_date("") is None


def test_future_date_is_accepted_with_a_warning(tmp_path, write_doc):
    path = write_doc(tmp_path, "future.md", "Russia will send troops.", title="Later", date="2031-05-01")
    doc = load_file(path, max_bytes=MAX)
    assert doc.date == dt.date(2031, 5, 1)
    assert any("dated 2031-05-01, in the future" in w for w in doc.warnings), doc.warnings
    today = write_doc(tmp_path, "today.md", "Russia sent troops.", title="Now", date=dt.date.today().isoformat())
    assert not load_file(today, max_bytes=MAX).warnings


def test_one_line_text_file_keeps_its_body(tmp_path):
    line = "Russia sent about 2,500 paratroopers to Kazakhstan on 6 January 2022 under the CSTO flag."
    path = tmp_path / "one-line.txt"
    path.write_text(line + "\n", encoding="utf-8")
    doc = load_file(path, max_bytes=MAX)
    assert doc.title == line
    assert doc.paragraphs == [line]
    assert doc.date == dt.date(2022, 1, 6)


PAGE = """<!doctype html><html><head><title>Armenia clashes | Wire</title></head><body><article>
<h1>Armenia clashes</h1><p>{when}. Azerbaijani forces shelled towns inside Armenia and Yerevan asked
the CSTO for help under the collective-defence treaty.</p><p>The CSTO sent only a fact-finding mission,
and Russia did not send troops in answer to the request.</p></article></body></html>"""


def test_a_page_dated_only_by_month_is_left_undated_not_invented(tmp_path):
    month = tmp_path / "month.html"
    month.write_text(PAGE.format(when="September 2022"), encoding="utf-8")
    doc = load_file(month, max_bytes=MAX)
    assert doc.date is None  # the extractor says 2022-01-01: a day nobody wrote
    assert any("no full date" in w and "2022-01-01" in w for w in doc.warnings), doc.warnings
    day = tmp_path / "day.html"
    day.write_text(PAGE.format(when="13 September 2022"), encoding="utf-8")
    assert load_file(day, max_bytes=MAX).date == dt.date(2022, 9, 13)
    given = load_file(month, max_bytes=MAX, meta={"date": "2022-09-13"})
    assert given.date == dt.date(2022, 9, 13) and not given.warnings


# --------------------------------------------------------------------------------------------
# hostile text: escape sequences and control characters never reach the index

OSC8 = "\x1b]8;;https://evil.example/\x1b\\click here\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[H"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"


def test_strip_controls_removes_whole_sequences_and_keeps_text():
    assert strip_controls(f"a {OSC8} b") == "a click here b"
    assert strip_controls(f"{CLEAR}Kazakhstan") == "Kazakhstan"
    assert strip_controls(f"x{CLIPBOARD}y") == "xy"
    assert strip_controls("bell\x07 nul\x00 del\x7f c1\x9b31m") == "bell nul del c1"
    assert strip_controls("keep\n\ttabs\r\nand lines") == "keep\n\ttabs\nand lines"
    assert strip_controls("a stray \x1b] does not eat the rest") == "a stray  does not eat the rest"
    assert strip_controls("Ünïcode — “quotes” [/] stay") == "Ünïcode — “quotes” [/] stay"


def test_escape_sequences_are_stripped_from_documents_and_metadata(tmp_path, store, settings):
    path = tmp_path / "hostile.md"
    path.write_text(
        f"---\ntitle: \"Evil {CLEAR}title\"\nsource: \"Wire{CLIPBOARD}\"\ndate: 2022-01-07\ntags: [\"csto\\e[31m\"]\n---\n"
        f"Tokayev asked the CSTO for help. {OSC8}\n\nRussian paratroopers landed in Almaty.{CLEAR}\n",
        encoding="utf-8",
    )
    doc = load_file(path, max_bytes=MAX)
    assert doc.title == "Evil title" and doc.source == "Wire" and doc.tags == ["csto"]
    assert doc.paragraphs == ["Tokayev asked the CSTO for help. click here", "Russian paratroopers landed in Almaty."]
    [o] = ingest_items(store, [str(path)], settings)
    assert o.status == "added", o.reason
    for p in store.search("Tokayev CSTO paratroopers", k=5):
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", p.text + p.title + p.source)
