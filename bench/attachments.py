"""What a photo costs a completion, measured in one run.

Two paths complete QA inspections of inbound_materials through Flask's test client (token
check, the route's unit of work, no socket), interleaved request by request so machine
noise hits both alike, each on its own database and files folder:

- json: `POST /api/v1/tasks/{id}/complete` with the form data as JSON;
- photo: the same as multipart/form-data with one 4000x3000 JPEG (a 12 MP phone photo,
  a few MB), every request a different photo: streamed into the temp area, hashed,
  sniffed, thumbnailed, its rows in the completion's transaction, moved into place after
  the commit.

Prints the p50 and p95 of each and their ratio, and the photo path's throughput in MB/s.

    .venv/bin/python bench/attachments.py [--backend sqlite|postgresql] [--requests 40]
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import load_org_and_diagrams, ms, percentile, temporary_database  # noqa: E402
from PIL import Image  # noqa: E402

from services.identity.access import actor_named  # noqa: E402
from services.persistence.unit_of_work import Store  # noqa: E402
from services.settings import Settings  # noqa: E402
from services.workflow import instances  # noqa: E402
from tests.services.helpers import DELIVERY, PASS, ready_task  # noqa: E402
from web.app import create_app  # noqa: E402


def photo(number: int) -> bytes:
    """A 12 MP JPEG of a few MB (noise, smoothed by scaling up), different each time."""
    noise = random.Random(number).randbytes(1000 * 750 * 3)
    image = Image.frombytes("RGB", (1000, 750), noise).resize((4000, 3000), Image.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


class Path_:
    def __init__(self, url: str, files_dir: str, count: int):
        self.store = Store(url)
        load_org_and_diagrams(self.store)
        self.tasks = []
        for _ in range(count):
            with self.store.writing() as uow:
                instance_id = instances.start_process(uow, "inbound_materials", None, "bench").id
            register = ready_task(self.store, instance_id, "register_delivery")
            with self.store.writing() as uow:
                instances.complete_task(uow, actor_named(uow, "zhang.proc"), register.id,
                                        DELIVERY)
            self.tasks.append(ready_task(self.store, instance_id, "inspect_goods").id)
        app = create_app(Settings(url, files_dir=files_dir, secret_key="bench"), store=self.store)
        self.client = app.test_client()
        token = self.client.post("/api/v1/auth/token",
                                 json={"username": "li.qa", "password": "demo"}).json["token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.timings: list[float] = []

    def complete(self, content: bytes | None) -> None:
        task_id = self.tasks.pop()
        path = f"/api/v1/tasks/{task_id}/complete"
        started = time.perf_counter()
        if content is None:
            response = self.client.post(path, headers=self.headers, json={"data": PASS})
        else:
            response = self.client.post(path, headers=self.headers,
                                        content_type="multipart/form-data",
                                        data={"data": json.dumps(PASS),
                                              "photos": (io.BytesIO(content), "goods.jpg")})
        self.timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    warmup = 3
    count = args.requests + warmup
    photos = [photo(number) for number in range(count)]
    with temporary_database(args.backend) as json_url, \
            temporary_database(args.backend) as photo_url, \
            tempfile.TemporaryDirectory() as json_files, \
            tempfile.TemporaryDirectory() as photo_files:
        plain, with_photo = Path_(json_url, json_files, count), Path_(photo_url, photo_files, count)
        for number in range(count):
            order = [(plain, None), (with_photo, photos[number])]
            for path, content in (order if number % 2 else order[::-1]):
                path.complete(content)
        for path in (plain, with_photo):
            del path.timings[:warmup]
        size = sum(len(content) for content in photos[warmup:]) / args.requests / 1e6
        p50 = {name: percentile(path.timings, 50) for name, path in
               (("json", plain), ("photo", with_photo))}
        print(f"backend {args.backend}, {args.requests} completions per path, photo "
              f"{size:.1f} MB (12 MP JPEG)")
        for name, path in (("json", plain), ("photo", with_photo)):
            print(f"  {name:6} p50 {ms(p50[name])}  p95 {ms(percentile(path.timings, 95))}")
        print(f"  photo / json p50: {p50['photo'] / p50['json']:.2f}x; "
              f"{size / p50['photo']:.0f} MB/s of photo per completion")
        for path in (plain, with_photo):
            path.store.dispose()


if __name__ == "__main__":
    main()
