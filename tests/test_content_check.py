"""`infoshare content check` fails, naming file and node, on each kind of broken pack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli import cli
from content.check import check_packs
from content.loader import load_yaml

FIXTURE = Path(__file__).parent / "fixtures" / "packs" / "good.yaml"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"


def write_pack(tmp_path: Path, mutate=None, name: str = "good") -> Path:
    data = load_yaml(FIXTURE.read_text())
    data["id"] = name
    if mutate:
        mutate(data)
    folder = tmp_path / "packs"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def run_check(folder: Path, *extra: str):
    return CliRunner().invoke(cli, ["content", "check", "--packs", str(folder), *extra])


def test_the_good_fixture_passes(tmp_path):
    result = run_check(write_pack(tmp_path), "--seeds", str(SEEDS))
    assert result.exit_code == 0, result.output
    assert "ok: 1 packs" in result.output


def _nodes(d):
    return d["flow"]["nodes"]


BROKEN = {
    "dangling node": (lambda d: _nodes(d)["purpose"]["answers"].update(no={"next": "nowhere"}),
                      "good.yaml: node 'purpose': answer 'no': dangling: next node 'nowhere' does not exist"),
    "unreachable node": (lambda d: _nodes(d).update(orphan=dict(_nodes(d)["purpose"])),
                         "good.yaml: node 'orphan': unreachable from 'immediate_risk'"),
    "missing unsure": (lambda d: _nodes(d)["purpose"]["answers"].pop("unsure"),
                       "good.yaml: node 'purpose': answer 'unsure' is missing"),
    "missing no": (lambda d: _nodes(d)["immediate_risk"]["answers"].pop("no"),
                   "good.yaml: node 'immediate_risk': answer 'no' is missing"),
    "unknown outcome": (lambda d: _nodes(d)["purpose"]["answers"].update(yes={"outcome": "shrug"}),
                        "good.yaml: node 'purpose': answer 'yes': unknown outcome 'shrug'"),
    "missing node citation": (lambda d: _nodes(d)["purpose"].pop("cite"),
                              "good.yaml: node 'purpose': missing citation"),
    "missing checklist citation": (lambda d: d["checklist"][0].pop("cite"),
                                   "good.yaml: checklist item 1: missing citation"),
    "missing outcome citation": (lambda d: d["outcomes"]["share"].pop("cite"),
                                 "good.yaml: outcome 'share': missing citation"),
    "missing help text": (lambda d: _nodes(d)["purpose"].pop("help"),
                          "good.yaml: node 'purpose': missing help"),
    "wrong start": (lambda d: d["flow"].update(start="purpose"),
                    "good.yaml: flow must start at 'immediate_risk'"),
    "urgent outcome without 999": (
        lambda d: d["outcomes"]["urgent_action"].update(text="Contact the police."),
        "good.yaml: outcome 'urgent_action': its text or steps must give the police's number 999"),
    "urgent contacts without the police's 999": (
        lambda d: d["contacts"]["urgent_action"][0].pop("fixed"),
        "good.yaml: contacts 'urgent_action' (shown with 'urgent_action'): no contact with fixed: \"999\""),
    "urgent contact that would say ask your organisation": (
        lambda d: d["contacts"]["urgent_action"][1].pop("unset"),
        "good.yaml: contact 'urgent_action.childrens_social_care' (shown with 'urgent_action'): needs 'fixed' or 'unset'"),
    "urgent outcome without contacts": (
        lambda d: d["outcomes"]["urgent_action"].pop("contacts"),
        "good.yaml: outcome 'urgent_action': names no contacts list"),
    "lead without citation": (
        lambda d: _nodes(d)["immediate_risk"]["answers"].update(
            unsure={"outcome": "urgent_action", "lead": {"text": "Treat it as urgent."}}),
        "good.yaml: node 'immediate_risk': answer 'unsure': lead: missing citation"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_kind_of_broken_pack_fails_naming_file_and_node(tmp_path, case):
    mutate, expected = BROKEN[case]
    result = run_check(write_pack(tmp_path, mutate))
    assert result.exit_code != 0
    assert expected in result.output


def test_citation_heading_not_in_seed_fails_only_with_seeds(tmp_path):
    def bad_heading(d):
        _nodes(d)["purpose"]["cite"] = [{"seed": "000_3618dc48b34bb0b1.txt", "section": "A heading nobody wrote"}]
    folder = write_pack(tmp_path, bad_heading)
    assert run_check(folder).exit_code == 0
    result = run_check(folder, "--seeds", str(SEEDS))
    assert result.exit_code != 0
    assert ("good.yaml: node 'purpose': section heading not found in 000_3618dc48b34bb0b1.txt: "
            "'A heading nobody wrote'") in result.output


def test_citation_of_a_missing_seed_file_fails(tmp_path):
    folder = write_pack(tmp_path, lambda d: d["outcomes"]["share"].update(
        cite=[{"seed": "999_missing.txt", "section": "Introduction"}]))
    result = run_check(folder, "--seeds", str(SEEDS))
    assert "good.yaml: outcome 'share': cited seed file not found: 999_missing.txt" in result.output


def test_text_copied_from_a_seed_fails(tmp_path):
    seed_text = (SEEDS / "000_3618dc48b34bb0b1.txt").read_text()
    start = seed_text.index("Information sharing is essential")
    copied = " ".join(seed_text[start:start + 400].split()[:20])
    folder = write_pack(tmp_path, lambda d: _nodes(d)["purpose"].update(help=copied))
    result = run_check(folder, "--seeds", str(SEEDS))
    assert result.exit_code != 0
    assert "good.yaml: node 'purpose': help copies the guidance word for word" in result.output


def test_extends_null_removes_a_parent_node(tmp_path):
    folder = write_pack(tmp_path)

    def child(d):
        for k in list(d):
            if k not in ("id",):
                d.pop(k)
        d.update({"extends": "good", "title": "Child", "flow": {"nodes": {"orphan": None}}})
    write_pack(tmp_path, lambda d: _nodes(d).update(orphan=dict(_nodes(d)["purpose"])), name="parent")
    (folder / "child.yaml").write_text(yaml.safe_dump({"id": "child", "extends": "parent",
                                                       "flow": {"nodes": {"orphan": None}}}))
    problems = check_packs(folder)
    assert any(p.startswith("parent.yaml: node 'orphan': unreachable") for p in problems)
    assert not any(p.startswith("child.yaml") for p in problems), problems


def test_extends_an_unknown_pack_is_named(tmp_path):
    folder = write_pack(tmp_path)
    (folder / "orphan.yaml").write_text("id: orphan\nextends: nonesuch\n")
    assert "orphan.yaml: extends unknown pack 'nonesuch'" in check_packs(folder)


def test_shipped_packs_pass_against_the_seeds():
    """The real packs and topics, with every citation looked up in ../shared/seeds."""
    result = subprocess.run([sys.executable, "-m", "bot", "content", "check", "--seeds", str(SEEDS)],
                            capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stderr
    assert "ok: 6 packs and their citations" in result.stdout


def test_a_heading_cut_by_a_line_break_must_be_given_whole(tmp_path):
    def cut(d):
        d["outcomes"]["share"]["cite"] = [{"seed": "002_de24991c3e854e2b.txt",
                                           "section": "Legislative framework for sharing information to safeguard"}]
    assert run_check(write_pack(tmp_path, cut), "--seeds", str(SEEDS)).exit_code == 0  # whole in sources.yaml

    def cut_unknown(d):
        d["outcomes"]["share"]["cite"] = [{"seed": "004_f42d4c3cd5be166b.txt",
                                           "section": "Is there a clear and legitimate purpose for"}]
    result = run_check(write_pack(tmp_path, cut_unknown), "--seeds", str(SEEDS))
    assert result.exit_code != 0
    assert ("heading 'Is there a clear and legitimate purpose for' is cut short in 004_f42d4c3cd5be166b.txt"
            in result.output)


def test_every_cited_seed_has_a_document_name(tmp_path):
    def unnamed(d):
        d["outcomes"]["share"]["cite"] = [{"seed": "999_unknown.txt", "section": "Introduction"}]
    result = run_check(write_pack(tmp_path, unnamed))
    assert "good.yaml: outcome 'share': no document name for 999_unknown.txt in content/sources.yaml" in result.output
