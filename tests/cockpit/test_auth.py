"""The optional password gate: the scrypt hash line, the sign-in form, and the hash maker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from quant_core.cockpit import auth
from tests.cockpit.conftest import APP, VIEWS

WORD = "correct horse battery staple"
HASH = auth.hash_password(WORD)  # made once: about 0.06 s


@pytest.fixture
def gated(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    auth.throttle.clear()  # the server-wide throttle starts afresh for each test
    monkeypatch.setenv("QC__COCKPIT__PASSWORD_HASH", HASH)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _sign_in(at: AppTest, word: str) -> AppTest:
    at.text_input(key=auth.FIELD).input(word)
    return at.button(key="auth_submit").click().run()


def _titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


# ----------------------------------------------------------------------------- the hash


def test_hash_round_trip_and_format() -> None:
    assert HASH.split("$")[:4] == ["scrypt", "32768", "8", "1"]
    assert len(auth.parse_hash(HASH)[3]) == 16
    assert len(auth.parse_hash(HASH)[4]) == 32
    assert auth.verify_password(WORD, HASH)
    assert not auth.verify_password(WORD + " ", HASH)
    assert not auth.verify_password("", HASH)
    assert auth.hash_password(WORD) != HASH  # a fresh salt each time
    fixed = auth.hash_password(WORD, n=2**14, salt=b"0123456789abcdef")
    assert fixed == auth.hash_password(WORD, n=2**14, salt=b"0123456789abcdef")
    assert auth.verify_password(WORD, fixed)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("pbkdf2$1$2$3$4$5", "expected scrypt"),
        ("scrypt$32768$8$1$abc", "6 fields"),
        ("scrypt$x$8$1$AAAA$AAAA", "unreadable"),
        ("scrypt$32768$8$1$not base64!$AAAA", "unreadable"),
        ("scrypt$1024$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "n=1024 is outside"),
        ("scrypt$30000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==", "power of 2"),
        ("scrypt$32768$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==", "too short"),
    ],
)
def test_malformed_hash_lines_are_refused(line: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        auth.verify_password(WORD, line)


def test_the_hash_maker_prompts_twice_and_prints_the_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answers = iter([WORD, WORD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert auth.main([]) == 0
    out = capsys.readouterr().out
    assert 'cockpit:\n  password_hash: "scrypt$32768$8$1$' in out
    line = out.split('password_hash: "')[1].split('"')[0]
    assert auth.verify_password(WORD, line)
    assert WORD not in out


@pytest.mark.parametrize(
    ("first", "second", "why"),
    [("short", "short", "Too short"), (WORD, WORD + "!", "differ")],
)
def test_the_hash_maker_refuses(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    first: str,
    second: str,
    why: str,
) -> None:
    answers = iter([first, second])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert auth.main([]) == 1
    captured = capsys.readouterr()
    assert why in captured.err
    assert captured.out == ""


# ----------------------------------------------------------------------------- the gate


def test_no_hash_no_gate(data_dir: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert _titles(at) == ["Strategy Explorer"]
    assert auth.FIELD not in [t.key for t in at.text_input]


def test_pages_hidden_until_the_right_password(
    gated: AppTest, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert _titles(gated) == ["Sign in"]
    gated.switch_page(f"{VIEWS}/live.py").run()  # a deep link to the live page
    assert _titles(gated) == ["Sign in"]
    assert not [b for b in gated.button if b.key in {"btn_cancel", "btn_flat", "btn_stop"}]

    _sign_in(gated, "not the password")
    assert _titles(gated) == ["Sign in"]
    assert [e.value for e in gated.error] == ["Wrong password."]
    assert gated.session_state.to_dict()[auth.FIELD] == ""  # emptied in the submit callback
    assert auth.FLAG not in gated.session_state

    _sign_in(gated, WORD)
    assert not gated.exception
    assert gated.session_state[auth.FLAG] == auth.fingerprint(HASH)
    assert _titles(gated) == ["Live Dashboard"]  # the deep link survives signing in
    gated.switch_page(f"{VIEWS}/live.py").run()
    assert _titles(gated) == ["Live Dashboard"]
    assert gated.button(key="btn_flat").label == "FLAT"
    assert "not the password" not in caplog.text
    assert WORD not in caplog.text
    assert "Cockpit sign-in refused: wrong password" in caplog.text
    assert all(WORD not in str(value) for value in gated.session_state.to_dict().values())


def test_sign_out_locks_again(gated: AppTest) -> None:
    _sign_in(gated, WORD)
    assert _titles(gated) == ["Strategy Explorer"]
    gated.button(key="auth_sign_out").click().run()
    assert _titles(gated) == ["Sign in"]


def test_a_changed_hash_signs_the_session_out(
    gated: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sign_in(gated, WORD)
    assert _titles(gated) == ["Strategy Explorer"]
    monkeypatch.setenv("QC__COCKPIT__PASSWORD_HASH", auth.hash_password("another one entirely"))
    gated.run()
    assert _titles(gated) == ["Sign in"]


def test_a_malformed_hash_keeps_the_cockpit_locked(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QC__COCKPIT__PASSWORD_HASH", "scrypt$oops")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not _titles(at)
    assert "not a valid hash" in at.error[0].value
    assert auth.FIELD not in [t.key for t in at.text_input]


def test_guessing_is_throttled_for_the_whole_server(
    gated: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "clock", lambda: 1000.0)  # time stands still: the pause holds
    for _ in range(auth.FREE_FAILURES):
        _sign_in(gated, "a wrong guess")
    assert [e.value for e in gated.error] == ["Wrong password."]

    _sign_in(gated, WORD)  # even the right one is not checked during the pause
    assert _titles(gated) == ["Sign in"]
    [error] = [e.value for e in gated.error]
    assert error.startswith("Too many wrong passwords: try again in")


def test_the_throttle_pause_doubles_and_expires() -> None:
    throttle = auth.Throttle()
    for i in range(auth.FREE_FAILURES):
        assert throttle.wait_s(float(i)) == 0.0
        throttle.failed(float(i))
    assert throttle.wait_s(4.0) == 1.0  # the 5th failure at t=4: one second
    throttle.failed(5.0)
    assert throttle.wait_s(5.0) == 2.0  # then two, four, ...
    assert throttle.wait_s(7.0) == 0.0
    assert throttle.wait_s(5.0 + auth.WINDOW_S + 10) == 0.0  # old failures age out


def test_a_check_is_reserved_before_the_password_is_checked() -> None:
    throttle = auth.Throttle()
    granted = [throttle.reserve(0.0) for _ in range(auth.FREE_FAILURES + 3)]
    # Parallel guesses: each reservation counts at once, so the 6th is already refused.
    assert granted[: auth.FREE_FAILURES] == [0.0] * auth.FREE_FAILURES
    assert all(wait > 0 for wait in granted[auth.FREE_FAILURES :])
    throttle.succeeded(0.0)  # a right password takes its reservation back
    assert len(throttle.failures) == auth.FREE_FAILURES - 1


def test_the_hash_maker_answers_help_and_an_ended_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert auth.main(["--help"]) == 0
    assert "usage: python -m quant_core.cockpit.auth" in capsys.readouterr().out
    assert auth.main(["--bogus"]) == 2

    def ended(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", ended)
    assert auth.main([]) == 130
    assert "Interrupted. Nothing made." in capsys.readouterr().err
