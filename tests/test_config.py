"""Node config loading: defaults, every rule, env overrides, all problems at once."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from quizd.config import Config, ConfigError, Problem, load_config
from quizd.game.names import NamesMode

SAMPLE = Path(__file__).resolve().parent.parent / "config" / "quizd.toml"


def write(tmp_path: Path, text: str, name: str = "quizd.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path, environ or {})
    return info.value.problems


def locations(problems: list[Problem]) -> set[str]:
    return {p.location for p in problems}


# ------------------------------------------------------------------ defaults, paths


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    config = load_config(path, {})
    assert config.node.id == (socket.gethostname() or "node-1")
    assert config.websocket.port == 8765
    assert config.websocket.max_message_bytes == 4096
    assert config.websocket.allowed_origins == ()
    assert config.http.port == 8080
    assert config.auth.admin_token == ""
    assert config.quizzes.max_players == 10000
    assert config.leaderboard.top_n == 10
    assert config.limits.burst == 40
    assert config.cluster.redis_url == ""
    assert config.logging.level == "info"
    assert config.logging.format == "json"
    assert config.source == path
    # definitions_dir defaults to "quizzes" next to the file.
    assert config.quizzes.definitions_dir == str(tmp_path / "quizzes")
    assert config.quizzes.results_dir == ""


def test_values_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [node]
        id = "edge-7.eu_west"
        drain_timeout_s = 5
        [websocket]
        port = 0
        ping_interval_s = 2.5
        allowed_origins = ["https://a.example", "https://b.example"]
        [limits]
        messages_per_second = 5
        [cluster]
        redis_url = "redis://localhost:6379/0"
        [logging]
        level = "debug"
        format = "text"
        """,
    )
    config = load_config(path, {})
    assert config.node.id == "edge-7.eu_west"
    assert config.node.drain_timeout_s == 5.0
    assert isinstance(config.node.drain_timeout_s, float)  # TOML ints accepted for floats
    assert config.websocket.port == 0
    assert config.websocket.ping_interval_s == 2.5
    assert config.websocket.allowed_origins == ("https://a.example", "https://b.example")
    assert config.limits.messages_per_second == 5.0
    assert config.cluster.redis_url == "redis://localhost:6379/0"
    assert config.logging.level == "debug"


def test_relative_paths_resolve_against_config_dir(tmp_path: Path, monkeypatch) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    (conf_dir / "token").write_text("s3cret\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    path = write(
        conf_dir,
        """
        [websocket]
        tls_cert = "tls/ws.crt"
        tls_key = "/abs/ws.key"
        [http]
        tls_cert = "tls/http.crt"
        tls_key = "tls/http.key"
        [auth]
        admin_token_file = "token"
        [quizzes]
        definitions_dir = "../quizzes"
        results_dir = "results"
        """,
    )
    config = load_config(path, {})
    assert config.websocket.tls_cert == str(conf_dir / "tls/ws.crt")
    assert config.websocket.tls_key == "/abs/ws.key"
    assert config.http.tls_cert == str(conf_dir / "tls/http.crt")
    assert config.http.tls_key == str(conf_dir / "tls/http.key")
    assert config.auth.admin_token_file == str(conf_dir / "token")
    assert config.quizzes.definitions_dir == str(conf_dir / "../quizzes")
    assert config.quizzes.results_dir == str(conf_dir / "results")
    for value in (config.quizzes.definitions_dir, config.quizzes.results_dir):
        assert Path(value).is_absolute()


def test_relative_config_path_is_made_absolute(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, "")
    monkeypatch.chdir(tmp_path)
    config = load_config("quizd.toml", {})
    assert config.source == tmp_path / "quizd.toml"
    assert config.quizzes.definitions_dir == str(tmp_path / "quizzes")


def test_sample_config_loads() -> None:
    config = load_config(SAMPLE, {})
    assert isinstance(config, Config)
    assert config.websocket.port == 8765
    assert config.http.port == 8080
    assert config.auth.admin_token == "change-me"
    assert config.quizzes.definitions_dir == str(SAMPLE.parent / "quizzes")


# ------------------------------------------------------------------ path resolution


def test_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, '[node]\nid = "from-env"\n')
    assert load_config(None, {"QUIZD_CONFIG": str(path)}).node.id == "from-env"


