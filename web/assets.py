"""Front-end packages from npm (bpmn-js, Chart.js), served from our own origin (never a CDN).

The build (setup.py) copies just the files the pages load from node_modules into this
package's vendor/ folder, so an installed wheel serves them as a checkout does, and
nothing else of node_modules is reachable.
"""
from __future__ import annotations

from importlib.resources import files

from flask import Blueprint, send_from_directory

VENDOR = files(__package__) / "vendor"

bp = Blueprint("vendor", __name__, url_prefix="/vendor")


@bp.get("/<path:name>")
def vendor_file(name: str):
    """404 for anything not copied in (send_from_directory refuses paths leaving the folder)."""
    return send_from_directory(VENDOR, name, max_age=86400)
