"""A click group whose subcommands are imported only when they run.

Every subcommand module pulls in its own stack (numpy for `rov`, the RPKI encoders, aiohttp and
httpx for the node clients); importing them all made `onereg --help` and `onereg show` pay
for every command. A `LazyGroup` names each such subcommand by `module:attribute` and keeps
its one-line help beside it, so listing the commands imports nothing; the module is imported
when the command is looked up to run (or to show its own `--help`). The stored line is checked
against the command's own docstring by the tests, so it cannot drift.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import click


@dataclass(frozen=True)
class LazyCommand:
    """Where a subcommand lives (`package.module:attribute`) and its one-line help."""

    target: str
    short_help: str

    def short_help_str(self, limit: int) -> str:
        """The listing's text, cut as click cuts a command's own help."""
        return click.Command(None, help=self.short_help).get_short_help_str(limit)

    def load(self) -> click.Command:
        module_name, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):  # a wrong table entry: a defect of ours
            raise TypeError(f"{self.target} is not a click command")
        return command


class LazyGroup(click.Group):
    """A group with eagerly defined commands plus `lazy` ones imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, LazyCommand] | None = None, **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy: dict[str, LazyCommand] = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        command = entry.load()
        self.commands[cmd_name] = command  # loaded once; later lookups are plain
        del self.lazy[cmd_name]
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Click's listing, with the stored line for commands not imported yet."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = self.lazy.get(name)
            if entry is not None:
                rows.append((name, entry.short_help_str(limit)))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def add_lazy(group: click.Group, commands: dict[str, tuple[str, str]]) -> None:
    """Register `name: (module:attribute, first sentence of its help)` on a `LazyGroup`."""
    if not isinstance(group, LazyGroup):  # a group made without cls=LazyGroup: a defect of ours
        raise TypeError(f"{group.name} is not a LazyGroup")
    for name, (target, short_help) in commands.items():
        group.lazy[name] = LazyCommand(target, short_help)
