"""The InfoShare web service: `gunicorn "webhooks:create_app()"`.

Nothing happens at import time; `create_app` reads the configuration (from
`INFOSHARE_CONFIG` or ./config.toml unless one is passed) and opens the store.
"""

from __future__ import annotations

from flask import Flask

from plugin.adapters.config_file import load_config
from plugin.adapters.logs import configure_logging
from plugin.adapters.store import Store
from plugin.domain.configuration import Config
from webhooks import events, gate, health
from webhooks.errors import register_error_handlers


def create_app(config: Config | None = None, store: Store | None = None, *, configure_logs: bool = True) -> Flask:
    config = config or load_config()
    if configure_logs:
        configure_logging(config.service.log_level)
    store = store or Store(config.service.database_url)
    store.migrate()

    app = Flask("infoshare")
    app.config.update(
        MAX_CONTENT_LENGTH=config.service.max_body_bytes,
        INFOSHARE=config,
        INFOSHARE_STORE=store,
        INFOSHARE_AUDIT=store.audit,
    )
    register_error_handlers(app)
    app.register_blueprint(events.bp)
    app.register_blueprint(gate.bp)
    app.register_blueprint(health.bp)
    return app
