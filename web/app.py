"""The Flask application factory."""
from __future__ import annotations

from flask import Flask, jsonify

from services.settings import Settings
from services.unit_of_work import Store


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["DUTYFLOW_SETTINGS"] = settings
    app.extensions["dutyflow_store"] = store or Store(settings.database_url)

    @app.get("/healthz")
    def health():
        return jsonify(status="ok")

    return app
