"""Newsletters as data: what a site offers its readers and how often (model.py), and the
one table that holds them (store.py)."""
