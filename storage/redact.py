"""Remove identifiers from free text before it is stored (content gaps, never the audit record).

What is replaced, and by which marker:

- ``[NHS number]``: 10 digits, optionally spaced or dashed 3-3-4, whose modulus-11 check digit is
  valid (other 10-digit numbers are left alone: they may be case references).
- ``[NI number]``: National Insurance number shape: two letters, six digits and A-D, spaces
  allowed (any prefix letters, so example numbers such as ``QQ 12 34 56 C`` go too).
- ``[email]``: anything shaped like ``name@domain.tld``.
- ``[phone]``: UK numbers: ``07...``, ``01...``/``02...``/``03...``/``08...`` with 10 or 11
  digits, or ``+44``/``0044`` forms, with spaces, dashes, dots or brackets.
- ``[postcode]``: UK postcodes, e.g. ``SW1A 1AA``, ``CH41 5AB``, ``m1 1ae``.
- ``[date of birth]``: a full date (``12/03/2015``, ``2015-03-12``, ``12 March 2015``,
  ``March 12th, 2015``); any full date is treated as a possible date of birth.

``name_warning`` is set when the text seems to hold a person's name: two or more capitalised
words in a row (``Jamie Smith``), or a title followed by a capitalised word (``Mrs Patel``), that
are not all known terms (``Designated Safeguarding Lead``, ``Social Care``, ``Clare's Law`` ...).
A sentence's first word counts only when it is not a common sentence opener (``Can``, ``Should``,
``My`` ...). With ``mask_names=True`` such words are also replaced by ``[name]``.

Example:
    >>> r = redact("Jamie Smith, DOB 03/04/2016, mum on 07700 900123")
    >>> r.text
    'Jamie Smith, DOB [date of birth], mum on [phone]'
    >>> r.removed, r.name_warning
    ({'date_of_birth': 1, 'phone': 1}, True)
    >>> describe(r.removed)
    'I removed a phone number and a date of birth; please use a case reference instead.'
"""

from __future__ import annotations

import re
from typing import Callable
from dataclasses import dataclass, field

MARKERS = {
    "nhs_number": "[NHS number]",
    "ni_number": "[NI number]",
    "email": "[email]",
    "phone": "[phone]",
    "postcode": "[postcode]",
    "date_of_birth": "[date of birth]",
    "name": "[name]",
}
"""Kind of identifier -> the marker that replaces it."""

_NOUNS = {
    "nhs_number": ("an NHS number", "NHS numbers"),
    "ni_number": ("a National Insurance number", "National Insurance numbers"),
    "email": ("an email address", "email addresses"),
    "phone": ("a phone number", "phone numbers"),
    "postcode": ("a postcode", "postcodes"),
    "date_of_birth": ("a date of birth", "dates of birth"),
    "name": ("a name", "names"),
}

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_NHS = re.compile(r"(?<![\d+])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d])")
_NI = re.compile(r"\b[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b", re.IGNORECASE)
_PHONE = re.compile(
    r"(?<![\w+])(?:(?:\+|00)44[\s.-]?(?:\(0\)[\s.-]?)?|\(?0)"
    r"(?:\d[\s.()-]{0,2}){8,9}\d(?!\d)")
_POSTCODE = re.compile(
    r"\b(?:GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW]?|\d\d|[A-HK-Y]\d[ABEHMNPRVWXY]?|[A-HK-Y]\d\d)"
    r" ?\d[ABD-HJLNP-UW-Z]{2})\b", re.IGNORECASE)
_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_DATE = re.compile(
    r"\b(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
    r"|\d{4}-\d{1,2}-\d{1,2}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?,?\s+\d{{4}}"
    rf"|{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})\b", re.IGNORECASE)

KNOWN_TERMS = frozenset("""
designated safeguarding lead leads officer social care services children's children childrens
clare's clares sarah's sarahs law laws data protection act acts human rights information
governance caldicott guardian guardians early help local authority authorities police
constabulary working together domestic violence abuse disclosure scheme child sex offender general
regulation commissioner's commissioners office court protection front door integrated multi
agency safeguarding hub partnership partnerships board boards nhs trust trusts foundation health
visitor visitors primary secondary school schools college academy gp family families court team
teams slack microsoft google outlook whatsapp gmail council councils county borough city
wales welsh england english scotland cheshire east west chester halton warrington wirral
bromley buckinghamshire london merseyside government hm department education home secretary state
monday tuesday wednesday thursday friday saturday sunday january february march april may june
july august september october november december christmas easter mental capacity care crime
disorder education social well-being wellbeing part section article convention european uk
kingdom united national insurance number service services practice review reviews mash mase
prevent senior leadership head teacher headteacher deputy lead manager nurse doctor midwife
""".split())
"""Capitalised words that are terms of the field or calendar, not people's names (lower case)."""

