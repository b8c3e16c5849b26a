"""The console chat driven in a real subprocess with scripted input, to a recorded decision."""

from __future__ import annotations

import io
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage import audit
from storage.db import open_db

ROOT = Path(__file__).parents[1]


def run_chat(db: Path, script: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INFOSHARE_DB": str(db), "INFOSHARE_CONFIG": ""}
    env.pop("INFOSHARE_CONFIG")
    return subprocess.run([sys.executable, "-m", "bot", "chat", "--user", "tester", *args],
                          input="\n".join(script) + "\n", capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=60)


def test_a_new_user_walks_to_a_recorded_decision(tmp_path):
    db = tmp_path / "chat.db"
    script = ["2",      # immediate risk: No
              "1",      # purpose: Yes
              "1",      # consent: Yes -> share
              "1",      # Record this decision
              "1,2",    # categories
              "1", "1", "1",       # recipient, purpose, lawful basis
              "3", "skip",         # no special category data; no confidentiality override (optional)
              "1",                 # told: yes
              "CASE-1234",         # case reference
              "Consent given in writing; referral to the front door.",
              "1",      # Confirm and record
              "quit"]
    result = run_chat(db, script, "--pack", "hmg-2018")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Is a child at immediate risk of harm right now?" in out
    assert "1) Yes   2) No   3) Not sure" in out
    assert "How to share:" in out
    m = re.search(r"Your decision reference is (\S+)\.", out)
    assert m, out[-2000:]
    row = audit.get_decision(open_db(db), m.group(1))
    assert row["outcome"] == "share" and row["user_id"] == "tester" and row["channel"] == "console"
    assert row["record"]["case_ref"] == "CASE-1234"
    assert row["record"]["special_category"] == "not_special" and not row["record"].get("confidentiality_override")
    assert "Traceback" not in result.stderr


def test_quitting_and_coming_back_resumes_at_the_same_question(tmp_path):
    db = tmp_path / "chat.db"
    first = run_chat(db, ["no", "yes", "quit"], "--pack", "wales")
    assert "Goodbye. Your place is saved." in first.stdout
    again = run_chat(db, ["where", "quit"])
    assert "Resuming where you left off." in again.stdout
    tail = again.stdout.split("Resuming where you left off.")[1]
    assert "Question 3" in tail


def test_unknown_pack_is_a_clear_error(tmp_path):
    result = run_chat(tmp_path / "x.db", ["quit"], "--pack", "atlantis")
    assert result.returncode == 2
    assert "unknown pack 'atlantis'" in result.stderr
    assert "Traceback" not in result.stderr


# ---- leaving with Ctrl-C or Ctrl-D; line editing and history on a terminal --------------------

class CtrlCAfter:
    """A fake stdin: gives these lines, then the user presses Ctrl-C."""

    def __init__(self, *lines: str):
        self.lines = list(lines)

    def readline(self) -> str:
        if self.lines:
            return self.lines.pop(0) + "\n"
        raise KeyboardInterrupt


def stored_history(db: Path, user: str = "tester") -> list:
    row = open_db(db).execute("select state from conversations where id = ?", [f"console:local:{user}"]).fetchone()
    return json.loads(row[0])["history"]


def test_ctrl_c_at_the_prompt_says_the_place_is_saved_and_returns_cleanly(tmp_path):
    from bot.console import GOODBYE, Console
    from dialogs.engine import Engine
    out = io.StringIO()
    Console(Engine(open_db(tmp_path / "c.db")), "tester", out=out).run("hmg-2018", CtrlCAfter("2"))
    text = out.getvalue()
    assert text.rstrip().endswith(GOODBYE)
    assert "infoshare chat" in GOODBYE and "place is saved" in GOODBYE
    assert stored_history(tmp_path / "c.db") == [["immediate_risk", "no"]]


def test_ctrl_c_during_a_turn_says_what_was_saved(tmp_path, monkeypatch):
    from bot.console import GOODBYE_MID_TURN, Console
    from dialogs.engine import Engine
    engine = Engine(open_db(tmp_path / "c.db"))
    out = io.StringIO()
    console = Console(engine, "tester", out=out)
    real = engine.handle

    def interrupted(channel, conv, user, event, once=None):
        if event.kind == "answer" and event.value == "yes":
            raise KeyboardInterrupt
        return real(channel, conv, user, event, once)

    monkeypatch.setattr(engine, "handle", interrupted)
    console.run("hmg-2018", io.StringIO("2\n1\n2\n"))
    assert out.getvalue().rstrip().endswith(GOODBYE_MID_TURN)
    assert stored_history(tmp_path / "c.db") == [["immediate_risk", "no"]]


def test_ctrl_d_leaves_cleanly_and_resumes_later(tmp_path):
    db = tmp_path / "chat.db"
    first = run_chat(db, ["no"], "--pack", "wales")  # no 'quit': the input just ends (Ctrl-D)
    assert first.returncode == 0 and "Traceback" not in first.stderr
    assert "Your place is saved. Run 'infoshare chat' again" in first.stdout
    again = run_chat(db, ["quit"])
    assert "Resuming where you left off." in again.stdout and "Question 2" in again.stdout


def test_on_a_terminal_the_arrow_keys_recall_lines_and_ctrl_c_exits_0_writing_no_history(tmp_path):
    pytest.importorskip("readline")
    pty = pytest.importorskip("pty")
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    models = Path.home() / ".cache" / "infoshare"
    if models.is_dir():  # the question matcher's model cache, so it is not built again here
        (home / ".cache" / "infoshare").symlink_to(models, target_is_directory=True)
    db = tmp_path / "chat.db"
    env = {**os.environ, "INFOSHARE_DB": str(db), "HOME": str(home), "TERM": "xterm", "INPUTRC": "/dev/null"}
    env.pop("INFOSHARE_CONFIG", None)
    env.pop("PYTHONSTARTUP", None)
    master, slave = pty.openpty()
    import fcntl
    import termios
    proc = subprocess.Popen([sys.executable, "-m", "bot", "chat", "--user", "tester", "--pack", "hmg-2018"],
                            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, close_fds=True,
                            start_new_session=True,  # the terminal is its own, so Ctrl-C signals it
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    seen = bytearray()
    pos = 0

    def expect(pattern: bytes, timeout: float = 60) -> None:
        """Wait for ``pattern`` after what was matched before."""
        nonlocal pos
        end = time.monotonic() + timeout
        while seen.find(pattern, pos) < 0:
            left = end - time.monotonic()
            assert left > 0, f"waited for {pattern!r}; saw: {bytes(seen[-1500:])!r}"
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"ended waiting for {pattern!r}; saw: {bytes(seen[-1500:])!r}"
                seen.extend(chunk)
        pos = seen.find(pattern, pos) + len(pattern)

    try:
        expect(b"Question 1")
        expect(b"> ")
        os.write(master, b"2\r")                 # No: not at immediate risk
        expect(b"Question 2")
        expect(b"> ")
        os.write(master, b"zebra crossing xylophone\r")  # a question (it is answered, then Question 2 again)
        expect(b"Question 2")
        expect(b"> ")
        os.write(master, b"\x1b[A\x1b[A\r")      # up arrow twice recalls "2", Enter sends it: No again
        expect(load_pack_title(b"do_not_share"))
        expect(b"> ")
        time.sleep(0.5)  # readline prints the prompt just before it waits: let it be waiting
        os.write(master, b"\x03")                # Ctrl-C at the prompt
        expect(b"Your place is saved")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"Traceback" not in seen and b"KeyboardInterrupt" not in seen
    assert stored_history(db) == [["immediate_risk", "no"], ["purpose", "no"]]
    # No history file: no file written under HOME holds a line typed in the chat. (Libraries may
    # keep caches there; the model cache linked in above is not searched.)
    written = [Path(d) / f for d, _dirs, files in os.walk(home) for f in files]
    assert not any("hist" in p.name.lower() for p in written), written
    assert not any(b"xylophone" in p.read_bytes() for p in written), written


def load_pack_title(outcome: bytes) -> bytes:
    from content.loader import load_pack
    return load_pack("hmg-2018").outcomes[outcome.decode()]["title"].encode()
