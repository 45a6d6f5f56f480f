"""The Flask application factory."""
from __future__ import annotations

from flask import Flask, jsonify

from services.settings import Settings
from services.unit_of_work import Store

from .errors import register_error_handlers


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["DUTYFLOW_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.json.ensure_ascii = False
    app.extensions["dutyflow_store"] = store or Store(settings.database_url)

    from .api import bp as api
    app.register_blueprint(api)
    register_error_handlers(app)

    @app.get("/healthz")
    def health():
        return jsonify(status="ok")

    return app
