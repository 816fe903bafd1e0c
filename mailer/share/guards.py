"""The share form's flood control: per client address, sender, friend, article and in
all, each quota from its setting (MAILER_SHARE_LIMIT_*), parsed once."""

from __future__ import annotations

import redis

from mailer.config import Settings
from mailer.limits.flood import FloodGate, mailbox_key
from mailer.limits.parsing import parse_quota
from mailer.share.request import ShareRequest


class ShareGuards:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._gate = FloodGate(client, "share")
        self._per_ip, self._per_sender, self._per_friend, self._per_article, self._total = (
            parse_quota(text) for text in (
                settings.share_limit_per_ip, settings.share_limit_per_sender,
                settings.share_limit_per_recipient, settings.share_limit_per_article,
                settings.share_limit_total))

    def check(self, share: ShareRequest, client_ip: str) -> None:
        """Takes one from each quota, or raises RateLimited (and takes none)."""
        self._gate.count_attempt([("ip", client_ip, self._per_ip),
                         ("from", mailbox_key(share.sender.email), self._per_sender),
                         ("to", mailbox_key(share.friend.email), self._per_friend),
                         ("article", share.article_id, self._per_article),
                         ("all", "", self._total)])
