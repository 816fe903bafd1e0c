"""The share e-mail: rendered and inlined once per (article version, with or without a
note), with slots where the names, the note and the friend's refusal link go; a message
is then a join of cached pieces and escaped values."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import jinja2

from mailer.articles.model import Article
from mailer.render import Inliner, Site, inline_css, load_stylesheet
from mailer.sending.message import RenderedEmail
from mailer.share.request import ShareRequest
from mailer.slots import LruCache, SlotTemplate, slot

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
            # A mail app's unsubscribe button: the friend's refusal of shared articles.
            list_unsubscribe=plain["refuse_url"],
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
