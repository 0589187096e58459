"""gunicorn -c gunicorn.conf.py: production serving, every knob from the environment.

The values come from `app.core.config.Settings` (environment > .env > defaults) through
`app.core.serving.gunicorn_options`; the README's "Production serving" explains each one.
gunicorn executes this file again on SIGHUP, so a changed `.env` takes effect on reload.
"""

from app.core import serving
from app.core.config import get_settings

get_settings.cache_clear()  # a reload (SIGHUP) reads the environment and .env again
_settings = get_settings()
serving.metrics_folder.prepare(_settings)  # before anything imports prometheus_client

globals().update(serving.gunicorn_options(_settings))

on_starting = serving.on_starting
child_exit = serving.child_exit
on_exit = serving.on_exit
