"""BERT word pieces for the sentence model, read from the model's own ``tokenizer.json``.

The model's tokenizer is BERT's uncased one: clean the text, space out Chinese characters,
lower-case, strip accents, split on white space and punctuation, then cut each word into the
longest pieces the vocabulary holds (``##`` marks a piece inside a word). It is written out here
rather than taken from HF ``tokenizers`` because that package requires ``huggingface_hub`` and
``hf_xet`` (about 35 MB installed, for downloads infoshare never makes). ``tests/test_answers.py``
checks it against ``tokenizers`` id for id on every text the content embeds.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

TOKENIZER_FILE = Path(__file__).parent / "model" / "tokenizer.json"


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True  # ASCII symbols count as punctuation, as BERT's do
    return unicodedata.category(ch).startswith("P")


def _is_chinese(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def _clean(text: str) -> str:
    """BERT's normaliser: drop control characters, white space to spaces, Chinese characters
    spaced out, lower case, accents stripped."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif cat in ("Cc", "Cf"):
            continue
        elif _is_chinese(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    text = unicodedata.normalize("NFD", "".join(out).lower())
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


def _split(text: str) -> list[str]:
    """Words and single punctuation marks, split on white space."""
    words: list[str] = []
    for chunk in text.split():
        start = 0
        for i, ch in enumerate(chunk):
            if _is_punctuation(ch):
                if start < i:
                    words.append(chunk[start:i])
                words.append(ch)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


_ASCII_CLEAN = {cp: None for cp in (*range(32), 127)} | {ord("\t"): " ", ord("\n"): " ", ord("\r"): " "}
""":func:`_clean` on ASCII text: white space to spaces, control characters dropped (then lower case;
ASCII has no accents or Chinese characters)."""
_ASCII_WORD = re.compile(r"[a-z0-9]+|[^a-z0-9 ]")
""":func:`_split` on cleaned ASCII text: every ASCII character but letters, digits and the space is
punctuation to BERT."""


def words(text: str) -> list[str]:
    """The words and punctuation marks BERT cuts into pieces: :func:`_split` of :func:`_clean`,
    by one translation and one regular expression when the text is ASCII (most questions: a
    long question in 20 us instead of 250)."""
    if text.isascii():
        return _ASCII_WORD.findall(text.translate(_ASCII_CLEAN).lower())
    return _split(_clean(text))


class WordPieceTokenizer:
    """Token ids for the model: ``[CLS]`` pieces ``[SEP]``, at most ``max_length`` in all."""

    def __init__(self, path: Path = TOKENIZER_FILE, max_length: int = 128) -> None:
        spec = json.loads(path.read_text(encoding="utf-8"))
        model = spec["model"]
        if model.get("type") != "WordPiece" or spec.get("normalizer", {}).get("type") != "BertNormalizer":
            raise ValueError(f"{path} is not a BERT word-piece tokenizer")
        self.vocab: dict[str, int] = model["vocab"]
        self.prefix = model.get("continuing_subword_prefix", "##")
        self.max_chars = int(model.get("max_input_chars_per_word", 100))
        self.unk = self.vocab[model.get("unk_token", "[UNK]")]
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.max_length = max_length
        self._word = lru_cache(maxsize=65536)(self._pieces)

    def _pieces(self, word: str) -> tuple[int, ...]:
        """Greedy longest-match pieces of one word; ``[UNK]`` for a word that cannot be cut."""
        if len(word) > self.max_chars:
            return (self.unk,)
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else self.prefix + word[start:end]
                if piece in self.vocab:
                    ids.append(self.vocab[piece])
                    break
                end -= 1
            else:
                return (self.unk,)
            start = end
        return tuple(ids)

    def encode(self, text: str) -> list[int]:
        ids = [self.cls]
        for word in words(text):
            ids.extend(self._word(word))
        ids = ids[:self.max_length - 1]
        ids.append(self.sep)
        return ids
