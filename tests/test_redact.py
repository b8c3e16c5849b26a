"""Identifiers are replaced before anything is stored; names only raise a warning."""

import pytest

from storage.redact import describe, nhs_check_digit_ok, redact


@pytest.mark.parametrize("number", ["9434765919", "943 476 5919", "943-476-5919"])
def test_valid_nhs_number_is_removed(number):
    r = redact(f"child's NHS number is {number}, please check")
    assert r.text == "child's NHS number is [NHS number], please check"
    assert r.removed == {"nhs_number": 1}


@pytest.mark.parametrize("number", ["9434765918", "1234567890"])
def test_ten_digits_with_a_wrong_check_digit_are_kept(number):
    assert nhs_check_digit_ok(number) is False
    assert redact(f"case ref {number}").text == f"case ref {number}"


def test_check_digit_of_ten_is_never_valid():
    # 000000006x: 6 x weight 2 = 12, remainder 1, so the check digit would be 10: never valid.
    assert not any(nhs_check_digit_ok(f"000000006{d}") for d in "0123456789")


@pytest.mark.parametrize("text,kind,marker", [
    ("write to jo.bloggs@school.sch.uk today", "email", "[email]"),
    ("mum's mobile is 07700 900123", "phone", "[phone]"),
    ("ring 0151 496 0000 after 3", "phone", "[phone]"),
    ("on +44 7700 900123", "phone", "[phone]"),
    ("office (020) 7946 0958", "phone", "[phone]"),
    ("lives at CH41 5AB", "postcode", "[postcode]"),
    ("near sw1a1aa", "postcode", "[postcode]"),
    ("DOB 03/04/2016", "date_of_birth", "[date of birth]"),
    ("born 2016-04-03", "date_of_birth", "[date of birth]"),
    ("born on 3rd April 2016", "date_of_birth", "[date of birth]"),
    ("born April 3, 2016", "date_of_birth", "[date of birth]"),
    ("NI number QQ 12 34 56 C", "ni_number", "[NI number]"),
    ("NI AB123456D", "ni_number", "[NI number]"),
])
def test_identifier_kinds(text, kind, marker):
    r = redact(text)
    assert marker in r.text
    assert r.removed == {kind: 1}


def test_ordinary_numbers_and_words_are_kept():
    text = "a 9 year old, year 6, section 130 of the 2014 Act, call 999"
    r = redact(text)
    assert r.text == text and r.removed == {} and not r.name_warning


def test_several_identifiers_are_counted():
    r = redact("emails a@b.org and c@d.org, phone 07700 900123")
    assert r.removed == {"email": 2, "phone": 1}
    assert r.text == "emails [email] and [email], phone [phone]"


@pytest.mark.parametrize("text", [
    "my pupil Jamie Smith told me",
    "I spoke to Mrs Patel this morning",
    "Mary Jones told me about her dad",
])
def test_name_warning(text):
    assert redact(text).name_warning is True


@pytest.mark.parametrize("text", [
    "Can Social Care share with the Designated Safeguarding Lead?",
    "Does Clare's Law apply here?",
    "What does the Data Protection Act say about the Local Authority?",
    "I told my line manager",
])
def test_no_name_warning_for_known_terms(text):
    assert redact(text).name_warning is False


def test_mask_names_replaces_the_name_only():
    r = redact("my pupil Jamie Smith told the Designated Safeguarding Lead", mask_names=True)
    assert r.text == "my pupil [name] told the Designated Safeguarding Lead"
    assert r.removed == {"name": 1}


def test_describe():
    assert describe({}) == ""
    assert describe({"email": 1}) == "I removed an email address; please use a case reference instead."
    assert describe({"phone": 1, "email": 1}) == (
        "I removed an email address and a phone number; please use a case reference instead.")
    assert describe({"nhs_number": 2, "postcode": 1, "date_of_birth": 1}) == (
        "I removed 2 NHS numbers, a postcode and a date of birth; please use a case reference instead.")
