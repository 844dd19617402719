"""The subject and the actor of a question, read with the gazetteer (bot/core/places.py, subject.py)."""

from __future__ import annotations

import pytest

from bot.core.pipeline import guess_subject
from bot.core.places import Gazetteer, clean_text, load_gazetteer, parse_gazetteer
from bot.core.subject import Subject, expand_query, extract_actor, extract_subject, read_question
from bot.errors import ConfigError

R, N = "Russia", None

# (question, expected actor, expected subject); None: nothing identifiable
CASES: list[tuple[str, str | None, str | None]] = [
    # the dev cases' own phrasings
    ("Will Russia send troops into Georgia over South Ossetia?", R, "South Ossetia"),
    ("Will Russia or the CSTO send troops to southern Kyrgyzstan, as Otunbayeva asks?", R, "Kyrgyzstan"),
    ("Will Russia use military force in Crimea after Yanukovych's fall?", R, "Crimea"),
    ("Will Russia send forces into Belarus to prop up Lukashenko?", R, "Belarus"),
    ("Will Russia or the CSTO send troops into Kazakhstan?", R, "Kazakhstan"),
    ("Will Russia or the CSTO send troops to defend Armenia after Azerbaijan's attack on Armenian territory?", R, "Armenia"),
    # plain and lower case
    ("Will Russia send troops into Kazakhstan?", R, "Kazakhstan"),
    ("will russia send troops into kazakhstan?", R, "Kazakhstan"),
    ("WILL RUSSIA SEND TROOPS INTO KAZAKHSTAN?", R, "Kazakhstan"),
    ("would moscow invade the baltic states", R, "Baltic States"),
    ("Would Moscow invade the Baltic States?", R, "Baltic States"),
    ("Will the CSTO send troops to defend Armenia?", R, "Armenia"),
    # spellings and aliases
    ("Will Russia send troops to Kiev?", R, "Kyiv"),
    ("Will Russia attack Kyiv again?", R, "Kyiv"),
    ("Will Russia send peacekeepers to Artsakh?", R, "Nagorno-Karabakh"),
    ("Will Russian peacekeepers stay in Karabakh?", R, "Nagorno-Karabakh"),
    ("Will Russia send troops into Nagorno-Karabakh?", R, "Nagorno-Karabakh"),
    ("will russia send troops into nagorno karabakh", R, "Nagorno-Karabakh"),
    ("Will Russia intervene in Pridnestrovie?", R, "Transnistria"),
    ("Will Russia reinforce its troops in Trans-Dniester?", R, "Transnistria"),
    ("Will Russia send troops to Chișinău?", R, "Chisinau"),
    ("Will Russia send troops to Kishinev?", R, "Chisinau"),
    ("Will Russia send troops into Alma-Ata?", R, "Almaty"),
    ("Will Russia defend the Tskhinvali region?", R, "South Ossetia"),
    ("Will Russia send troops into Donbass?", R, "Donbas"),
    ("Will Russia recognise and defend Lugansk?", R, "Luhansk"),
    ("Will Russia send troops to Kirghizia?", R, "Kyrgyzstan"),
    ("Will Russia send troops to Byelorussia?", R, "Belarus"),
    ("Will Russia occupy Nakhichevan?", R, "Nakhchivan"),
    ("Will Russia invade Gorno-Badakhshan?", R, "Gorno-Badakhshan"),
    ("Will Russia send troops into the Fergana Valley?", R, "Fergana Valley"),
    ("Will Russia send troops to Osh?", R, "Osh"),
    ("Will Russia annex Gagauzia?", R, "Gagauzia"),
    ("Will Russia land troops in Adjara?", R, "Adjara"),
    ("Will Russia reinforce Kaliningrad?", R, "Kaliningrad"),
    ("Will Russia seize Narva?", R, "Narva"),
    ("Will Russia send troops into the Zangezur corridor?", R, "Syunik"),
    ("Will Russia deploy troops to Abkhazia?", R, "Abkhazia"),
    # possessives and the most specific place
    ("Will Russia send troops into Moldova's Transnistria region?", R, "Transnistria"),
    ("Will Russia send troops into Ukraine's Donbas?", R, "Donbas"),
    ("Will Russia invade Ukraine's east?", R, "Ukraine"),
    ("Will Russia send troops into Kazakhstan after riots in Almaty?", R, "Kazakhstan"),
    ("Will Russian troops enter Narva, Estonia?", R, "Estonia"),
    ("Will Russia occupy the Zangezur corridor in Armenia's Syunik province?", R, "Syunik"),
    ("Will Ukraine's army enter Russia's Kursk region?", "Ukraine", "Kursk"),
    # the actor's own names are not the subject
    ("Will Russia send more troops to protect Russia's army there?", R, None),
    ("Will Russia send more troops to Nagorno-Karabakh to protect Russia's army there?", R, "Nagorno-Karabakh"),
    ("Will Russia send troops to Armenia to protect Russia's base there?", R, "Armenia"),
    ("Will Russia send troops to protect Russian speakers in Estonia?", R, "Estonia"),
    ("Would Putin's Russia annex Belarus?", R, "Belarus"),
    ("Will the Kremlin order troops into Abkhazia?", R, "Abkhazia"),
    ("Will Moscow's Wagner fighters deploy to Mali?", R, "Mali"),
    # no place, or none the gazetteer knows
    ("Will Russia send troops?", R, None),
    ("Will Russia send troops to help President Tokayev?", R, None),
    ("Will Russia's army invade?", R, None),
    ("Will Russia send troops into Atlantis?", R, None),
    ("Will anyone send troops anywhere?", N, None),
    # other states (subject) and other actors
    ("Will Russia send troops into Portugal?", R, "Portugal"),
    ("Will China send troops into Kazakhstan?", "China", "Kazakhstan"),
    ("Will Beijing send troops to Tajikistan?", "China", "Tajikistan"),
    ("Will Turkey send troops into Azerbaijan?", "Turkey", "Azerbaijan"),
    ("Will Ankara deploy forces to Nakhchivan?", "Turkey", "Nakhchivan"),
    ("Will the United States send troops to Ukraine?", "United States", "Ukraine"),
    ("Will the US send troops to Poland?", "United States", "Poland"),
    ("will the us send troops to poland?", "United States", "Poland"),
    ("Would NATO deploy troops to Estonia?", "NATO", "Estonia"),
    ("Will Iran send forces into Azerbaijan?", "Iran", "Azerbaijan"),
    ("Is a Chinese invasion of Kazakhstan likely?", "China", "Kazakhstan"),
    ("Will Turkey's army enter Syria?", "Turkey", "Syria"),
    # actor found beyond the first clause
    ("Is Kazakhstan going to ask Russia for troops?", R, "Kazakhstan"),
    ("How likely is a Russian intervention in Kazakhstan?", R, "Kazakhstan"),
    ("Will Ukrainian forces resist a Russian invasion of Kharkiv?", R, "Kharkiv"),
    ("Will Azerbaijan attack Armenia, and will Russia defend it?", R, "Armenia"),
    ("Will Russia send troops to Kazakhstan if China attacks?", R, "Kazakhstan"),
    ("Could Kazakhstan be occupied by Russian forces?", R, "Kazakhstan"),
    ("Russia–Ukraine: will Moscow escalate?", R, "Ukraine"),
    ("Will Azerbaijan's attack on Armenia draw in Russia?", R, "Armenia"),
    ("Would a Chinese invasion of Taiwan prompt Russia to act?", R, "Taiwan"),
    ("Will China send troops into Kazakhstan if Russia refuses?", "China", "Kazakhstan"),
    ("Will Turkish troops defend Azerbaijan against Russia?", "Turkey", "Azerbaijan"),
    ("Is a deployment of US troops to Poland likely?", "United States", "Poland"),
    ("Will Turkey send troops to Azerbaijan if Russia intervenes in Armenia?", R, "Armenia"),
    # the place an action aims at, not where troops are or where history happened
    ("Will Russian forces based in Armenia intervene in Nagorno-Karabakh?", R, "Nagorno-Karabakh"),
    ("Will Russian troops deployed to Belarus attack Ukraine?", R, "Ukraine"),
    ("Russia invaded Ukraine in 2022; will it invade Moldova?", R, "Moldova"),
    ("Is Russia preparing to invade Ukraine?", R, "Ukraine"),
    ("Will Moldova ask Russia to send troops to Gagauzia?", R, "Gagauzia"),
    ("Would a Russian intervention in Transnistria be feasible through Ukraine?", R, "Transnistria"),
    ("Would Russia go to war with Ukraine over Crimea?", R, "Crimea"),
    # two places: the target wins, the first when both are
    ("Will Russia send troops into Kazakhstan or Kyrgyzstan?", R, "Kazakhstan"),
    ("Will Russia attack Ukraine from Belarus?", R, "Ukraine"),
    ("Will Russia send troops to Osh and Jalal-Abad?", R, "Osh"),
    # demonyms
    ("Will Russia intervene to save the Armenian government?", R, "Armenia"),
    ("Will Russian troops cross onto Georgian soil?", R, "Georgia"),
    # control characters and invisible characters
    ("Will Russia send\x1b[2J troops\x00 into Kaza\u200bkhstan?", R, "Kazakhstan"),
    ("\x1b]8;;http://x\x07Will Russia invade Moldova?\x1b]8;;\x07", R, "Moldova"),
    ("Will\tRussia\nsend troops\r\ninto   Belarus?", R, "Belarus"),
    # typographic apostrophes and dashes
    ("Will Russia send troops into Ukraine’s Crimea?", R, "Crimea"),
    ("Will Russia send troops to Nagorno–Karabakh?", R, "Nagorno-Karabakh"),
]


