"""Attached files, stored once per content: keyed by SHA-256, on disk or in the database.

A file joins a completion in three moves, so that a completion that fails stores nothing:

1. `Staging.add` streams the upload into the temp area (`<files dir>/tmp/`; in memory when
   files are kept in the database), hashing it, stopping at the size limit, and telling its
   media type from its first bytes (never from its name). Images get a thumbnail here.
2. `Staging.record` writes the `file_blobs` row (an existing one, from an earlier upload of
   the same content, is kept: identical files are stored once) in the completion's own
   transaction; with files in the database the bytes travel in that row.
3. After the commit, `Staging.publish` renames each temp file to `<files dir>/ab/<sha256>`
   (same file system, so the rename is atomic). If the completion fails, `Staging.discard`
   deletes the temp files instead, and the rolled-back transaction took the rows along.

A process killed between the commit and the rename leaves a temp file whose row exists:
`sweep` (run by `dutyflow worker` and `dutyflow files sweep`) renames it into place, and
deletes temp files older than an hour that no committed row names (failed completions
whose process died before discarding them).
"""
from __future__ import annotations

import hashlib
import io
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.persistence.models import FileBlob, utcnow
from services.persistence.unit_of_work import UnitOfWork

CHUNK = 1024 * 1024
THUMBNAIL_PIXELS = 320
# More than a phone photo has (cameras store 12 to 108 MP); beyond it an image is refused
# before it is decoded, however small its file (a "decompression bomb").
MAX_PIXELS = 120_000_000
ORPHAN_AGE_SECONDS = 3600
# Media types told by their first bytes: (type, offset, signature).
_SIGNATURES = (
    ("image/jpeg", 0, b"\xff\xd8\xff"),
    ("image/png", 0, b"\x89PNG\r\n\x1a\n"),
    ("image/gif", 0, b"GIF87a"),
    ("image/gif", 0, b"GIF89a"),
    ("image/bmp", 0, b"BM"),
    ("image/tiff", 0, b"II*\x00"),
    ("image/tiff", 0, b"MM\x00*"),
    ("application/pdf", 0, b"%PDF-"),
    ("application/zip", 0, b"PK\x03\x04"),
)
_HEIF_BRANDS = {b"heic": "image/heic", b"heix": "image/heic", b"hevc": "image/heic",
                b"mif1": "image/heif", b"msf1": "image/heif", b"avif": "image/avif"}
# Every media type a stored file can have (the downloads' content types).
MEDIA_TYPES = tuple(dict.fromkeys([*(media_type for media_type, _, _ in _SIGNATURES),
                                   "image/webp", *_HEIF_BRANDS.values(),
                                   "application/octet-stream"]))
# Images Pillow reads without plug-ins: these get thumbnails, and must decode to be accepted.
THUMBNAILED = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff")


