"""gunicorn -c gunicorn.conf.py: production serving, every knob from the environment.

The values come from `app.core.config.Settings` (environment > .env > defaults) through
`app.serving.options.gunicorn_options`; docs/serving.md explains each one. A SIGHUP runs this
file again, so gunicorn's own options (workers, timeouts) follow a changed `.env`; the app is
preloaded in the master, so its settings and code change only when the master restarts.
"""

from app.core.config import get_settings
from app.serving import options

get_settings.cache_clear()  # a SIGHUP reads the environment and .env again
_settings = get_settings()
options.metrics_folder.prepare(_settings)  # before anything imports prometheus_client

globals().update(options.gunicorn_options(_settings))

on_starting = options.on_starting
child_exit = options.child_exit
on_exit = options.on_exit