@pytest.mark.parametrize(("question", "actor", "subject"), CASES, ids=[c[0][:60] for c in CASES])
def test_actor_and_subject(question: str, actor: str | None, subject: str | None) -> None:
    r = read_question(question)
    assert (r.actor, r.subject.name if r.subject else None) == (actor, subject)


def test_there_are_enough_phrasings() -> None:
    assert len(CASES) >= 60


def test_the_subject_carries_every_form_to_search() -> None:
    s = extract_subject("Will Russia send peacekeepers to Artsakh?")
    assert s is not None
    assert s.name == "Nagorno-Karabakh" and s.place == "region" and s.country == "Azerbaijan"
    assert s.matched_text == "Artsakh"
    assert {"Nagorno-Karabakh", "Karabakh", "Artsakh"} <= set(s.aliases)
    assert s.aliases[0] == "Nagorno-Karabakh"

    kyiv = extract_subject("will russia attack kiev?")
    assert kyiv is not None and kyiv.name == "Kyiv" and kyiv.matched_text == "kiev" and "Kiev" in kyiv.aliases
    assert kyiv.place == "city" and kyiv.country == "Ukraine"

    ukraine = extract_subject("Will Russia send troops to Ukraine's border?")
    assert ukraine is not None and ukraine.name == "Ukraine" and ukraine.matched_text == "Ukraine"
    assert "Ukrainian" in ukraine.aliases


