"""``quizd check-config``: exit codes, what is printed, and what never is."""

from __future__ import annotations

import io
from pathlib import Path

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
    path = setup(tmp_path, '[cluster]\nredis_url = "redis://:hunter2@redis.internal:6379/0"\n')
    code, out, _ = check(path)
    assert code == 0
    assert "redis.internal:6379" in out
    assert "hunter2" not in out


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
