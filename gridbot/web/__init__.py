"""create_app(): the Flask application factory. Blueprints, one per concern, are listed in BLUEPRINTS."""
from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, current_app
from werkzeug.middleware.proxy_fix import ProxyFix

from ..bootstrap import Gridbot, build, set_current
from ..config import ConfigError, Settings
from ..privacy import configure_logging
from .converters import IdConverter

log = logging.getLogger(__name__)

# module path -> attribute holding the blueprint. Add a new concern here.
BLUEPRINTS = [
    ("gridbot.web.health", "bp"),
    ("gridbot.web.simulator", "bp"),
    ("gridbot.web.webhook", "bp"),
    ("gridbot.web.auth", "bp"),          # console sign-in (local accounts, WeCom OAuth)
    ("gridbot.web.console", "bp"),       # the web console /console/
    ("gridbot.web.api", "bp"),           # the JSON API /api/v1/
    ("gridbot.web.metrics", "bp"),       # /metrics (Prometheus)
    ("gridbot.web.toolbar", "bp"),       # the chat toolbar page /toolbar/ (customer groups, issue 16)
]


def create_app(test_config: dict[str, Any] | None = None, gridbot: Gridbot | None = None) -> Flask:
    """Build the web app. Production: gunicorn 'gridbot.web:create_app()'."""
    if gridbot is None:
        try:
            settings = Settings.from_env()
        except ConfigError as err:
            raise SystemExit(f"配置错误 (configuration error): {err}") from None
        configure_logging(settings.log_level)
        gridbot = build(settings)
    set_current(gridbot)
    if gridbot.journal is not None:   # callbacks a previous process kept while the database was down
        gridbot.journal.start()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=gridbot.settings.secret_key,
                      MAX_CONTENT_LENGTH=gridbot.settings.max_body_bytes,
                      JSON_AS_ASCII=False)
    if test_config:
        app.config.update(test_config)
    app.extensions["gridbot"] = gridbot
    if gridbot.settings.proxy_hops:
        hops = gridbot.settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]  # werkzeug's documented way to wrap
    app.url_map.converters["int"] = IdConverter   # <int:...> ids beyond the INTEGER columns are 404, not 500
    for module_path, attr in BLUEPRINTS:
        app.register_blueprint(getattr(importlib.import_module(module_path), attr))
    return app


def gridbot_app() -> Gridbot:
    """The Gridbot container of the current Flask app (the one entry create_app puts in app.extensions)."""
    gridbot: Gridbot = current_app.extensions["gridbot"]
    return gridbot
