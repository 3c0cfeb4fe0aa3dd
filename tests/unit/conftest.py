from __future__ import annotations

import pytest

from schemas.config_toml import load_config_data
from plugin.adapters.store import Store
from webhooks import create_app

SECRET = "unit-test-secret-0123456789"


def make_config(**sections):
    data = {"redmine": {"url": "http://redmine.test", "api_key": "bot-key"}, "webhook": {"secret": SECRET}}
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return load_config_data(data)


@pytest.fixture
def config():
    return make_config()


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    s.migrate()
    return s


@pytest.fixture
def app(config, store):
    app = create_app(config, store, configure_logs=False)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()
