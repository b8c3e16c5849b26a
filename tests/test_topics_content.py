"""Topic content: complete, cited to real seed headings, and each pack in its own wording."""

import re
import shutil
from pathlib import Path

import pytest

from content.citations import heading_in_seed
from content.loader import UnknownPack, resolve
from content.sources import document_name, named
from content.topics import (PACK_TOPICS, REQUIRED_TOPICS, TOPICS_DIR, check_topics, count_sentences,
                            known_packs, load_topic_set, load_topics)
from dialogs.events import source_line

SEEDS = Path(__file__).parents[2] / "shared" / "seeds"
PACKS = ["hmg-2018", "wirral", "pan-cheshire", "wales", "buckinghamshire", "bromley"]


def topic(pack, tid):
    return next(t for t in load_topics(pack) if t.id == tid)


def test_content_check_passes_with_seeds():
    assert check_topics(SEEDS) == []


@pytest.mark.parametrize("pack", PACKS)
def test_every_citation_names_a_seed_file_and_a_heading_in_it(pack):
    for t in load_topics(pack):
        assert t.cite, t.id
        for c in t.cite:
            seed = SEEDS / c["seed"]
            assert seed.is_file(), (t.id, c)
            assert heading_in_seed(seed, c["section"]), (t.id, c)


@pytest.mark.parametrize("pack", PACKS)
def test_required_topics_and_shape(pack):
    topics = load_topics(pack)
    ids = [t.id for t in topics]
    assert set(REQUIRED_TOPICS) <= set(ids)
    assert len(ids) == len(set(ids))
    for t in topics:
        assert t.title and t.more and len(t.examples) >= 3
        assert 2 <= count_sentences(t.answer) <= 5, t.id
        assert set(t.related) <= set(ids) and t.id not in t.related


def test_pack_specific_topics_only_in_their_pack():
    for pack in PACKS:
        ids = {t.id for t in load_topics(pack)}
        for owner, only in PACK_TOPICS.items():
            assert (set(only) <= ids) == (pack == owner), (pack, only)


def test_known_packs_and_unknown_pack():
    assert set(PACKS) <= set(known_packs())
    with pytest.raises(UnknownPack):
        load_topics("atlantis")


def test_pan_cheshire_consent_myth_names_legal_obligation_and_public_task():
    pc = topic("pan-cheshire", "myth-consent-always-needed").answer
    assert "legal obligation" in pc and "public task" in pc
    assert "public task" not in topic("hmg-2018", "myth-consent-always-needed").answer
    assert topic("pan-cheshire", "myth-consent-always-needed").cite[0]["seed"].startswith("001_")


def test_caldicott_seven_or_eight():
    assert "seven" in topic("hmg-2018", "caldicott-principles").answer
    assert "eight" in topic("pan-cheshire", "caldicott-principles").answer
    assert "seven" in topic("bromley", "caldicott-principles").answer


def test_wales_golden_rules_order_and_999():
    rules = topic("wales", "golden-rules").more
    assert rules.index("3. People have a right to know") < rules.index("4. If in any doubt")
    england = topic("hmg-2018", "golden-rules").more
    assert england.index("3. If in any doubt") < england.index("4. Share with consent")
    for pack in ("wales", "hmg-2018", "wirral", "pan-cheshire", "buckinghamshire", "bromley"):
        assert "999" in topic(pack, "immediate-risk").answer, pack  # every pack names 999 (issue 11)


@pytest.mark.parametrize("pack", ["buckinghamshire", "bromley"])
def test_1998_wording_of_golden_rules(pack):
    assert "1998" in topic(pack, "golden-rules").answer
    assert "1998" not in topic("hmg-2018", "golden-rules").answer


def test_buckinghamshire_early_help_needs_consent_but_safeguarding_does_not():
    eh = topic("buckinghamshire", "early-help-consent").answer
    assert "consent" in eh and "Early Help" in eh
    myth = topic("buckinghamshire", "myth-consent-always-needed").answer
    assert "Early Help" in myth and "public task" in myth