def test_other_places_and_the_containing_place_are_kept() -> None:
    s = extract_subject("Will Russia send troops into Georgia over South Ossetia?")
    assert s is not None and s.name == "South Ossetia"
    assert s.also == ("Georgia",)
    assert "Georgia" in s.context and "Georgian" in s.context
    assert s.mentioned_in("Georgian troops moved north.") and not s.mentioned_in("Georgian troops moved north.", strict=True)
    assert s.mentioned_in("Shelling around Tskhinvali continued.", strict=True)


def test_an_area_includes_its_parts() -> None:
    s = extract_subject("Would Moscow invade the Baltics?")
    assert s is not None and s.name == "Baltic States" and s.country is None
    assert {"Estonia", "Latvia", "Lithuania"} <= set(s.aliases)


def test_guess_subject_keeps_its_old_contract() -> None:
    assert guess_subject("Will Russia send troops into Kazakhstan?") == "Kazakhstan"
    assert guess_subject("Will Russia send troops?") == ""
    assert guess_subject("Will Russia send troops to protect Russia's army there?") == ""


# --- actors ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("question", "actor"),
    [
        ("Will Russia send troops into Kazakhstan?", "Russia"),
        ("Would the Kremlin send troops into Kazakhstan?", "Russia"),
        ("Will Putin send troops into Kazakhstan?", "Russia"),
        ("Will the CSTO send troops into Kazakhstan?", "Russia"),
        ("Will the Collective Security Treaty Organization deploy to Kazakhstan?", "Russia"),
        ("Will Russian troops enter Kazakhstan?", "Russia"),
        ("Will China or Russia send troops into Kazakhstan?", "Russia"),
        ("Will China send troops into Kazakhstan?", "China"),
        ("Will Chinese troops enter Kazakhstan?", "China"),
        ("Will Washington send troops to Ukraine?", "United States"),
        ("Will the U.S. deploy troops to Poland?", "United States"),
        ("Will NATO send troops to Estonia?", "NATO"),
        ("Would Turkish forces intervene in Azerbaijan?", "Turkey"),
        ("Would the Ukraine be invaded?", None),
        ("Will anyone intervene in Kazakhstan?", None),
        ("Will Belarus send troops into Ukraine?", "Belarus"),
        ("Will Russia and Belarus jointly invade Ukraine?", "Russia"),
    ],
)
def test_extract_actor(question: str, actor: str | None) -> None:
    assert extract_actor(question) == actor


