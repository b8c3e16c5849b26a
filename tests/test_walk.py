"""Every path of every pack, enumerated from the data, against a table written here by hand."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import cli
from content.loader import pack_ids
from dialogs.walk import InvalidAnswer, WalkModel, get_walk

# The flows of the issue, written out independently of the pack files:
# each row is (answers in order, outcome).
HMG = [
    ("immediate_risk=yes", "urgent_action"),
    ("immediate_risk=unsure", "urgent_action"),  # not sure about danger is urgent
    ("immediate_risk=no purpose=no", "do_not_share"),
    ("immediate_risk=no purpose=unsure", "seek_advice"),
    ("immediate_risk=no purpose=yes consent=yes", "share"),
    ("immediate_risk=no purpose=yes consent=unsure", "seek_advice"),
    ("immediate_risk=no purpose=yes consent=no identifiable=no", "share"),
    ("immediate_risk=no purpose=yes consent=no identifiable=unsure", "seek_advice"),
    ("immediate_risk=no purpose=yes consent=no identifiable=yes lawful_reason=yes", "share"),
    ("immediate_risk=no purpose=yes consent=no identifiable=yes lawful_reason=no", "do_not_share"),
    ("immediate_risk=no purpose=yes consent=no identifiable=yes lawful_reason=unsure", "seek_advice"),
]


def seven_step(last: str) -> list[tuple[str, str]]:
    """Buckinghamshire's Appendix 1 and Bromley's chart: purpose, identifiable, confidential, consent, then `last`."""
    pre = "immediate_risk=no purpose=yes identifiable=yes confidential=yes consent=no"
    return [
        ("immediate_risk=yes", "urgent_action"),
        ("immediate_risk=unsure", "urgent_action"),  # not sure about danger is urgent
        ("immediate_risk=no purpose=no", "do_not_share"),
        ("immediate_risk=no purpose=unsure", "seek_advice"),
        ("immediate_risk=no purpose=yes identifiable=no", "share"),
        ("immediate_risk=no purpose=yes identifiable=unsure", "seek_advice"),
        ("immediate_risk=no purpose=yes identifiable=yes confidential=no", "share"),
        ("immediate_risk=no purpose=yes identifiable=yes confidential=unsure", "seek_advice"),
        ("immediate_risk=no purpose=yes identifiable=yes confidential=yes consent=yes", "share"),
        ("immediate_risk=no purpose=yes identifiable=yes confidential=yes consent=unsure", "seek_advice"),
        (f"{pre} {last}=yes", "share"),
        (f"{pre} {last}=no", "do_not_share"),
        (f"{pre} {last}=unsure", "seek_advice"),
    ]


EXPECTED = {
    "hmg-2018": HMG, "wirral": HMG, "pan-cheshire": HMG, "wales": HMG,
    "buckinghamshire": seven_step("public_interest"),
    "bromley": seven_step("other_reason"),
}


def test_the_six_packs_are_shipped():
    assert sorted(pack_ids()) == sorted(EXPECTED)
    assert pack_ids()[0] == "hmg-2018"


@pytest.mark.parametrize("pack", sorted(EXPECTED))
def test_paths_enumerated_from_the_data_match_the_table(pack):
    from_data = {" ".join(f"{n}={a}" for n, a in path): outcome for path, outcome in get_walk(pack).paths()}
    assert from_data == dict(EXPECTED[pack])


@pytest.mark.parametrize("pack,answers,outcome",
                         [(p, a, o) for p, rows in sorted(EXPECTED.items()) for a, o in rows])
def test_decide_json_gives_the_outcome(pack, answers, outcome):
    args = ["decide", "--pack", pack, "--json"]
    for a in answers.split():
        args += ["--answer", a]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["pack"] == pack and out["outcome"] == outcome
    assert out["pack_version"]
    assert [f"{s['node']}={s['answer']}" for s in out["path"]] == answers.split()


@pytest.mark.parametrize("args,message", [
    (["--pack", "atlantis", "--answer", "immediate_risk=yes"], "unknown pack 'atlantis'"),
    (["--answer", "teapot=yes"], "unknown node 'teapot'"),
    (["--answer", "immediate_risk=perhaps"], "value must be yes, no or unsure"),
    (["--answer", "immediate_risk=yes", "--answer", "purpose=yes"], "answer for 'purpose' is off the path"),
    (["--answer", "immediate_risk=no"], "next question is 'purpose'"),
    (["--answer", "immediate_risk"], "use NODE=VALUE"),
])
def test_decide_bad_input_exits_2_with_a_clear_message(args, message):
    result = CliRunner().invoke(cli, ["decide", "--json", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_one_machine_per_pack_serves_many_models():
    walk = get_walk("wales")
    assert get_walk("wales") is walk
    a, b = WalkModel(state="immediate_risk"), WalkModel(state="immediate_risk")
    walk.answer(a, "no")
    walk.answer(b, "yes")
    assert (a.state, b.state) == ("purpose", "urgent_action")
    assert walk.machine.models == []  # models are attached only for their turn


def test_an_answer_at_an_outcome_is_refused():
    walk = get_walk("hmg-2018")
    m = WalkModel(state="share")
    with pytest.raises(InvalidAnswer):
        walk.answer(m, "yes")
    assert m.state == "share" and m.history == []


def test_decide_record_writes_the_row_as_the_chat_would(tmp_path):
    from storage import audit
    from storage.db import open_db
    db = tmp_path / "decide.db"
    args = ["decide", "--pack", "pan-cheshire", "--json", "--db", str(db),
            "--answer", "immediate_risk=no", "--answer", "purpose=no",
            "--record", "--user", "u-cli", "--reason", "Requester gave no purpose.",
            "--categories", "contact", "--recipient", "police", "--purpose", "other",
            "--lawful-basis", "no_sharing", "--informed", "no", "--not-told-reason", "Would alert the adult concerned.",
            "--case-ref", "PC-77"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    row = audit.get_decision(open_db(db), out["ref"])
    assert row["outcome"] == "do_not_share" and row["pack_id"] == "pan-cheshire" and row["channel"] == "cli"
    assert row["answers"] == [["immediate_risk", "no"], ["purpose", "no"]]
    assert row["record"]["not_told_reason"] == "Would alert the adult concerned."
    assert row["record"]["informed"] == "no" and row["record"]["case_ref"] == "PC-77"


def test_decide_record_with_a_bad_field_value_exits_2_and_stores_nothing(tmp_path):
    from storage import audit
    from storage.db import open_db
    db = tmp_path / "decide.db"
    result = CliRunner().invoke(cli, ["decide", "--db", str(db), "--answer", "immediate_risk=yes", "--record",
                                      "--user", "u-cli", "--reason", "Called 999.", "--recipient", "martians"])
    assert result.exit_code == 2
    assert "recipient" in result.output
    assert audit.my_decisions(open_db(db), "u-cli", "cli") == []
