"""The wheel runs: built from the sources alone, installed into a fresh virtualenv and used
from a folder outside the checkout, so nothing may be found next to the source tree.

`python -m build` makes an sdist from a copy of what a clone holds (tracked and new files,
nothing git ignores), then the wheel from that sdist alone: the build step must produce
web/vendor/ and the .mo catalogues, and the sdist must carry what the wheel needs.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.serving import free_port, wait_until_healthy
from tests.web.test_serve import call

pytestmark = pytest.mark.slow


def _run(command: list, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _clone_sources(target: Path) -> None:
    """The checkout as a clone would have it, plus node_modules (`npm ci` ran: `make install`)."""
    listed = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is gone
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "node_modules").symlink_to(ROOT / "node_modules")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(venv bin folder, working folder, environment) with the wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    sources, dist, venv, work = (base / name for name in ("src", "dist", "venv", "work"))
    _clone_sources(sources)
    _run([sys.executable, "-m", "build", "--outdir", dist, sources], base)
    assert len(list(dist.glob("*.tar.gz"))) == 1
    _run([sys.executable, "-m", "venv", venv], base)
    bin_dir = venv / "bin"
    _run([bin_dir / "python", "-m", "pip", "install", "--quiet", *dist.glob("*.whl")], base)
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', os.defpath)}",
               DATABASE_URL=f"sqlite:///{work / 'dutyflow.db'}")
    return bin_dir, work, env


def test_installed_wheel_runs_the_commands_and_serves_the_demo(installed):
    bin_dir, work, env = installed
    where = _run([bin_dir / "python", "-c", "import bpmn, migrations, web; "
                  "print(web.__file__, bpmn.__file__, migrations.__file__)"], work, env)
    assert all(path.startswith(str(bin_dir.parent)) for path in where.split()), where
    shipped = Path(_run([bin_dir / "python", "-c", "from importlib.resources import files; "
                         "print(files('bpmn'))"], work, env).strip())

    assert "database ready" in _run([bin_dir / "dutyflow", "init-db"], work, env)
    assert "34 created" in _run([bin_dir / "dutyflow", "org", "import",
                                 shipped / "demo_org.yaml"], work, env)
    assert "deployed inbound_materials v1" in _run(
        [bin_dir / "dutyflow", "deploy", shipped / "inbound_materials.bpmn"], work, env)

    port = free_port()
    process = subprocess.Popen([bin_dir / "dutyflow", "serve", "--demo", "--port", str(port)],
                               cwd=work, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, seconds=120)
        status, body = call(base, "POST", "/api/v1/auth/token",
                            {"username": "zhang.proc", "password": "demo"})
        assert status == 200
        status, tasks = call(base, "GET", "/api/v1/tasks", token=body["token"])
        tasks = [task for task in tasks if task["element_id"] == "register_delivery"]
        assert status == 200 and tasks
        status, result = call(base, "POST", f"/api/v1/tasks/{tasks[0]['id']}/complete",
                              {"data": {"supplier": "S", "material": "M", "quantity": 1}},
                              body["token"])
        assert status == 200 and result["tasks"][0]["department"] == "qa"
        for path in ("/vendor/bpmn-viewer.js", "/vendor/chart.js", "/static/app.css",
                     "/static/icons/icon-512.png", "/manifest.webmanifest"):
            with urllib.request.urlopen(base + path, timeout=30) as response:
                assert response.status == 200 and response.read()
        chinese = urllib.request.Request(base + "/sign-in", headers={"Accept-Language": "zh"})
        with urllib.request.urlopen(chinese, timeout=30) as response:
            assert "登录" in response.read().decode("utf-8")
    finally:
        process.terminate()
        process.wait(timeout=30)