# --- queries with aliases ---------------------------------------------------------------------------

def test_search_terms_add_forms_a_search_for_the_name_misses() -> None:
    s = extract_subject("Will Russia send troops into Nagorno-Karabakh?")
    assert s is not None
    terms = s.search_terms()
    assert terms[0] == "Nagorno-Karabakh"
    assert "Artsakh" in terms
    assert "Karabakh" not in terms  # its words are already in the name
    assert len(terms) <= 5


def test_query_is_the_template_with_the_name_then_the_aliases() -> None:
    s = extract_subject("Will Russia intervene in Pridnestrovie?")
    assert s is not None
    q = s.query("{subject} sanctions Western reaction")
    assert q.startswith("Transnistria sanctions Western reaction ")
    assert "Pridnestrovie" in q
    assert q.count("Transnistria") == 1
    assert expand_query("{subject} army", None, "Will Russia send troops?") == "Will Russia send troops? army"
    assert expand_query("{subject} army", s).startswith("Transnistria army")


# --- the optional model ------------------------------------------------------------------------------

def test_a_model_may_choose_among_the_places_the_question_names() -> None:
    q = "Will Russia send troops into Georgia over South Ossetia?"
    s = extract_subject(q, llm_extract=lambda _q: "Georgia")
    assert s is not None and s.name == "Georgia"
    s = extract_subject(q, llm_extract=lambda _q: "  tskhinvali region. ")
    assert s is not None and s.name == "South Ossetia"


@pytest.mark.parametrize("answer", ["Atlantis", "", None, "Kazakhstan", "Russia", "The subject is Narnia"])
def test_a_model_cannot_invent_a_subject(answer: str | None) -> None:
    s = extract_subject("Will Russia send troops into Moldova's Transnistria region?", llm_extract=lambda _q: answer)
    assert s is not None and s.name == "Transnistria"
    assert extract_subject("Will Russia send troops?", llm_extract=lambda _q: answer) is None


def test_a_failing_model_leaves_the_list_answer() -> None:
    def boom(_q: str) -> str:
        raise TimeoutError("model timed out")

    s = extract_subject("Will Russia send troops into Armenia?", llm_extract=boom)
    assert s is not None and s.name == "Armenia"


def test_a_model_answer_related_to_a_named_place_is_accepted() -> None:
    s = extract_subject("Will Russia send troops into Moldova?", llm_extract=lambda _q: "Transnistria")
    assert s is not None and s.name == "Transnistria" and s.matched_text == "Moldova"


# --- the gazetteer ------------------------------------------------------------------------------------

