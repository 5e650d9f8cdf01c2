"""Every command of `onereg` explains itself: a help text, an example, and a text for every
option (walked over the whole click tree, so a new command without them fails here)."""

from __future__ import annotations

from collections.abc import Iterator

import click
from click.testing import CliRunner

from onereg.cli.main import cli


def commands(
    command: click.Command, path: tuple[str, ...] = ("onereg",)
) -> Iterator[tuple[str, click.Command]]:
    yield " ".join(path), command
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name} but cannot load it"
            yield from commands(sub, (*path, name))


def visible() -> list[tuple[str, click.Command]]:
    return [(p, c) for p, c in commands(cli) if not c.hidden]


def test_the_tree_is_walked_whole() -> None:
    names = {path for path, _ in visible()}
    assert {"onereg agreement evidence", "onereg rpki roa add", "onereg node init"} <= names
    assert len(names) > 30


def test_every_command_has_help_and_an_example() -> None:
    lacking = [
        path
        for path, command in visible()
        if not command.help
        or (not isinstance(command, click.Group) and "Example" not in (command.epilog or ""))
    ]
    assert lacking == []


def test_every_option_has_a_text() -> None:
    lacking = [
        f"{path} {'/'.join(param.opts)}"
        for path, command in visible()
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden and not param.help
    ]
    assert lacking == []


def test_the_example_is_in_what_help_prints() -> None:
    """The epilog reaches the user: `--help` of a command prints its example."""
    for args in (["agreement", "new", "--help"], ["show", "--help"], ["rpki", "roa", "add"]):
        if args[-1] != "--help":
            args = [*args, "--help"]
        done = CliRunner().invoke(cli, args)
        assert done.exit_code == 0, done.output
        assert "Example" in done.output, args
