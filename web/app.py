"""The Flask application factory."""
from __future__ import annotations

import secrets

from flask import Flask, jsonify

from services.persistence.file_store import FileStore
from services.persistence.unit_of_work import Store
from services.settings import Settings

from .csrf import init_csrf
from .errors import register_error_handlers
from .i18n import init_i18n
from .metrics import init_metrics
from .notifications import catalogs
from .pages.single_sign_on import init_single_sign_on
from .outage import install as install_outage_handling
from .rate_limits import init_rate_limits
from .request_id import init_request_ids
from .security_headers import init_security_headers
from .sessions import PageSessions
from .uploads import allow_large_request


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["DUTYFLOW_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024
    app.json.ensure_ascii = False
    app.extensions["dutyflow_store"] = store or Store(settings.database_url)
    app.extensions["dutyflow_catalogs"] = catalogs()
    app.extensions["dutyflow_files"] = FileStore(settings.files_dir, settings.files_in_database)

    app.config["SECRET_KEY"] = settings.secret_key or secrets.token_urlsafe(32)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = PageSessions()
    init_request_ids(app)
    init_metrics(app, settings.metrics_token)
    init_security_headers(app, settings)
    app.config["BABEL_DEFAULT_TIMEZONE"] = settings.timezone
    init_i18n(app)

    from .api import bp as api
    from .assets import bp as vendor
    from .pages import bp as pages
    app.register_blueprint(api)
    app.register_blueprint(vendor)
    app.register_blueprint(pages)
    app.before_request(allow_large_request)  # before CSRF protection reads the form
    init_csrf(app, api)
    init_single_sign_on(app, settings)
    init_rate_limits(app, settings)
    register_error_handlers(app)
    install_outage_handling(app)  # 503 while the database is out of reach, and /readyz

    @app.get("/healthz")
    def health():
        """Liveness: the process answers; it asks the database nothing (that is /readyz)."""
        return jsonify(status="ok")

    return app
