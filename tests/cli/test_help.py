"""The CLI explains itself: a version, help for every option with its format and
default, summaries that are not cut off."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from mailer.cli import cli, version
from mailer.cli.lazy import subcommands
from tests.support.cli import run


def commands(group: click.Group, path: tuple[str, ...] = ()
             ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in subcommands(group).items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out == f"mailer {version()}\n" and version()[0].isdigit()


def test_every_option_says_what_it_takes() -> None:
    missing = [f"{' '.join(path)} {param.opts[0]}" for path, command in commands(cli)
               for param in command.params
               if isinstance(param, click.Option) and not param.help]
    assert not missing, missing


@pytest.mark.parametrize("path", [path for path, _ in commands(cli)] + [()],
                         ids=lambda path: " ".join(path) or "mailer")
def test_help_is_whole_and_shows_defaults(path: tuple[str, ...],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([*path, "--help"], capsys)
    assert code == 0
    assert not [line for line in out.splitlines()
                if line.rstrip().endswith("...") and not line.startswith("Usage:")], out
    flat = " ".join(out.split())
    if path == ("share",):
        assert "--wait SECONDS" in flat and "[default: 0]" in flat and "[required]" in flat
    if path == ("digest", "run"):
        assert "--date YYYY-MM-DD" in flat and "[default: 3600" in flat


def test_mailer_help_and_demo_help_describe_the_demo_the_same_way(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 25: the list in `mailer --help` and `mailer demo --help` once told two
    stories; the summary is now the first line of the demo's own help."""
    listed = run(["--help"], capsys)[1]
    [line] = [line for line in listed.splitlines() if line.strip().startswith("demo ")]
    summary = line.strip().removeprefix("demo").strip()
    own = run(["demo", "--help"], capsys)[1].split("\n\n")[1].strip()
    assert own.startswith(summary), (summary, own)
