"""The Slack transport's form decoder reads every body as urllib's ``parse_qsl`` reads it.

:func:`bot.slack.transport.parse_form` and :func:`~bot.slack.transport.unquote_plus` decode a
click's ``%XX`` escapes in C instead of urllib's Python loop; here they are compared with urllib
on made-up tricky bodies (``+``, ``%XX`` in either case, broken escapes, multi-byte and invalid
UTF-8, empty names and values, ``=`` and ``&`` inside values, line breaks), on random ones from
a fixed seed, and on real click payloads.
"""

from __future__ import annotations

import itertools
import json
import random
from urllib.parse import parse_qsl, quote, urlencode
from urllib.parse import unquote_plus as reference_unquote

import pytest

from bot.slack import transport
from bot.slack.transport import parse_form, unquote_plus


def reference_form(text: str) -> dict[str, str] | None:
    """What the transport must make of ``text``: urllib's strict reading, None where it refuses."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return None
    if not pairs or any(not name for name, _ in pairs):
        return None
    return dict(pairs)


TRICKY = [
    "", "a", "=", "&", "a=", "=b", "a=b", "a=b&", "&a=b", "a=b&&c=d", "a=b&c", "a==b", "a=b=c", "a=%3D&b=%26",
    "a=+", "a=%2B", "a=%2b+%2B", "a+b=c+d", "%20=%20", "a=%", "a=%%", "a=%%41", "a=%4", "a=%4g", "a=%g4", "a=100%",
    "a=%zz%4", "a=%25", "a=%2525", "a=%252", "a=%25%32%35", "a=%%32%32",
    "a=%C3%A9t%C3%A9", "a=%c3%a9", "a=%C3", "a=%A9", "a=%C3%28", "a=%FF%FE", "a=%E2%82%AC", "a=%E2%82",
    "a=%F0%9F%98%80", "a=%F0%9F%98", "a=%ED%A0%80", "a=%C0%AF", "a=%00", "a=%00%7F%80",
    "a=caf\u00e9", "a=caf\u00e9%20x", "a=\u20ac%E2%82%AC", "caf\u00e9=1", "a=\U0001F600%F0%9F%98%80",
    "a=%0A", "a=%0D%0A", "a=x\ny", "a=x\r\ny%41", "a=%41\n", "a=\t%41", "a=x%09y", "a=%3D%0A", "a==%0A",
    "a=_", "a=%5F_", "a=\\x41%41", "a=%5C%5Cx41", "a=%E2%80%9Cq%E2%80%9D", "a=\x00%41", "a=\x7f%41",
    "a=3D%3D", "a=%3D3D", "a==3D", "a=%=41", "a=%3", "a=x%", "a=%%%", "a=%41%", "a=%41%4",
    "payload=%7B%22type%22%3A%22block_actions%22%7D", "payload={\"type\":\"block_actions\"}",
    "command=%2Finfoshare&text=start+hmg-2018&user_id=U1&payload_note=x",
    "a=1&a=2", "a=1&A=2", "a&b=1", "a=1;b=2",
]


@pytest.mark.parametrize("text", TRICKY)
def test_made_up_tricky_forms_read_as_parse_qsl_reads_them(text):
    assert parse_form(text) == reference_form(text)
    for part in text.split("&"):
        assert unquote_plus(part) == reference_unquote(part)


PIECES = ["%", "%", "=", "+", " ", "\t", "_", "&", "a", "F", "f", "0", "9", "g", "\\", "%2", "%25", "%3D", "%3d",
          "%C3", "%A9", "%E2%82%AC", "%F0%9F%98%80", "%FF", "%80", "%00", "%0A", "%0D", "\r", "\n", "\u00e9",
          "\u20ac", "\U0001F600", "%26", "%2B", "%20", "\x00", "==", "%%", "%e", "3D", "=3D", "%aB"]


def test_random_forms_from_a_fixed_seed_read_as_parse_qsl_reads_them():
    rnd = random.Random(13)
    for _ in range(20_000):
        text = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 14)))
        assert unquote_plus(text) == reference_unquote(text), repr(text)
        assert parse_form(text) == reference_form(text), repr(text)


def test_every_short_string_of_escape_pieces_decodes_as_urllib_decodes_it():
    small = ["%", "=", "4", "1", "g", "+", "\n", "F", "_", "\u00e9", "%4", "%41", "%C3", "%A9"]
    for n in range(4):
        for combo in itertools.product(small, repeat=n):
            text = "".join(combo)
            assert unquote_plus(text) == reference_unquote(text), repr(text)


def click_body(text: str, ensure_ascii: bool, quote_via=quote) -> str:
    payload = {"type": "block_actions", "user": {"id": "U1", "team_id": "T1"}, "trigger_id": "1.2.abc",
               "container": {"type": "message", "message_ts": "1.2", "channel_id": "D1"},
               "message": {"ts": "1.2", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}] * 20},
               "actions": [{"type": "button", "action_id": "infoshare:answer:0",
                            "value": json.dumps({"e": ["answer", "no", "abcd.1", None], "n": "0123456789ab"}),
                            "action_ts": "1700000000.000001"}]}
    return urlencode({"payload": json.dumps(payload, ensure_ascii=ensure_ascii)}, quote_via=quote_via)


@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("text", ["*Is a child at immediate risk?* 100% & <b> = \"yes\"",
                                  "caf\u00e9 \u2014 \u201cquoted\u201d \U0001F600 \\u00e9 \\n + %41 %zz"])
def test_click_payloads_read_as_parse_qsl_reads_them(text, ensure_ascii):
    from urllib.parse import quote_plus
    for quote_via in (quote, quote_plus):
        body = click_body(text, ensure_ascii, quote_via)
        assert parse_form(body) == reference_form(body)
        assert json.loads(parse_form(body)["payload"])["message"]["blocks"][0]["text"]["text"] == text


def test_a_click_payload_is_decoded_without_urllib(monkeypatch):
    """The C path is the one a click takes (urllib is only for what it cannot decode exactly)."""
    body = click_body("*Is a child at immediate risk?*", ensure_ascii=True)
    expected = reference_form(body)

    def refuse(text):
        raise AssertionError("fell back to urllib")
    monkeypatch.setattr(transport, "urllib_unquote_plus", refuse)
    assert parse_form(body) == expected
