"""Rendering: Jinja2 templates to HTML with the stylesheet inlined, plus a text part.

Inlining costs far more than the rest of a send, so a template is rendered and inlined
once per (template, article version, layout variant) with placeholder slots where the
per-message values go; a message is then a join of cached pieces and escaped values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2

from mailer.errors import ConfigError
from mailer.sending.message import RenderedEmail

Inliner = Literal["css_inline", "premailer"]
STYLESHEET = "email.css"


@dataclass(frozen=True)
class Site:
    name: str
    url: str
    domain: str
    zone: ZoneInfo
    postal_address: str = ""
    privacy_url: str = ""  # linked from the sign-up form's privacy line
    logo_url: str = ""  # the masthead's image in e-mails; empty: the name in type


def make_environment(templates_dir: Path, zone: ZoneInfo) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["localtime"] = lambda value: _format_local(value, zone)
    env.filters["sentence"] = as_sentence
    return env


def as_sentence(message: str, label: str, named: bool = False) -> str:
    """A field's error as a sentence that reads on its own, beside the field or in a
    summary: ("is required", "Your e-mail") -> "Your e-mail is required."; messages
    that are sentences already are kept, and in a summary (`named`) led by the label,
    since two fields may fail the same way."""
    text = message.strip()
    if text[:1].islower():
        text = f"{label} {text}"
    elif named and not text.startswith(label):
        text = f"{label}: {text}"
    return text if text.endswith((".", "!", "?", ")")) else f"{text}."


def _format_local(value: datetime, zone: ZoneInfo) -> str:
    local = value.astimezone(zone)
    return f"{local.day} {local:%B %Y, %H:%M}"


def inline_css(document: str, css: str, inliner: Inliner) -> str:
    """The one place CSS is inlined; both engines load nothing remote, and keep only
    the stylesheet's @media rules (narrow screens, dark mode) in a <style> block, for
    the clients that honour them."""
    if inliner == "css_inline":
        import css_inline

        return css_inline.CSSInliner(
            extra_css=css, keep_style_tags=False, keep_at_rules=True,
            load_remote_stylesheets=False
        ).inline(document)
    if inliner == "premailer":
        from premailer import Premailer

        return Premailer(
            document, css_text=css, keep_style_tags=False, allow_network=False,
            disable_validation=True, cssutils_logging_level="CRITICAL",
        ).transform()
    raise ConfigError(f"MAILER_INLINER: unknown inliner {inliner!r}")


def load_stylesheet(env: jinja2.Environment) -> str:
    return env.loader.get_source(env, STYLESHEET)[0] if env.loader else ""


class TemplateMail:
    """Renders low-volume mail (confirmations) whole, every time: no cache to go stale."""

    def __init__(self, env: jinja2.Environment, site: Site, inliner: Inliner) -> None:
        self._env = env
        self._site = site
        self._inliner = inliner
        self._css = load_stylesheet(env)

    def render(self, template: str, subject: str, /, **context: Any) -> RenderedEmail:
        context = {"site": self._site, **context}
        html_doc = self._env.get_template(f"{template}.html").render(context)
        text_doc = self._env.get_template(f"{template}.txt").render(context)
        return RenderedEmail(subject, inline_css(html_doc, self._css, self._inliner), text_doc)
