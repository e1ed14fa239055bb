"""The migrations build exactly the schema of ``quizd.store.schema``, on both dialects,
and ``quizd db`` reports and upgrades the schema of the database a config names."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from quizd.cli import main
from quizd.config import load_config
from quizd.config.model import StorageSection
from quizd.store.engine import database_url
from quizd.store.migrate import is_current, upgrade
from quizd.store.schema import metadata


def test_upgrade_builds_the_schema_of_the_metadata(engine: Engine) -> None:
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    assert diff == []
    assert set(inspect(engine).get_table_names()) >= {
        "definitions",
        "quizzes",
        "players",
        "answers",
        "question_results",
        "webhook_outbox",
    }


def test_upgrade_twice_changes_nothing(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert is_current(engine)


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str) -> None:
    from quizd.store.engine import make_engine

    engine = make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 5000
    engine.dispose()


def test_quizd_db_check_and_upgrade_on_sqlite_beside_the_config(tmp_path: Path) -> None:
    config = tmp_path / "quizd.toml"
    config.write_text('[storage]\nurl = ""\n')
    assert main(["db", "check", "--config", str(config)]) == 2
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert (tmp_path / "quizd.db").exists()
    assert main(["db", "check", "--config", str(config)]) == 0


def test_quizd_db_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    config = tmp_path / "quizd.toml"
    config.write_text(f'[storage]\nurl = "{pg_url}"\n')
    assert main(["db", "check", "--config", str(config)]) == 2
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert main(["db", "check", "--config", str(config)]) == 0


def test_quizd_db_upgrade_says_why_it_failed(tmp_path: Path, capsys: object) -> None:
    config = tmp_path / "quizd.toml"
    config.write_text('[storage]\nurl = "postgresql://quizd@127.0.0.1:1/nothing"\n')
    assert main(["db", "upgrade", "--config", str(config)]) == 1
    config.write_text('[storage]\nurl = "mysql://x@y/z"\n')
    assert main(["db", "upgrade", "--config", str(config)]) == 1


def test_database_url_follows_the_operator_contract(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "quizd.toml"
    assert database_url(StorageSection(), config, {}).database == str(tmp_path / "etc" / "quizd.db")
    assert (
        database_url(StorageSection(), config, {"STATE_DIRECTORY": "/var/lib/quizd"}).database
        == "/var/lib/quizd/quizd.db"
    )
    pg = database_url(StorageSection(url="postgresql://u@h/db"), config, {})
    assert pg.drivername == "postgresql+psycopg" and pg.database == "db"
    assert not StorageSection(url="none").enabled


def test_storage_settings_are_read_from_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "quizd.toml"
    config.write_text('[node]\nid = "a"\n[storage]\nurl = "none"\nanswer_flush_ms = 250\n')
    assert load_config(config).storage == StorageSection(url="none", auto_migrate=True, answer_flush_ms=250)


async def test_migrate_at_start_upgrades_unless_told_not_to(tmp_path: Path) -> None:
    from quizd.store.engine import engine_from_settings
    from quizd.store.migrate import migrate_at_start

    config = tmp_path / "quizd.toml"
    await migrate_at_start(StorageSection(auto_migrate=False), config)
    await migrate_at_start(StorageSection(url="none"), config)
    assert not (tmp_path / "quizd.db").exists()
    await migrate_at_start(StorageSection(), config)
    engine = engine_from_settings(StorageSection(), config)
    assert is_current(engine)
    engine.dispose()
