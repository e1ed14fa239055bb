"""``[[webhooks]]`` in the node config: endpoints, secrets (never shown), events, problems."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from quizd.config import ConfigError, Problem, WebhookEvent, load_config
from quizd.config.check import run_check
from tests.webhooks.receiver import OTHER_SECRET, SECRET


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "quizd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    return info.value.problems


def test_no_webhooks_by_default(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), {}).webhooks == ()


def test_endpoints_with_a_secret_or_a_secret_file(tmp_path: Path) -> None:
    (tmp_path / "hook.secret").write_text(OTHER_SECRET + "\n")
    path = write(
        tmp_path,
        f'''
[[webhooks]]
url = "https://app.example.com/hooks/quizd"
secret = "{SECRET}"
events = ["quiz.ended"]

[[webhooks]]
url = "http://127.0.0.1:9000/h"
secret_file = "hook.secret"
''',
    )
    first, second = load_config(path, {}).webhooks
    assert first.url == "https://app.example.com/hooks/quizd"
    assert first.secret == SECRET and first.events == (WebhookEvent.QUIZ_ENDED,)
    assert second.secret == OTHER_SECRET and second.secret_file == str(tmp_path / "hook.secret")
    assert second.events == (WebhookEvent.QUIZ_CREATED, WebhookEvent.QUIZ_STARTED, WebhookEvent.QUIZ_ENDED)
    assert SECRET not in repr(first) and OTHER_SECRET not in repr(second)


def test_every_problem_of_every_endpoint_at_once_without_the_secret(tmp_path: Path) -> None:
    bad_secret = "whsec_not*base64!"
    path = write(
        tmp_path,
        f'''
[[webhooks]]
url = "ftp://app.example.com/hooks"
secret = "{bad_secret}"
events = ["quiz.ended", "quiz.endd"]

[[webhooks]]
url = "https://app.example.com/2"
secret = "plainsecret"
secret_fil = "x"

[[webhooks]]
url = "https://app.example.com/3"
secret = "{SECRET}"
secret_file = "hook.secret"

[[webhooks]]
secret_file = "missing.secret"
events = []
''',
    )
    problems = problems_of(path)
    by_location = {p.location: p.message for p in problems}
    assert by_location == {
        "webhooks[0].url": "must start with http:// or https://; got 'ftp://'",
        "webhooks[0].events[1]": "unknown event 'quiz.endd'; known: quiz.created, quiz.started, quiz.ended; "
        "did you mean 'quiz.ended'?",
        "webhooks[0].secret": "the part after whsec_ is not valid base64",
        "webhooks[1].secret_fil": "unknown key; did you mean 'secret_file'?",
        "webhooks[1].secret": "must start with whsec_ (the Standard Webhooks form whsec_<base64>)",
        "webhooks[2].secret_file": "set secret or secret_file, not both",
        "webhooks[3].url": "required: the http:// or https:// URL to POST to",
        "webhooks[3].events": "expected a non-empty array of quiz.created, quiz.started, quiz.ended; "
        "got an empty array",
        "webhooks[3].secret_file": f"cannot read {tmp_path / 'missing.secret'}: No such file or directory",
    }
    assert all(p.file == str(path) for p in problems)
    assert not any(bad_secret in str(p) or "plainsecret" in str(p) or SECRET in str(p) for p in problems)


def test_webhooks_must_be_an_array_of_tables(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[webhooks]\nurl = "https://x.example"\n'))
    assert [(p.location, p.message) for p in problems] == [
        ("webhooks", "expected an array of tables ([[webhooks]]), got an object/table")
    ]


def test_check_config_names_the_problem_and_never_prints_the_secret(tmp_path: Path) -> None:
    secret = "whsec_" + "A" * 10 + "%%"
    path = write(tmp_path, f'[[webhooks]]\nurl = "gopher://x"\nsecret = "{secret}"\n')
    out, err = io.StringIO(), io.StringIO()
    assert run_check(str(path), out, err, {}) == 2
    assert "webhooks[0].url" in err.getvalue() and "webhooks[0].secret" in err.getvalue()
    assert secret not in err.getvalue() + out.getvalue()


def test_an_endpoint_is_listed_once(tmp_path: Path) -> None:
    table = f'[[webhooks]]\nurl = "https://x.example/h"\nsecret = "{SECRET}"\n'
    problems = problems_of(write(tmp_path, table + "\n" + table))
    assert [(p.location, p.message) for p in problems] == [
        ("webhooks[1].url", "the same url as webhooks[0]: list each endpoint once")
    ]