def test_explicit_path_beats_environment(tmp_path: Path) -> None:
    explicit = write(tmp_path, '[node]\nid = "explicit"\n', "a.toml")
    env = write(tmp_path, '[node]\nid = "env"\n', "b.toml")
    assert load_config(explicit, {"QUIZD_CONFIG": str(env)}).node.id == "explicit"


def test_default_path_is_etc(tmp_path: Path) -> None:
    if Path("/etc/quizd/quizd.toml").exists():
        pytest.skip("a real /etc/quizd/quizd.toml exists on this machine")
    problems = problems_of(None, {})  # type: ignore[arg-type]
    assert problems == [Problem("/etc/quizd/quizd.toml", "", "file not found")]


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    problems = problems_of(missing)
    assert len(problems) == 1
    assert problems[0].file == str(missing)
    assert str(missing) in str(ConfigError(problems))


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path)
    assert "directory" in problem.message


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[node]\nid = "a"\nport = = 3\n')
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    assert problem.location == "line 3"
    assert "syntax" in problem.message
    assert str(problem).startswith(f"{path}: line 3: ")


def test_syntax_error_at_end_of_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[node]\nid =")
    (problem,) = problems_of(path)
    assert problem.location == "line 2"


# ------------------------------------------------------------------ unknown things


def test_unknown_key_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "[websocket]\nprot = 1\n")
    (problem,) = problems_of(path)
    assert problem.location == "[websocket] prot"
    assert "did you mean 'port'?" in problem.message
    assert str(problem) == f"{path}: [websocket] prot: unknown key; did you mean 'port'?"


def test_unknown_key_without_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, "[logging]\nzzzzzz = 1\n")
    (problem,) = problems_of(path)
    assert problem.message == "unknown key"


def test_unknown_table_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "[websoket]\nport = 1\n")
    (problem,) = problems_of(path)
    assert problem.location == "[websoket]"
    assert "unknown table" in problem.message
    assert "did you mean 'websocket'?" in problem.message


def test_key_outside_table(tmp_path: Path) -> None:
    path = write(tmp_path, "max_players = 3\n")
    (problem,) = problems_of(path)
    assert problem.location == "max_players"
    assert "[quizzes] max_players" in problem.message


def test_section_that_is_not_a_table(tmp_path: Path) -> None:
    path = write(tmp_path, "websocket = 3\n")
    (problem,) = problems_of(path)
    assert problem.location == "[websocket]"
    assert "expected a table" in problem.message


# ------------------------------------------------------------------ types


@pytest.mark.parametrize(
    ("table", "key", "value", "expect"),
    [
        ("websocket", "port", '"8765"', "expected an integer, got a string"),
        ("websocket", "port", "true", "expected an integer, got a boolean"),
        ("websocket", "port", "80.5", "expected an integer, got a number"),
        ("websocket", "host", "1", "expected a string, got an integer"),
        ("node", "drain_timeout_s", '"30"', "expected a number, got a string"),
        ("node", "drain_timeout_s", "false", "expected a number, got a boolean"),
        ("websocket", "allowed_origins", '"https://a"', "expected an array, got a string"),
        ("logging", "level", "[]", "expected a string, got an array"),
        ("cluster", "redis_url", "{}", "expected a string, got an object/table"),
    ],
)
def test_wrong_type(tmp_path: Path, table: str, key: str, value: str, expect: str) -> None:
    path = write(tmp_path, f"[{table}]\n{key} = {value}\n")
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    assert problem.location == f"[{table}] {key}"
    assert problem.message == expect


def test_wrong_type_inside_array(tmp_path: Path) -> None:
    path = write(tmp_path, '[websocket]\nallowed_origins = ["https://a", 3]\n')
    (problem,) = problems_of(path)
    assert problem.location == "[websocket] allowed_origins[1]"
    assert "expected a string" in problem.message


# ------------------------------------------------------------------ ranges