TITLES = frozenset("mr mrs ms miss mx dr prof sir dame lady lord".split())

OPENERS = frozenset("""
a an the i i'm i've i'd we we're our my me you your he she they it its this that these those
there here what which who whom whose when where why how can could should would will shall may
might must do does did is are was were have has had if then so and but or because please hi
hello hey dear thanks thank also as at by for from in of on to with about after before while
yes no not our their his her just ok okay now today yesterday tomorrow since until unless
""".split())
"""Common words that start a sentence; a capitalised opener is not taken as part of a name."""

_CAP_WORD = re.compile(r"[A-Z][a-z]+(?:['\u2019][a-z]+)?(?:-[A-Z][a-z]+)?")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|[\"(]\s*)$")


@dataclass(frozen=True)
class Redacted:
    """Text with identifiers replaced, how many of each kind were removed, and the name warning."""

    text: str
    removed: dict[str, int] = field(default_factory=dict)
    name_warning: bool = False


def nhs_check_digit_ok(digits: str) -> bool:
    """True when the 10-digit ``digits`` has a valid NHS modulus-11 check digit."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(digits[9])


def _names(text: str) -> list[tuple[int, int]]:
    """Spans of text that look like a person's name (see the module docstring)."""
    words = [(m.start(), m.end(), m.group(0)) for m in _CAP_WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    run: list[tuple[int, int, str]] = []

    def flush() -> None:
        if not run:
            return
        items = list(run)
        first_start = items[0][0]
        at_start = bool(_SENTENCE_START.search(text[:first_start]))
        if at_start and items[0][2].lower() in OPENERS:
            items = items[1:]
        lowered = [w.lower().replace("\u2019", "'") for _, _, w in items]
        titled = len(items) >= 2 and lowered[0].rstrip(".") in TITLES
        if len(items) >= 2 and (titled or not all(w in KNOWN_TERMS for w in lowered)):
            unknown = [it for it, w in zip(items, lowered) if w not in KNOWN_TERMS and w not in TITLES]
            if unknown:
                spans.append((unknown[0][0], unknown[-1][1]))
        run.clear()

    for start, end, word in words:
        if run and not re.fullmatch(r"\.?\s+", text[run[-1][1]:start]):
            flush()
        run.append((start, end, word))
    flush()
    return spans


def redact(text: str, *, mask_names: bool = False) -> Redacted:
    """Replace identifiers in ``text`` with markers; see the module docstring for what counts."""
    removed: dict[str, int] = {}

    def sub(kind: str, pattern: re.Pattern[str], value: str,
            check: Callable[[re.Match[str]], bool] | None = None) -> str:
        def repl(m: re.Match[str]) -> str:
            if check is not None and not check(m):
                return m.group(0)
            removed[kind] = removed.get(kind, 0) + 1
            return MARKERS[kind]
        return pattern.sub(repl, value)

    out = sub("email", _EMAIL, text)
    out = sub("date_of_birth", _DATE, out)
    out = sub("nhs_number", _NHS, out, lambda m: nhs_check_digit_ok("".join(m.groups())))
    out = sub("ni_number", _NI, out)
    out = sub("phone", _PHONE, out)
    out = sub("postcode", _POSTCODE, out)
    spans = _names(out)
    if mask_names and spans:
        for start, end in reversed(spans):
            out = out[:start] + MARKERS["name"] + out[end:]
        removed["name"] = len(spans)
    return Redacted(out, removed, bool(spans))


def describe(removed: dict[str, int]) -> str:
    """A sentence for the user about what was removed; empty when nothing was."""
    parts = []
    for kind in MARKERS:
        n = removed.get(kind, 0)
        if n:
            one, many = _NOUNS[kind]
            parts.append(one if n == 1 else f"{n} {many}")
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"I removed {listed}; please use a case reference instead."
