"""Celery side: the app factory, thin tasks, the producer. `celery -A worker ...` loads
worker.celery, which reads the settings and builds the app."""
