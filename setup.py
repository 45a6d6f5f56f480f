"""Build step: put what npm and Babel produce into the `web` package, so a wheel carries it.

Metadata lives in setup.cfg; this file only adds the step. Before the modules are
built, the few files of the npm packages (bpmn-js, Chart.js, form-js's viewer) that the pages load are
copied from node_modules/ into web/vendor/ under the names the pages ask for, and the
translation catalogues are compiled to .mo. It runs for every build, editable installs
(`make install`) included, so a checkout and an installed wheel serve the same files
from the same package folder and neither ever reaches into node_modules at run time.

An sdist has no node_modules: the sdist step copies the files first and MANIFEST.in
takes web/vendor/ along, so `python -m build` (sdist, then a wheel from it) works too.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "web" / "vendor"
TRANSLATIONS = ROOT / "web" / "translations"

# Name under /vendor/ -> file in node_modules.
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
    "form-viewer.js": "@bpmn-io/form-js/dist/form-viewer.umd.js",
    "form-js.css": "@bpmn-io/form-js/dist/assets/form-js.css",
}


def copy_vendor_files() -> None:
    """Fail the build rather than ship pages whose diagrams and charts cannot load."""
    if not NODE_MODULES.exists() and all((VENDOR / name).is_file() for name in VENDOR_FILES):
        return  # building from an sdist, which carries them
    missing = [path for path in VENDOR_FILES.values() if not (NODE_MODULES / path).is_file()]
    if missing:
        raise SystemExit(f"node_modules/{missing[0]} is missing: run `npm ci` first")
    shutil.rmtree(VENDOR, ignore_errors=True)  # nothing stale or unlisted stays reachable
    for name, path in VENDOR_FILES.items():
        target = VENDOR / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NODE_MODULES / path, target)


def compile_catalogs() -> None:
    """The .mo files are build output (not in git), as `pybabel compile --use-fuzzy` makes them."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for source in TRANSLATIONS.glob("*/LC_MESSAGES/*.po"):
        with source.open("rb") as po:
            catalog = read_po(po)
        with source.with_suffix(".mo").open("wb") as mo:
            write_mo(mo, catalog, use_fuzzy=True)


class BuildWithAssets(build_py):
    def run(self) -> None:
        copy_vendor_files()
        compile_catalogs()
        super().run()


class SdistWithAssets(sdist):
    def run(self) -> None:
        copy_vendor_files()
        super().run()


setup(cmdclass={"build_py": BuildWithAssets, "sdist": SdistWithAssets})
