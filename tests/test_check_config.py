"""``quizd check-config``: exit codes, what is printed, and what never is."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from quizd.config.check import run_check

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "quizd.toml"
TOKEN = "tok-Zq8-never-print-me"

QUIZ = """
id = "{id}"
title = "{title}"
[[questions]]
text = "Q"
choices = ["a", "b"]
answer = 0
"""


def setup(tmp_path: Path, config: str = "", quizzes: dict[str, str] | None = None) -> Path:
    (tmp_path / "quizzes").mkdir()
    for name, text in (quizzes or {}).items():
        (tmp_path / "quizzes" / name).write_text(text)
    path = tmp_path / "quizd.toml"
    path.write_text(config)
    return path


def check(path: Path | str | None, environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_check(None if path is None else str(path), out=out, err=err, environ=environ or {})
    return code, out.getvalue(), err.getvalue()


def test_sample_config_is_clean() -> None:
    code, out, err = check(SAMPLE)
    assert code == 0, err
    assert err == ""
    assert "vocab-101" in out and "Everyday English 1" in out
    assert "phrasal-verbs" in out
    assert "change-me" not in out


def test_summary(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        f"""
        [node]
        id = "node-a"
        [websocket]
        host = "0.0.0.0"
        port = 9001
        [http]
        port = 9002
        [auth]
        admin_token = "{TOKEN}"
        [quizzes]
        results_dir = "results"
        """,
        {"one.toml": QUIZ.format(id="one", title="Quiz One")},
    )
    code, out, err = check(path)
    assert code == 0, err
    assert "node-a" in out
    assert "0.0.0.0:9001" in out
    assert "127.0.0.1:9002" in out
    assert "embedded" in out
    assert "admin token:      configured" in out
    assert str(tmp_path / "quizzes") in out
    assert str(tmp_path / "results") in out
    assert "one" in out and "Quiz One" in out and "1 question" in out
    assert TOKEN not in out + err
    assert len(out.splitlines()) < 25  # one screen


def test_cluster_mode_hides_redis_password(tmp_path: Path) -> None:
    # A cluster needs PostgreSQL (operator contract v2): its password is never shown either.
    path = setup(
        tmp_path,
        '[cluster]\nredis_url = "redis://:hunter2@redis.internal:6379/0"\n'
        '[storage]\nurl = "postgresql://quizd:pg-secret@db.internal:5432/quizd"\n',
    )
    code, out, _ = check(path)
    assert code == 0
    assert "redis.internal:6379" in out
    assert "hunter2" not in out
    assert "PostgreSQL at db.internal:5432/quizd" in out
    assert "pg-secret" not in out


def test_a_cluster_on_sqlite_or_none_is_refused_without_connecting(tmp_path: Path) -> None:
    for storage in ("", '[storage]\nurl = "none"\n', '[storage]\nurl = "sqlite:////tmp/x.db"\n'):
        path = tmp_path / f"case{len(storage)}"
        path.mkdir()
        code, out, err = check(setup(path, '[cluster]\nredis_url = "redis://127.0.0.1:1/0"\n' + storage))
        assert code == 2, out
        assert "[storage] url: a cluster ([cluster] redis_url) requires PostgreSQL" in err


def test_storage_is_in_the_summary_and_checked(tmp_path: Path) -> None:
    code, out, err = check(setup(tmp_path))
    assert code == 0, err
    assert f"SQLite {tmp_path / 'quizd.db'}" in out and "auto_migrate" in out
    bad = tmp_path / "bad"
    bad.mkdir()
    code, _, err = check(setup(bad, '[storage]\nurl = "mysql://u:p@h/d"\nanswer_flush_ms = 0\nauto_migrate = "yes"\n'))
    assert code == 2
    assert "[storage] url: must be" in err and "u:p@h" not in err
    assert "[storage] answer_flush_ms: must be between 10 and 60000" in err
    assert "[storage] auto_migrate" in err


def test_no_token_is_a_warning_not_an_error(tmp_path: Path) -> None:
    code, out, err = check(setup(tmp_path))
    assert code == 0
    assert "NOT configured" in out
    assert "warning" in err and "401" in err


def test_env_token_counts_and_is_never_printed(tmp_path: Path) -> None:
    code, out, err = check(setup(tmp_path), {"QUIZD_ADMIN_TOKEN": TOKEN})
    assert code == 0
    assert "admin token:      configured" in out
    assert TOKEN not in out + err


def test_config_from_environment(tmp_path: Path) -> None:
    path = setup(tmp_path, '[node]\nid = "via-env"\n')
    code, out, _ = check(None, {"QUIZD_CONFIG": str(path)})
    assert code == 0
    assert "via-env" in out


def test_config_problems_exit_2(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        f'[auth]\nadmin_token = "{TOKEN}"\n[websocket]\nport = 70000\nprot = 1\n',
    )
    code, out, err = check(path)
    assert code == 2
    assert out == ""
    assert f"{path}: [websocket] port: must be between 0 and 65535" in err
    assert f"{path}: [websocket] prot: unknown key; did you mean 'port'?" in err
    assert "2 problems" in err
    assert TOKEN not in err


def test_quiz_problems_exit_2_with_every_file(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        "",
        {
            "good.toml": QUIZ.format(id="good", title="Good"),
            "bad-1.toml": QUIZ.format(id="Bad", title=""),
            "bad-2.toml": "id = ",
        },
    )
    code, _, err = check(path)
    assert code == 2
    quizzes = tmp_path / "quizzes"
    assert f"{quizzes / 'bad-1.toml'}: id: must be" in err
    assert f"{quizzes / 'bad-1.toml'}: title: must not be empty" in err
    assert f"{quizzes / 'bad-2.toml'}: line 1: TOML syntax error" in err
    assert "good.toml" not in err


def test_config_and_quiz_problems_together(tmp_path: Path) -> None:
    path = setup(
        tmp_path,
        "[leaderboard]\ntop_n = 0\n",
        {"bad.toml": QUIZ.format(id="x", title="T").replace("answer = 0", "answer = 2")},
    )
    code, _, err = check(path)
    assert code == 2
    assert "[leaderboard] top_n" in err
    assert "bad.toml: questions[0].answer" in err


def test_missing_definitions_dir_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "quizd.toml"
    path.write_text('[quizzes]\ndefinitions_dir = "nowhere"\n')
    code, _, err = check(path)
    assert code == 2
    assert str(tmp_path / "nowhere") in err


def test_missing_config_file(tmp_path: Path) -> None:
    code, out, err = check(tmp_path / "absent.toml")
    assert code == 2
    assert out == ""
    assert str(tmp_path / "absent.toml") in err


def test_syntax_error_in_config(tmp_path: Path) -> None:
    path = setup(tmp_path, "[node\n")
    code, _, err = check(path)
    assert code == 2
    assert f"{path}: line 1: TOML syntax error" in err


def test_missing_tls_files_are_problems(tmp_path: Path) -> None:
    path = setup(tmp_path, '[http]\ntls_cert = "cert.pem"\ntls_key = "key.pem"\n')
    (tmp_path / "cert.pem").write_text("x")
    code, _, err = check(path)
    assert code == 2
    assert "[http] tls_key" in err
    assert "[http] tls_cert" not in err


def test_problems_are_one_per_line(tmp_path: Path) -> None:
    path = setup(tmp_path, "[limits]\nburst = 0\nmessages_per_second = 0\n")
    code, _, err = check(path)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 3  # two problems and the count
    assert all(line.startswith(str(path)) for line in lines[:2])


# -------------------------------------------------------- paths that cannot be paths


@pytest.mark.parametrize(
    ("config", "location", "message"),
    [
        ('[auth]\nadmin_token_file = "~nosuchuser/token"', "[auth] admin_token_file", "unknown user 'nosuchuser'"),
        ('[auth]\nadmin_token_file = "tok\\u0000en"', "[auth] admin_token_file", "NUL character"),
        ('[auth]\nadmin_token_file = "quizzes"', "[auth] admin_token_file", "is a directory"),
        ('[quizzes]\ndefinitions_dir = "~nosuchuser/q"', "[quizzes] definitions_dir", "unknown user 'nosuchuser'"),
        ('[quizzes]\ndefinitions_dir = "q\\u0000"', "[quizzes] definitions_dir", "NUL character"),
        ('[quizzes]\nresults_dir = "~nosuchuser/r"', "[quizzes] results_dir", "unknown user"),
        ('[http]\ntls_cert = "~nosuchuser/c"\ntls_key = "k\\u0000"', "[http] tls_cert", "unknown user"),
        ('[websocket]\ntls_cert = "quizzes"\ntls_key = "quizzes"', "[websocket] tls_key", "is a directory"),
    ],
)
def test_a_path_that_cannot_be_used_is_a_problem_not_a_traceback(
    tmp_path: Path, config: str, location: str, message: str
) -> None:
    path = setup(tmp_path, config)
    code, out, err = check(path)
    assert code == 2, out
    line = next(line for line in err.splitlines() if location in line)
    assert line.startswith(str(path)) and message in line


def test_unreadable_or_undecodable_token_files(tmp_path: Path) -> None:
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    path = setup(tmp_path, '[auth]\nadmin_token_file = "latin1"')
    code, _, err = check(path)
    assert code == 2 and "[auth] admin_token_file" in err and "not valid UTF-8" in err
    # A credential that is a directory is named by its path.
    credentials = tmp_path / "creds"
    (credentials / "admin_token").mkdir(parents=True)
    code, _, err = check(setup_again(tmp_path, ""), {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert code == 2 and str(credentials / "admin_token") in err and "is a directory" in err


def setup_again(tmp_path: Path, config: str) -> Path:
    path = tmp_path / "quizd.toml"
    path.write_text(config)
    return path


def test_serve_reports_a_bad_path_and_exits_2(tmp_path: Path) -> None:
    from quizd.cli import main

    path = setup(tmp_path, '[websocket]\ntls_cert = "nope.pem"\ntls_key = "quizzes"')
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["serve", "--config", str(path)]) == 2
    assert "[websocket] tls_cert" in err.getvalue() and "not found" in err.getvalue()
    assert "[websocket] tls_key" in err.getvalue() and "is a directory" in err.getvalue()
    path.write_text('[quizzes]\ndefinitions_dir = "~nosuchuser/q"')
    with contextlib.redirect_stderr(err):
        assert main(["serve", "--config", str(path)]) == 2
    assert "[quizzes] definitions_dir: unknown user 'nosuchuser'" in err.getvalue()


def test_max_quizzes_is_checked_and_shown(tmp_path: Path) -> None:
    code, _, err = check(setup(tmp_path, "[quizzes]\nmax_quizzes = 0\nmax_quizes = 5\n"))
    assert code == 2
    assert "[quizzes] max_quizzes: must be between 1 and 1000000, got 0" in err
    assert "[quizzes] max_quizes: unknown key; did you mean 'max_quizzes'?" in err
    code, out, err = check(setup_again(tmp_path, "[quizzes]\nmax_quizzes = 7\n"))
    assert code == 0, err
    assert "at most 7 on this node ([quizzes] max_quizzes)" in out


def test_tls_files_that_are_not_a_pem_pair_are_a_problem(tmp_path: Path) -> None:
    path = setup(tmp_path, '[http]\ntls_cert = "cert.pem"\ntls_key = "key.pem"\n')
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    code, _, err = check(path)
    assert code == 2
    assert "[http] tls_cert: the certificate and key do not load as a PEM pair" in err


def test_a_results_dir_that_is_a_file_is_a_problem(tmp_path: Path) -> None:
    path = setup(tmp_path, '[quizzes]\nresults_dir = "quizd.toml"\n')
    code, _, err = check(path)
    assert code == 2
    assert "[quizzes] results_dir" in err and "is not a directory" in err


def test_a_listen_host_with_a_nul_is_a_problem(tmp_path: Path) -> None:
    code, _, err = check(setup(tmp_path, '[http]\nhost = "127.0.0.1\\u0000"\n'))
    assert code == 2 and "[http] host: must be a host name or address" in err


def test_bad_denylist_path_exits_2_naming_key_and_file(tmp_path: Path) -> None:
    path = setup(tmp_path, '[quizzes]\nnames = "both"\nname_denylist = "lists/deny.txt"\n')
    code, out, err = check(path)
    assert code == 2
    assert out == ""
    assert f"{path}: [quizzes] name_denylist: cannot read {tmp_path / 'lists' / 'deny.txt'}" in err
    assert "1 problem found" in err


def test_summary_shows_names_mode_and_denylist(tmp_path: Path) -> None:
    (tmp_path / "deny.txt").write_text("bad\nworse\n# not a word\n")
    path = setup(tmp_path, '[quizzes]\nnames = "generated"\nname_denylist = "deny.txt"\n')
    code, out, _ = check(path)
    assert code == 0
    assert f"player names:     generated; deny-list {tmp_path / 'deny.txt'} (2 words)" in out