def sniff(head: bytes) -> str:
    """The media type the content's first bytes show; application/octet-stream if unknown."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return _HEIF_BRANDS[head[8:12]]
    for media_type, offset, signature in _SIGNATURES:
        if head[offset:offset + len(signature)] == signature:
            return media_type
    return "application/octet-stream"


class FileTooLarge(Exception):
    """The upload passed the size limit; reading stopped there."""


class UnreadableImage(Exception):
    """The content starts like an image but does not decode as one."""


def thumbnail(source: BinaryIO) -> bytes:
    """A JPEG at most THUMBNAIL_PIXELS on its longer side, turned upright as the camera held
    it (EXIF orientation). Decompression bombs (Pillow's pixel limit) are unreadable."""
    from PIL import Image, ImageOps

    try:
        with Image.open(source) as image:  # reads the header only
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UnreadableImage(f"{width}x{height} pixels is more than a photo has")
            image.draft("RGB", (THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))  # JPEG: decode scaled down
            image = ImageOps.exif_transpose(image)
            image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
            if image.mode not in ("RGB", "L"):
                image = image.convert("RGBA")
                background = Image.new("RGB", image.size, "white")
                background.paste(image, mask=image.getchannel("A"))
                image = background
            out = io.BytesIO()
            image.save(out, "JPEG", quality=80)
            return out.getvalue()
    except UnreadableImage:
        raise
    except Exception as err:  # Pillow raises many kinds for broken or hostile input
        raise UnreadableImage(str(err) or type(err).__name__) from None


@dataclass
class StagedFile:
    sha256: str
    size: int
    media_type: str
    thumbnail: bytes | None
    temp_path: Path | None = None  # on disk, until published or discarded
    content: bytes | None = None  # files in the database


@dataclass
class Staging:
    """The files of one request, from upload to published (or discarded)."""

    store: "FileStore"
    files: list[StagedFile] = field(default_factory=list)

    def add(self, stream: BinaryIO, limit: int) -> StagedFile:
        """Read an upload to its end (at most `limit` bytes, else FileTooLarge), hashing it
        on the way; raises UnreadableImage for an image that does not decode."""
        digest, size, head = hashlib.sha256(), 0, b""
        buffer = io.BytesIO() if self.store.in_database else None
        if buffer is None:
            self.store.temp_dir.mkdir(parents=True, exist_ok=True)
        temp = None if buffer is not None else self.store.temp_dir / f"{secrets.token_hex(16)}.part"
        sink = buffer if buffer is not None else open(temp, "wb")
        try:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise FileTooLarge()
                if len(head) < 64:
                    head += chunk[:64 - len(head)]
                digest.update(chunk)
                sink.write(chunk)
            if temp is not None:
                sink.flush()
                os.fsync(sink.fileno())
        except BaseException:
            if temp is not None:
                sink.close()
                temp.unlink(missing_ok=True)
            raise
        finally:
            if temp is not None:
                sink.close()
        sha256 = digest.hexdigest()
        media_type = sniff(head)
        staged = StagedFile(sha256, size, media_type, None)
        if temp is not None:
            # Named by content, so a sweep can tell whether a committed row wants it.
            staged.temp_path = temp.with_name(f"{sha256}.{temp.name}")
            temp.rename(staged.temp_path)
        else:
            staged.content = buffer.getvalue()
        self.files.append(staged)
        if media_type in THUMBNAILED:
            if staged.content is not None:
                staged.thumbnail = thumbnail(io.BytesIO(staged.content))
            else:
                with open(staged.temp_path, "rb") as image:
                    staged.thumbnail = thumbnail(image)
        return staged

    def record(self, uow: UnitOfWork, files: list[StagedFile]) -> None:
        """The blob rows of `files`, in the caller's transaction; existing rows stay."""
        rows = {f.sha256: dict(sha256=f.sha256, size=f.size, media_type=f.media_type,
                               in_database=f.content is not None, content=f.content,
                               thumbnail=f.thumbnail, created_at=utcnow()) for f in files}
        if not rows:
            return
        dialect = uow.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        uow.core(insert(FileBlob.__table__).on_conflict_do_nothing(index_elements=["sha256"]),
                 list(rows.values()))

    def publish(self) -> None:
        """After the commit: every staged file into its place (kept once per content)."""
        for staged in self.files:
            if staged.temp_path is not None:
                self.store.place(staged.temp_path, staged.sha256)
                staged.temp_path = None
        self.files.clear()

    def discard(self) -> None:
        for staged in self.files:
            if staged.temp_path is not None:
                staged.temp_path.unlink(missing_ok=True)
        self.files.clear()

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Published when the block (holding the commit) ends normally, else discarded."""
        if exc_type is None:
            self.publish()
        else:
            self.discard()


class FileStore:
    """The files of one deployment: under `directory`, or (`in_database`) in file_blobs."""

    def __init__(self, directory: str | Path, in_database: bool = False):
        self.directory = Path(directory)
        self.in_database = in_database
        self.temp_dir = self.directory / "tmp"

    def staging(self) -> Staging:
        return Staging(self)

    def path_of(self, sha256: str) -> Path:
        return self.directory / sha256[:2] / sha256

    def place(self, temp: Path, sha256: str) -> None:
        target = self.path_of(sha256)
        if target.exists():
            temp.unlink(missing_ok=True)  # the same content, stored before
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, target)

    def open(self, uow: UnitOfWork, sha256: str) -> tuple[FileBlob, BinaryIO]:
        """The blob row and a stream of its bytes; FileNotFoundError if there is neither."""
        blob = uow.session.get(FileBlob, sha256)
        if blob is None:
            raise FileNotFoundError(sha256)
        if blob.in_database:
            return blob, io.BytesIO(blob.content or b"")
        return blob, open(self.path_of(sha256), "rb")

    def sweep(self, uow: UnitOfWork, now: float | None = None) -> dict[str, int]:
        """Finish renames a killed process left undone; delete old temp files no committed
        row names. Returns how many of each."""
        done = {"placed": 0, "deleted": 0}
        if self.in_database or not self.temp_dir.exists():
            return done
        now = time.time() if now is None else now
        temps = [path for path in self.temp_dir.iterdir() if path.name.endswith(".part")]
        named = {path.name.split(".", 1)[0] for path in temps}
        committed = set(uow.session.scalars(select(FileBlob.sha256).where(
            FileBlob.sha256.in_(named), FileBlob.in_database.is_(False)))) if named else set()
        for path in temps:
            sha256 = path.name.split(".", 1)[0]
            try:
                old = now - path.stat().st_mtime > ORPHAN_AGE_SECONDS
            except FileNotFoundError:
                continue  # published or discarded meanwhile
            if sha256 in committed and old:
                self.place(path, sha256)
                done["placed"] += 1
            elif old:
                path.unlink(missing_ok=True)
                done["deleted"] += 1
        return done
