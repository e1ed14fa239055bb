"""``[cluster] redis_url`` with Sentinel, and the replica wait keys (docs/operations.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from quizd.config import ConfigError, load_config
from quizd.config.check import run_check
from quizd.config.redis_address import RedisAddressError, parse_sentinel_url

SENTINEL_URL = "redis+sentinel://:hunter2@s1.internal:26379,s2.internal:26380,s3.internal/mymaster?db=3"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "quizzes").mkdir(exist_ok=True)
    path = tmp_path / "quizd.toml"
    path.write_text('[quizzes]\ndefinitions_dir = "quizzes"\n' + text)
    return path


def test_a_sentinel_url_names_the_sentinels_the_service_and_the_data_nodes_password() -> None:
    address = parse_sentinel_url(SENTINEL_URL)
    assert address.sentinels == (("s1.internal", 26379), ("s2.internal", 26380), ("s3.internal", 26379))
    assert address.service == "mymaster"
    assert address.db == 3
    assert address.password == "hunter2"
    assert address.username is None
    assert "hunter2" not in repr(address) and "hunter2" not in address.describe()


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://s1:26379",  # no service
        "redis+sentinel://s1:26379/",  # empty service
        "redis+sentinel://s1:99999/mymaster",  # port out of range
        "redis+sentinel://s1:x/mymaster",  # port not a number
        "redis+sentinel:///mymaster",  # no Sentinel
        "redis+sentinel://s1/mymaster?db=x",  # db not a number
        "redis+sentinel://s1/mymaster?role=x",  # unknown parameter
    ],
)
def test_a_bad_sentinel_url_is_refused(url: str) -> None:
    with pytest.raises(RedisAddressError):
        parse_sentinel_url(url)


def test_a_bad_sentinel_url_is_a_config_problem_that_hides_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, '[cluster]\nredis_url = "redis+sentinel://:hunter2@s1:26379/"\n')
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    (problem,) = raised.value.problems
    assert problem.location == "[cluster] redis_url"
    assert problem.message.startswith("must ")
    assert "hunter2" not in str(problem)


def test_wait_replicas_defaults_to_one_with_sentinel_and_zero_without(tmp_path: Path) -> None:
    sentinel = load_config(write(tmp_path, f'[cluster]\nredis_url = "{SENTINEL_URL}"\n'), {})
    assert (sentinel.cluster.wait_replicas, sentinel.cluster.wait_timeout_ms) == (1, 100)
    plain = load_config(write(tmp_path, '[cluster]\nredis_url = "redis://r:6379/0"\n'), {})
    assert plain.cluster.wait_replicas == 0
    chosen = load_config(write(tmp_path, f'[cluster]\nredis_url = "{SENTINEL_URL}"\nwait_replicas = 0\n'), {})
    assert chosen.cluster.wait_replicas == 0
    two = load_config(
        write(tmp_path, '[cluster]\nredis_url = "redis://r"\nwait_replicas = 2\nwait_timeout_ms = 250\n'), {}
    )
    assert (two.cluster.wait_replicas, two.cluster.wait_timeout_ms) == (2, 250)


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("wait_replicas", "-1"),
        ("wait_replicas", "17"),
        ("wait_timeout_ms", "0"),
        ("wait_timeout_ms", "1001"),
    ],
)
def test_the_wait_keys_are_bounded(tmp_path: Path, key: str, bad: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, f"[cluster]\n{key} = {bad}\n"), {})
    (problem,) = raised.value.problems
    assert problem.location == f"[cluster] {key}"
    assert problem.message.startswith("must ")


def test_check_config_shows_the_sentinels_and_the_wait_but_not_the_password(tmp_path: Path) -> None:
    # A cluster keeps its results in one shared PostgreSQL (check-config refuses SQLite).
    path = write(
        tmp_path, f'[cluster]\nredis_url = "{SENTINEL_URL}"\n[storage]\nurl = "postgresql://quizd@db.internal/quizd"\n'
    )
    out, err = io.StringIO(), io.StringIO()
    code = run_check(str(path), out=out, err=err, environ={})
    text = out.getvalue()
    assert code == 0, err.getvalue()
    assert "Sentinel at redis+sentinel://s1.internal:26379,s2.internal:26380,s3.internal:26379/mymaster" in text
    assert "waits for 1 replica(s), at most 100 ms" in text
    assert "hunter2" not in text + err.getvalue()