# (table, key, bad value, a good edge value)
RANGE_CASES = [
    ("websocket", "port", "-1", "0"),
    ("websocket", "port", "65536", "65535"),
    ("http", "port", "70000", "0"),
    ("websocket", "max_message_bytes", "255", "256"),
    ("websocket", "max_message_bytes", str(16 * 1024 * 1024 + 1), str(16 * 1024 * 1024)),
    ("websocket", "max_connections", "0", "1"),
    ("websocket", "send_queue_bytes", "4095", "4096"),
    ("websocket", "ping_interval_s", "0", "0.1"),
    ("node", "drain_timeout_s", "-1", "0"),
    ("quizzes", "max_players", "0", "1"),
    ("quizzes", "linger_s", "-0.5", "0"),
    ("quizzes", "lobby_timeout_s", "0", "1"),
    ("leaderboard", "top_n", "0", "1"),
    ("leaderboard", "top_n", "101", "100"),
    ("leaderboard", "interval_ms", "49", "50"),
    ("leaderboard", "interval_ms", "60001", "60000"),
    ("limits", "messages_per_second", "0", "0.5"),
    ("limits", "burst", "0", "1"),
    ("limits", "connections_per_ip", "-1", "0"),
    ("cluster", "heartbeat_ms", "99", "100"),
    ("logging", "level", '"verbose"', '"warning"'),
    ("logging", "format", '"xml"', '"text"'),
    ("node", "id", '"has space"', '"a.b_c-D9"'),
    ("node", "id", '""', '"x"'),
    ("node", "id", '"' + "a" * 65 + '"', '"' + "a" * 64 + '"'),
    ("cluster", "redis_url", '"http://x"', '"rediss://x:6380"'),
]


@pytest.mark.parametrize(("table", "key", "bad", "good"), RANGE_CASES)
def test_out_of_range(tmp_path: Path, table: str, key: str, bad: str, good: str) -> None:
    path = write(tmp_path, f"[{table}]\n{key} = {bad}\n")
    (problem,) = problems_of(path)
    assert problem.file == str(path)
    assert problem.location == f"[{table}] {key}"
    assert problem.message.startswith("must ")
    assert str(problem).startswith(f"{path}: [{table}] {key}: must ")

    load_config(write(tmp_path, f"[{table}]\n{key} = {good}\n"), {})


def test_redis_url_problem_does_not_echo_password(tmp_path: Path) -> None:
    path = write(tmp_path, '[cluster]\nredis_url = "http://user:hunter2@x"\n')
    (problem,) = problems_of(path)
    assert "hunter2" not in str(problem)


def test_node_timeout_must_exceed_heartbeat(tmp_path: Path) -> None:
    path = write(tmp_path, "[cluster]\nheartbeat_ms = 1000\nnode_timeout_ms = 1000\n")
    (problem,) = problems_of(path)
    assert problem.location == "[cluster] node_timeout_ms"
    assert "heartbeat_ms" in problem.message
    load_config(write(tmp_path, "[cluster]\nheartbeat_ms = 200\nnode_timeout_ms = 201\n"), {})


@pytest.mark.parametrize("table", ["websocket", "http"])
@pytest.mark.parametrize(("given", "missing"), [("tls_cert", "tls_key"), ("tls_key", "tls_cert")])
def test_tls_files_come_in_pairs(tmp_path: Path, table: str, given: str, missing: str) -> None:
    path = write(tmp_path, f'[{table}]\n{given} = "x.pem"\n')
    (problem,) = problems_of(path)
    assert problem.location == f"[{table}] {missing}"
    assert "together" in problem.message


