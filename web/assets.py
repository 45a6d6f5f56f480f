"""Front-end packages served from the project's own npm install (never a CDN).

Only the listed files are reachable: `node_modules` is not exposed wholesale.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, send_from_directory

NODE_MODULES = Path(__file__).resolve().parent.parent / "node_modules"
VENDOR_FILES = {
    "bpmn-viewer.js": "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-modeler.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-js.css": "bpmn-js/dist/assets/bpmn-js.css",
    "diagram-js.css": "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-font/css/bpmn.css": "bpmn-js/dist/assets/bpmn-font/css/bpmn.css",
    "bpmn-font/font/bpmn.woff2": "bpmn-js/dist/assets/bpmn-font/font/bpmn.woff2",
    "bpmn-font/font/bpmn.woff": "bpmn-js/dist/assets/bpmn-font/font/bpmn.woff",
    "bpmn-font/font/bpmn.ttf": "bpmn-js/dist/assets/bpmn-font/font/bpmn.ttf",
    "chart.js": "chart.js/dist/chart.umd.min.js",
}

bp = Blueprint("vendor", __name__, url_prefix="/vendor")


@bp.get("/<path:name>")
def vendor_file(name: str):
    relative = VENDOR_FILES.get(name)
    if relative is None or not (NODE_MODULES / relative).is_file():
        abort(404)
    target = NODE_MODULES / relative
    return send_from_directory(target.parent, target.name, max_age=86400)
