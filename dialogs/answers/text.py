"""Text analysis: normalising a question, the pack's synonyms, UK spelling, stop words and stems.

What BM25, the exact-match check and the typo corrector read. The sentence model reads the
normalised text with its stop words (:meth:`Analyzer.normalise`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

try:  # PyStemmer: the C build of the Snowball stemmers (same stems, ~100x faster)
    from Stemmer import Stemmer as _Stemmer

    _STEMMER = _Stemmer("english")
except ImportError:  # pragma: no cover - the pure-Python Snowball build
    from snowballstemmer.english_stemmer import EnglishStemmer

    _STEMMER = EnglishStemmer()

STOPWORDS = frozenset("""
a about above after again all also am an and any are as at be because been before being below
between both but by can could did do does doing done during each either else etc ever few for
from further get gets getting got had has have having he her here hers him his how i if in into
is it its itself just let me more most my myself of off on once only or other our ours out over
own please pls plz same she should so some such than that the their theirs them then there these
they this those through to too under until up us very was we were what whatever when where
whether which while who whom whose why will with would you your yours yourself yourselves
im ive id ill youre theyre weve isnt arent wasnt dont doesnt didnt cant couldnt shouldnt wouldnt
wont hasnt havent hadnt mustnt lets thats whats whos hows wheres theres heres
hi hello hey hiya yo thanks thank cheers ta quick question q really actually basically
just like kind sort bit lot want mean thing things stuff anyone someone something anything
much many wat wot u ur r ya
""".split())
"""Words that carry no topic. Negations (not, no, without) are kept: they separate topics."""

_US_UK = {
    "behavior": "behaviour", "behaviors": "behaviours", "judgment": "judgement", "center": "centre",
    "defense": "defence", "license": "licence", "program": "programme", "programs": "programmes",
    "pediatric": "paediatric", "pedophile": "paedophile", "pedophiles": "paedophiles",
    "favor": "favour", "counselor": "counsellor", "enrollment": "enrolment", "color": "colour",
    "mom": "mum", "moms": "mums", "kindergarten": "nursery", "cellphone": "phone",
}
_US_SUFFIX = re.compile(r"^(\w{3,}?)iz(e|ed|es|ing|ation|ations|er|ers)$")
_US_YZE = re.compile(r"^(\w{2,}?)yz(e|ed|es|ing)$")
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u201c": '"', "\u201d": '"',
                         "\u2013": "-", "\u2014": "-"})
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def uk_spelling(word: str) -> str:
    """UK spelling of a US-spelt word: ``anonymized`` -> ``anonymised``, ``behavior`` -> ``behaviour``."""
    if word in _US_UK:
        return _US_UK[word]
    m = _US_SUFFIX.match(word)
    if m:
        return f"{m.group(1)}is{m.group(2)}"
    m = _US_YZE.match(word)
    return f"{m.group(1)}ys{m.group(2)}" if m else word


class Analyzer:
    """Turns text into the words and stemmed terms the index uses."""

    def __init__(self, synonyms: dict[str, str]) -> None:
        phrases = sorted(synonyms, key=len, reverse=True)
        self._synonyms = {p.lower(): synonyms[p].lower() for p in phrases}
        self._synonym_re = (re.compile(r"(?<![\w'-])(" + "|".join(re.escape(p) for p in self._synonyms)
                                       + r")(?![\w'-])") if phrases else None)

    def normalise(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", text).translate(_QUOTES).lower()
        if self._synonym_re is not None:
            text = self._synonym_re.sub(lambda m: self._synonyms[m.group(1)], text)
        return text

    def all_words(self, text: str) -> list[str]:
        """Every word of ``text``: normalised, UK spelling, no possessives or apostrophes."""
        return [uk_spelling(w[:-2] if w.endswith("'s") else w.replace("'", ""))
                for w in WORD.findall(self.normalise(text))]

    def words(self, text: str) -> list[str]:
        """Content words of ``text``: :meth:`all_words` without stop words and single letters."""
        return [w for w in self.all_words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]

    @staticmethod
    def stem(word: str) -> str:
        return _stem(word)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _STEMMER.stemWord(word)
