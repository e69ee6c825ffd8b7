"""The ``tandem`` command as a newcomer meets it (issue 17): ``tandem serve --help`` explains
every option, and a restart with ``--demo`` prints the demo's logins again."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from server import cli, demo
from server.settings import Settings


def _serve_parser() -> argparse.ArgumentParser:
    commands = next(
        action
        for action in cli.build_parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    )
    parser: argparse.ArgumentParser = commands.choices["serve"]
    return parser


def test_every_serve_option_has_a_help_text() -> None:
    options = [action for action in _serve_parser()._actions if action.option_strings]
    assert {"--host", "--port", "--lan", "--workers", "--log-level", "--demo"} <= {
        name for action in options for name in action.option_strings
    }
    assert [action.option_strings for action in options if not action.help] == []
    text = _serve_parser().format_help()
    assert "port to listen on (default: 8000)" in text
    assert "(default: 127.0.0.1" in text


def test_lan_and_host_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["serve", "--lan", "--host", "10.0.0.5"])
    assert "not allowed with argument" in capsys.readouterr().err


async def test_a_restart_with_demo_prints_the_logins_again(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    def fill_demo() -> str:
        cli._fill_demo(settings, quiet_if_filled=True)
        return capsys.readouterr().out

    first = await asyncio.to_thread(fill_demo)
    assert "Demo classroom 'Class 3B' is ready." in first
    again = await asyncio.to_thread(fill_demo)
    assert again.startswith("The demo classroom is already here.")
    # The same logins, line for line.
    assert again.splitlines()[1:] == first.splitlines()[1:]
    for _, email in [*demo.TEACHERS, demo.LEARNER]:
        assert email in again
    assert "'tandem-demo'" in again
