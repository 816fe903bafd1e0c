"""Share-to-friend and daily digest e-mail for news sites.

The library: nothing in this package imports Celery; the worker package wires it in.
"""
