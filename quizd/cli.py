"""``quizd``: serve | check-config | db upgrade|check | version (docs/operations.md, "Command line").

Exit codes: 0 clean stop, 2 bad usage or bad config (every problem printed), 1 any
other failure, 130 a second SIGTERM/SIGINT during a drain.
"""

from __future__ import annotations

import argparse
import sys

from quizd import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quizd", description="Real-time vocabulary quiz server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run one node until SIGTERM/SIGINT")
    serve.add_argument("--config", help="node config (default: $QUIZD_CONFIG, then /etc/quizd/quizd.toml)")
    check = commands.add_parser("check-config", help="validate the config and every quiz definition")
    check.add_argument("--config", help="node config (default: $QUIZD_CONFIG, then /etc/quizd/quizd.toml)")
    commands.add_parser("version", help="print the version")
    db = commands.add_parser("db", help="the database schema (quizd.store.migrate)")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, text in (
        ("upgrade", "bring the schema up to date (exit 0, or 1 with the reason)"),
        ("check", "exit 0 when the schema is current, 2 when not"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--config", help="node config (default: $QUIZD_CONFIG, then /etc/quizd/quizd.toml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # argparse exits 2 on bad usage
    if args.command == "version":
        print(f"quizd {__version__}")
        return 0
    if args.command == "check-config":
        from quizd.config.check import run_check

        return run_check(args.config)
    if args.command == "db":
        from quizd.store.migrate import run_db

        return run_db(args.db_command, args.config)
    from quizd.config import ConfigError, load_config
    from quizd.config.loader import file_problems

    try:
        config = load_config(args.config)
        if problems := file_problems(config):
            raise ConfigError(problems)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    from quizd.node import serve
    from quizd.ops.logging import setup_logging

    setup_logging(config.logging.level, config.logging.format)
    try:
        return serve(config)
    except Exception as exc:  # the last line of defence: exit 1, say why
        import logging

        logging.getLogger("quizd").exception("node failed: %s", exc)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