def test_overrides_keep_common_examples():
    assert topic("wales", "myth-consent-always-needed").examples == topic("hmg-2018", "myth-consent-always-needed").examples


def broken_copy(tmp_path) -> Path:
    d = tmp_path / "topics"
    shutil.copytree(TOPICS_DIR, d)
    return d


def test_check_reports_bad_heading_missing_topic_and_unknown_related(tmp_path):
    d = broken_copy(tmp_path)
    text = (d / "common.yaml").read_text()
    text = text.replace("section: Child Sex Offender Disclosure Scheme}", "section: No Such Heading Here}")
    text = text.replace("related: [dvds, immediate-risk]", "related: [dvds, no-such-topic]")
    text = text.replace("  - id: retention\n", "  - id: retention-renamed\n")
    (d / "common.yaml").write_text(text)
    problems = check_topics(SEEDS, d)
    assert "common.yaml: csod: section heading not found in 001_06f42fd7cb307365.txt: 'No Such Heading Here'" in problems
    assert "common.yaml: csod: related topic 'no-such-topic' is not in pack hmg-2018" in problems
    assert "common.yaml: retention: required topic is missing from pack hmg-2018" in problems


def test_check_reports_copied_guidance_in_the_override_file(tmp_path):
    d = broken_copy(tmp_path)
    (d / "wales.yaml").write_text((d / "wales.yaml").read_text().replace(
        "Professional judgement remains the most important part of working\n      across agencies.",
        "Professional judgment is the most essential aspect of multi-agency work, which could be put "
        "at risk if organisations rely too heavily on IT systems."))
    problems = check_topics(SEEDS, d)
    assert any(p.startswith("wales.yaml: myth-it-systems-barrier: more copies the guidance word for word")
               for p in problems), problems


def test_check_reports_wrong_pack_name_and_short_answer(tmp_path):
    d = broken_copy(tmp_path)
    (d / "bromley.yaml").write_text((d / "bromley.yaml").read_text().replace("pack: bromley", "pack: bromely"))
    text = (d / "common.yaml").read_text()
    start = text.index("  - id: dvds")
    ans = text.index("    answer: >-", start)
    end = text.index("    more:", ans)
    (d / "common.yaml").write_text(text[:ans] + "    answer: Clare's Law.\n" + text[end:])
    problems = check_topics(None, d)
    assert "bromley.yaml: -: 'pack' must be 'bromley', not 'bromely'" in problems
    assert "common.yaml: dvds: answer must be 2 to 5 sentences, has 1" in problems



@pytest.mark.parametrize("pack", PACKS)
def test_an_answer_citing_the_packs_own_document_names_it_first(pack):
    """A practitioner in Pan-Cheshire reads Pan-Cheshire's guidance first under a shared answer,
    before the other partnership's document the same answer also draws on."""
    own = document_name(resolve(pack)["source_file"])
    cited_own = 0
    for t in load_topics(pack):
        line = source_line(named(t.cite))
        if own in line:
            cited_own += 1
            assert line.startswith(f"Source: {own}: "), (t.id, line)
    assert cited_own >= 10


def _sentences_giving_999(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if "999" in s]


@pytest.mark.parametrize("pack", PACKS)
def test_every_answer_that_gives_999_treats_not_sure_as_urgent(pack):
    """Someone unsure whether a child is in danger now is told to call 999 as well, in every
    sentence that gives the number (answers, their "more", and the reply to a question in Welsh,
    in both its languages)."""
    shown = [(t.id, k, getattr(t, k)) for t in load_topics(pack) for k in ("answer", "more")]
    welsh = load_topic_set(pack).messages["welsh"]
    shown.append(("message", "welsh", welsh[:welsh.index("Alla i ddim")]))
    giving = [(tid, k, s) for tid, k, text in shown for s in _sentences_giving_999(text)]
    assert len(giving) >= 5
    assert [g for g in giving if "not sure" not in g[2]] == []
    in_welsh = _sentences_giving_999(welsh[welsh.index("Alla i ddim"):])
    assert in_welsh and all("nad ydych chi'n siŵr" in s for s in in_welsh)  # "if you're not sure"