def test_the_gazetteer_covers_the_former_soviet_space() -> None:
    g = load_gazetteer()
    for name in [
        "Russia", "Ukraine", "Belarus", "Moldova", "Georgia", "Armenia", "Azerbaijan", "Kazakhstan",
        "Kyrgyzstan", "Tajikistan", "Turkmenistan", "Uzbekistan", "Estonia", "Latvia", "Lithuania",
    ]:
        assert g.places[name].kind == "country" and g.places[name].country == name
    for form, name in [
        ("Trans-Dniester", "Transnistria"), ("Artsakh", "Nagorno-Karabakh"), ("Tskhinvali region", "South Ossetia"),
        ("Donbass", "Donbas"), ("Lugansk", "Luhansk"), ("Kiev", "Kyiv"), ("Gagauz Yeri", "Gagauzia"),
        ("Ajaria", "Adjara"), ("Jalalabad", "Jalal-Abad"), ("Ferghana", "Fergana Valley"), ("GBAO", "Gorno-Badakhshan"),
        ("Zangezur", "Syunik"), ("Nakhichevan", "Nakhchivan"), ("Kishinev", "Chisinau"), ("Alma-Ata", "Almaty"),
        ("Tiflis", "Tbilisi"), ("Königsberg", "Kaliningrad"), ("Ukrainian", "Ukraine"), ("Georgian", "Georgia"),
        ("Kazakhs", "Kazakhstan"), ("Türkiye", "Turkey"), ("Kosovo", "Kosovo"),
    ]:
        p = g.get(form)
        assert p is not None and p.name == name, form
    assert g.get("Atlantis") is None
    assert [a.name for a in g.ancestors(g.places["Tiraspol"])] == ["Transnistria", "Moldova"]
    assert g.contains(g.places["Moldova"], g.places["Transnistria"])
    assert not g.contains(g.places["Transnistria"], g.places["Moldova"])


def test_matching_respects_words_and_case_where_it_matters() -> None:
    g = load_gazetteer()

    def names(text: str) -> list[str | None]:
        return [m.place.name if m.place else m.actor for m in g.mentions(clean_text(text))]

    assert names("Nagorno-Karabakh and Karabakh") == ["Nagorno-Karabakh", "Nagorno-Karabakh"]
    assert names("South Ossetia, North Ossetia") == ["South Ossetia", "North Ossetia"]
    assert names("Tell us about the car") == []  # "US", "CAR" only as written
    assert names("The CAR and the US") == ["Central African Republic", "United States"]
    assert names("Kazakhstani and Georgians") == ["Kazakhstan", "Georgia"]
    assert names("Omoscow, Kievan") == []  # whole words only
    m = g.mentions("Ukraine's army")[0]
    assert (m.text, m.possessive, m.end) == ("Ukraine", True, 7)
    assert names("the Kremlin and NATO") == ["Russia", "NATO"]
    assert names("Naxçıvan, Naxcivan, Xankəndi, Suwałki Gap, Kyïv") == [
        "Nakhchivan", "Nakhchivan", "Stepanakert", "Suwalki Gap", "Kyiv"
    ]


def test_clean_text_strips_escapes_and_controls() -> None:
    assert clean_text("a\x1b[31mb\x1b[0m c\x00d\u200be\u00adf") == "a b c def"
    assert clean_text("\x1b]52;c;SGVsbG8=\x07Kyiv") == "Kyiv"
    assert clean_text("") == ""


def test_a_bad_gazetteer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="kind"):
        parse_gazetteer({"places": [{"name": "X", "kind": "planet"}]})
    with pytest.raises(ConfigError, match="not in the gazetteer"):
        parse_gazetteer({"places": [{"name": "X", "kind": "region", "country": "Y"}]})
    with pytest.raises(ConfigError, match="names both"):
        parse_gazetteer({"places": [
            {"name": "A", "kind": "country", "aliases": ["Same"]},
            {"name": "B", "kind": "country", "aliases": ["same"]},
        ]})
    with pytest.raises(ConfigError, match="twice"):
        parse_gazetteer({"places": [{"name": "A", "kind": "country"}, {"name": "A", "kind": "country"}]})
    with pytest.raises(ConfigError, match="places"):
        parse_gazetteer(["not", "a", "mapping"])


def test_a_small_gazetteer_can_be_passed_in() -> None:
    g: Gazetteer = parse_gazetteer({
        "places": [
            {"name": "Freedonia", "kind": "country", "demonyms": ["Freedonian"]},
            {"name": "North March", "kind": "region", "country": "Freedonia"},
        ],
        "actors": [{"name": "Sylvania", "aliases": ["Sylvanian"]}],
    })
    s = extract_subject("Will Sylvania send troops into Freedonia's North March?", gazetteer=g)
    assert isinstance(s, Subject) and s.name == "North March" and s.also == ("Freedonia",)
    assert extract_actor("Will Sylvania send troops into Freedonia?", gazetteer=g) == "Sylvania"
