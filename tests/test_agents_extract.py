"""Offline entity and topic extraction: the documented heuristic and YAKE topics."""
import pytest

from agents.ember.extract import Extractor


@pytest.fixture(scope="module")
def ex():
    return Extractor()


@pytest.mark.parametrize("text, persons", [
    ("I talked to Maya yesterday about pottery.", ("Maya",)),
    ("My sister Anna Berg loves gardening. Anna said the tomatoes are early.", ("Anna Berg",)),
    ("Dr. Patel recommended more sleep.", ("Patel",)),
    ("Tom thinks the demo was great; we met Sarah at the conference in Berlin.", ("Tom", "Sarah")),
    ("Maya's birthday is next week.", ("Maya",)),
    ("We moved to Lisbon in March. Python is my favourite language.", ()),
    ("What is the weather like in Paris on Monday?", ()),
    ("I think I should call my friend Jo tonight.", ("Jo",)),
])
def test_persons(ex, text, persons):
    assert ex.extract(text).persons == persons


def test_known_persons_are_found_anywhere():
    e = Extractor(known_persons=["Maya"])
    assert e.extract("Pottery with Maya was fun.").persons == ("Maya",)
    assert Extractor().extract("Pottery with Maya was fun.").persons == ()


def test_topics_exclude_persons_and_filler(ex):
    pytest.importorskip("yake", reason="YAKE topics need the yake package")
    r = ex.extract("I talked to Maya yesterday about pottery and her plan of moving to Lisbon.")
    assert "pottery" in r.topics and "lisbon" in r.topics
    assert all("maya" not in t and t != "talked" for t in r.topics)
    assert r.method == "yake"
    assert 1 <= len(r.topics) <= 5


def test_extraction_is_deterministic():
    text = "Tom thinks the spiking neural network demo was great; we met Sarah at the conference in Berlin."
    results = {Extractor().extract(text) for _ in range(3)}
    assert len(results) == 1


def test_frequency_fallback_without_yake():
    e = Extractor(use_yake=False)
    r = e.extract("Pottery, pottery and more pottery. Kilns are hot. My friend Ana loves kilns.")
    assert r.method == "frequency" and r.topics[:2] == ("pottery", "kilns") and r.persons == ("Ana",)


def test_bad_input(ex):
    with pytest.raises(TypeError):
        ex.extract(b"bytes")
    with pytest.raises(ValueError):
        Extractor(max_topics=0)
    assert ex.extract("").persons == () and ex.extract("").topics == ()


def test_llm_extractor_validates_and_falls_back():
    from agents.ember.llm.actor import ScriptedActor
    from agents.ember.extract import LLMExtractor
    from agents.ember.soul import Soul

    reply = '{"persons": ["Maya", "Bob Invented"], "topics": ["Pottery Classes", "lisbon", 5]}'
    actor = ScriptedActor(replies=[reply])
    e = LLMExtractor(actor)
    r = e.extract("I talked to Maya about pottery classes in Lisbon.")
    assert r.persons == ("Maya",)  # a name not in the text is dropped
    assert r.topics == ("pottery classes", "lisbon") and r.method == "llm:scripted"
    assert actor.calls[-1][1].system.startswith(Soul.load().text)
    assert e.extract("I talked to Maya about pottery classes in Lisbon.") is r  # memoised: same text, same labels
    assert len(actor.calls) == 1
    bad = LLMExtractor(ScriptedActor(replies=["Sure! Maya and pottery."]))
    r2 = bad.extract("I talked to Maya about pottery.")
    assert r2.persons == ("Maya",) and "fallback" in r2.method and "pottery" in r2.topics


def test_make_extractor_picks_by_backend():
    from agents.ember.llm.actor import ScriptedActor
    from agents.ember.extract import LLMExtractor, make_extractor

    class Hosted(ScriptedActor):
        name = "openai:some-model"
    assert isinstance(make_extractor(Hosted()), LLMExtractor)
    assert type(make_extractor(ScriptedActor())) is Extractor and type(make_extractor()) is Extractor
