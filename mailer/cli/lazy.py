"""A click group that imports a subcommand's module only when that subcommand runs.

`mailer status` is what an operator (and a monitoring check) types most, and importing
every command's dependencies first (SQLAlchemy's ORM, the web app, the article stores)
cost most of a second before it asked anything. `--help` and the docs still see every
command: listing them loads them all.
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._lazy = dict(lazy)  # name -> "module:attribute"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._lazy.pop(cmd_name, None)
        if target is not None:
            module, _, attribute = target.partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{target} is not a click command")
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)


def subcommands(group: click.Group) -> dict[str, click.Command]:
    """Every subcommand of `group` by name, loaded; what tests and the docs walk."""
    context = click.Context(group)
    found = {name: group.get_command(context, name) for name in group.list_commands(context)}
    return {name: command for name, command in found.items() if command is not None}
