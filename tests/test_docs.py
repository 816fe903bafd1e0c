"""The reference pages in docs/ are what the code gives: the settings table (every
setting documented, none documented that does not exist), the CLI and the HTTP API;
and every file a page names exists."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_pages_match_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert generator().main(["--check"]) == 0, capsys.readouterr().out


def test_every_setting_and_command_and_route_is_in_the_pages() -> None:
    from mailer.cli import cli
    from mailer.cli.lazy import subcommands
    from mailer.config import Settings
    from mailer.web.app import api_schema

    docs = generator()
    configuration, cli_page, http = docs.configuration(), docs.cli_reference(), \
        docs.http_reference()
    for name in Settings.model_fields:
        assert f"`MAILER_{name.upper()}`" in configuration
    for name in subcommands(cli):
        assert f"## `mailer {name}`" in cli_page
    for path, item in api_schema()["paths"].items():
        for method in item:
            assert f"## `{method.upper()} {path}`" in http


_PATH = re.compile(r"(?<![\w/.-])((?:mailer|worker|tests|bench|deploy|docs|templates|seeds)"
                   r"/[\w./-]*\w)")


def test_every_path_the_docs_name_exists() -> None:
    """A page that names a file the code no longer has sends a reader on a hunt."""
    missing = set()
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path in _PATH.findall(page.read_text(encoding="utf-8")):
            if not any((ROOT / name).exists() for name in (path, f"{path}.py")):
                missing.add(f"{page.relative_to(ROOT)}: {path}")
    assert sorted(missing) == []
