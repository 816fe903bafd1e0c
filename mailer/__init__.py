"""Share-to-friend and daily digest e-mail for news sites.

The library: nothing in this package imports Celery; the worker package wires it in.
"""

from importlib import metadata


def version() -> str:
    """The installed package's version, read in this one place (CLI, API, docs)."""
    try:
        return metadata.version("newsmailer")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