def test_admin_token_and_file_not_both(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t")
    path = write(tmp_path, '[auth]\nadmin_token = "a"\nadmin_token_file = "token"\n')
    (problem,) = problems_of(path)
    assert problem.location == "[auth] admin_token_file"
    assert "not both" in problem.message


# ------------------------------------------------------------------ many at once


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [node]
        id = "bad id!"
        [websocket]
        port = 99999
        prot = 1
        host = 5
        allowed_origins = "https://a"
        [http]
        tls_cert = "c.pem"
        [leaderboard]
        top_n = 0
        [logging]
        level = "loud"
        [metrics]
        enabled = true
        """,
    )
    problems = problems_of(path)
    assert locations(problems) == {
        "[node] id",
        "[websocket] port",
        "[websocket] prot",
        "[websocket] host",
        "[websocket] allowed_origins",
        "[http] tls_key",
        "[leaderboard] top_n",
        "[logging] level",
        "[metrics]",
    }
    assert all(p.file == str(path) for p in problems)
    text = str(ConfigError(problems))
    assert len(text.splitlines()) == len(problems)
    assert all(line.startswith(f"{path}: ") for line in text.splitlines())


def test_a_type_error_does_not_trigger_a_spurious_cross_key_problem(tmp_path: Path) -> None:
    path = write(tmp_path, '[cluster]\nheartbeat_ms = "fast"\nnode_timeout_ms = 500\n')
    assert locations(problems_of(path)) == {"[cluster] heartbeat_ms"}


# ------------------------------------------------------------------ admin token


def test_admin_token_from_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\nadmin_token = "from-file"\n')
    assert load_config(path, {}).auth.admin_token == "from-file"


def test_env_overrides_admin_token(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\nadmin_token = "from-file"\n')
    config = load_config(path, {"QUIZD_ADMIN_TOKEN": "from-env"})
    assert config.auth.admin_token == "from-env"
    assert config.admin_token == "from-env"


def test_env_overrides_admin_token_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\nadmin_token_file = "missing-token"\n')
    config = load_config(path, {"QUIZD_ADMIN_TOKEN": "from-env"})
    assert config.auth.admin_token == "from-env"


def test_empty_env_token_counts_as_unset(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\nadmin_token = "from-file"\n')
    assert load_config(path, {"QUIZD_ADMIN_TOKEN": ""}).auth.admin_token == "from-file"


def test_admin_token_file_is_read_and_stripped(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  tok-123\n\n")
    path = write(tmp_path, '[auth]\nadmin_token_file = "token"\n')
    config = load_config(path, {})
    assert config.auth.admin_token == "tok-123"
    assert config.auth.admin_token_file == str(tmp_path / "token")


def test_unreadable_admin_token_file_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\nadmin_token_file = "nope"\n[leaderboard]\ntop_n = 0\n')
    problems = problems_of(path)
    assert locations(problems) == {"[auth] admin_token_file", "[leaderboard] top_n"}
    (token_problem,) = [p for p in problems if p.location == "[auth] admin_token_file"]
    assert str(tmp_path / "nope") in token_problem.message


def test_empty_admin_token_file_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    path = write(tmp_path, '[auth]\nadmin_token_file = "token"\n')
    (problem,) = problems_of(path)
    assert "empty" in problem.message


def test_credentials_directory_fallback(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "admin_token").write_text("from-systemd\n")
    path = write(tmp_path, "")
    config = load_config(path, {"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.auth.admin_token == "from-systemd"


def test_credentials_directory_is_only_a_fallback(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "admin_token").write_text("from-systemd\n")
    path = write(tmp_path, '[auth]\nadmin_token = "from-file"\n')
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert load_config(path, env).auth.admin_token == "from-file"
    env["QUIZD_ADMIN_TOKEN"] = "from-env"
    assert load_config(path, env).auth.admin_token == "from-env"


def test_credentials_directory_without_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    config = load_config(path, {"CREDENTIALS_DIRECTORY": str(tmp_path / "empty")})
    assert config.auth.admin_token == ""


def test_token_never_in_repr(tmp_path: Path) -> None:
    path = write(tmp_path, '[auth]\nadmin_token = "sup3r-s3cret"\n')
    assert "sup3r-s3cret" not in repr(load_config(path, {}))


# ------------------------------------------------------------------ names (v2)


def test_names_default_to_given_with_no_denylist(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), {})
    assert config.quizzes.names is NamesMode.GIVEN
    assert config.quizzes.name_denylist == ""
    assert not config.name_denylist


def test_names_mode_and_denylist_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "deny.txt").write_text("# refused\nb4d\n\nugly\n", encoding="utf-8")
    config = load_config(write(tmp_path, '[quizzes]\nnames = "both"\nname_denylist = "deny.txt"\n'), {})
    assert config.quizzes.names is NamesMode.BOTH
    assert config.quizzes.name_denylist == str(tmp_path / "deny.txt")
    assert set(config.name_denylist.words) == {"bad", "ugly"}


def test_unknown_names_mode_suggests_the_closest(tmp_path: Path) -> None:
    [problem] = problems_of(write(tmp_path, '[quizzes]\nnames = "generatd"\n'))
    assert problem.location == "[quizzes] names"
    assert "'given', 'generated', 'both'" in problem.message
    assert "did you mean 'generated'?" in problem.message


@pytest.mark.parametrize("make", ["missing", "directory", "not_utf8"])
def test_unreadable_denylist_names_the_key_and_the_file(tmp_path: Path, make: str) -> None:
    target = tmp_path / "deny.txt"
    if make == "directory":
        target.mkdir()
    elif make == "not_utf8":
        target.write_bytes(b"bad\n\xff\n")
    [problem] = problems_of(write(tmp_path, '[quizzes]\nname_denylist = "deny.txt"\n'))
    assert problem.file == str(tmp_path / "quizd.toml")
    assert problem.location == "[quizzes] name_denylist"
    assert str(target) in problem.message
