"""Celery entry point: `celery -A worker worker -Q share` finds `app` here.

Settings are read here, once, from MAILER_* variables; a bad one stops the worker with
one line naming it.
"""

from __future__ import annotations

import sys

from celery.signals import worker_process_shutdown

from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.services import make_signer
from worker.factory import create_celery
from worker.process_services import shut_down_services

try:
    _settings = load_settings()
    _settings.check_secrets()
    make_signer(_settings)  # a DKIM key that cannot be read stops the worker here
except ConfigError as exc:
    sys.stderr.write(f"error: {exc}\n")
    raise SystemExit(2) from None

app = create_celery(_settings)
worker_process_shutdown.connect(lambda **_: shut_down_services(app), weak=False)
