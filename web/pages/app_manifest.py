"""The web app manifest: staff add DutyFlow to a phone's home screen and it opens on their
inbox, full screen. Browsers fetch it without cookies, so it is public (it holds nothing
but names and icon addresses); the icons are PNG files in static/icons/ (web/icons.py)."""
from __future__ import annotations

from flask import jsonify, url_for
from flask_babel import gettext as _

from ..icons import SIZES
from . import bp


@bp.get("/manifest.webmanifest")
def web_app_manifest():
    icons = []
    for name, (size, full_bleed) in SIZES.items():
        if name.startswith("apple-"):
            continue  # Apple reads <link rel="apple-touch-icon"> instead
        icons.append({"src": url_for("static", filename=f"icons/{name}"), "type": "image/png",
                      "sizes": f"{size}x{size}", "purpose": "maskable" if full_bleed else "any"})
    response = jsonify({"name": "DutyFlow", "short_name": "DutyFlow",
                        "description": _("Your department's duties, on your phone."),
                        "start_url": url_for("pages.inbox"), "scope": "/", "display": "standalone",
                        "background_color": "#f5f7fa", "theme_color": "#0b69a3", "icons": icons})
    response.mimetype = "application/manifest+json"
    return response
