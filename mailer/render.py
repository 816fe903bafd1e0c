"""Rendering: Jinja2 templates to HTML with the stylesheet inlined, plus a text part.

Inlining costs far more than the rest of a send, so a template is rendered and inlined
once per (template, article version, layout variant) with placeholder slots where the
per-message values go; a message is then a join of cached pieces and escaped values.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2

from mailer.articles.model import Article
from mailer.errors import ConfigError
from mailer.sending.message import RenderedEmail
from mailer.slots import LruCache, SlotTemplate, slot
from mailer.validation import ShareRequest

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





ShareDocs = tuple[SlotTemplate[str], SlotTemplate[str]]  # HTML, text


def _html_note(note: str) -> str:
    return "<br>\n".join(html.escape(line) for line in note.split("\n"))


def _text_note(note: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in note.split("\n"))


class ShareRenderer:
    """Renders share e-mails; holds the per-article cache, so keep one per process."""

    SLOTS = ("sender_name", "sender_email", "friend_name", "note", "refuse_url")

    def __init__(self, env: jinja2.Environment, site: Site, inliner: Inliner,
                 refuse_url: Callable[[str], str], cache_size: int = 512) -> None:
        """`refuse_url`: the friend's address -> the signed link with which they can
        refuse any more articles shared by readers."""
        self._env = env
        self._refuse_url = refuse_url
        self._site = site
        self._inliner = inliner
        self._css = load_stylesheet(env)
        self._cache: LruCache[tuple[str, str, bool], ShareDocs] = LruCache(cache_size)

    @property
    def compilations(self) -> int:
        return self._cache.misses

    def subject(self, article: Article) -> str:
        return f"Recommended to you: {article.title}"

    def render(self, article: Article, share: ShareRequest) -> RenderedEmail:
        return self._fill(article, self._compiled(article, bool(share.note)), share)

    def render_uncached(self, article: Article, share: ShareRequest) -> RenderedEmail:
        """Render and inline for every message: the baseline the benchmark compares to."""
        return self._fill(article, self._compile(article, bool(share.note)), share)

    def _fill(self, article: Article, docs: ShareDocs,
              share: ShareRequest) -> RenderedEmail:
        html_doc, text_doc = docs
        plain = {
            "sender_name": share.sender.name,
            "sender_email": share.sender.email,
            "friend_name": share.friend.name,
            "refuse_url": self._refuse_url(share.friend.email),
        }
        escaped = {key: html.escape(value) for key, value in plain.items()}
        return RenderedEmail(
            subject=self.subject(article),
            html=html_doc.fill({**escaped, "note": _html_note(share.note)}),
            text=text_doc.fill({**plain, "note": _text_note(share.note)}),
        )

    def _compiled(self, article: Article, has_note: bool) -> ShareDocs:
        return self._cache.get((article.id, article.version, has_note),
                               lambda: self._compile(article, has_note))

    def _compile(self, article: Article, has_note: bool) -> ShareDocs:
        context: dict[str, Any] = {
            "site": self._site, "article": article, "has_note": has_note,
            **{name: slot(name) for name in self.SLOTS},
        }
        html_doc = self._env.get_template("share.html").render(context)
        html_doc = inline_css(html_doc, self._css, self._inliner)
        text_doc = self._env.get_template("share.txt").render(context)
        return SlotTemplate.of(html_doc), SlotTemplate.of(text_doc)
