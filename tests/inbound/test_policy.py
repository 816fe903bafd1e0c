"""`OUTCOMES` lists every (type, action) the feedback policy can answer: /metrics
exports each from 0, so one it missed would appear from nothing, unseen by rate()."""

from __future__ import annotations

import itertools
from typing import get_args

from mailer.inbound.policy import OUTCOMES, TokenState, decide
from mailer.inbound.report import FeedbackType


def test_every_answer_of_the_policy_is_listed() -> None:
    answers = {(kind, decide(kind, token, hard=hard, blames_us=blames, soft_streak=streak,
                             soft_limit=3).action)
               for kind, token, hard, blames, streak in itertools.product(
                   get_args(FeedbackType), get_args(TokenState), (False, True), (False, True),
                   (1, 3))}
    assert answers == set(OUTCOMES)
