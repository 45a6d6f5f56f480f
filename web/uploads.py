"""Completions with files, for the API and the pages alike: one rule (a multipart request;
the files in parts named after their file fields), one size limit, one staging area."""
from __future__ import annotations

from flask import current_app, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge

from services.persistence.file_store import FileStore
from services.workflow.attachments import Download, Limits, Upload

MB = 1024 * 1024
# The requests that may carry files: completions, on the API and on the task page.
UPLOAD_ENDPOINTS = frozenset({"api.complete_task", "pages.task_page"})


def file_store() -> FileStore:
    return current_app.extensions["dutyflow_files"]


def limits() -> Limits:
    settings = current_app.config["DUTYFLOW_SETTINGS"]
    return Limits(int(settings.max_upload_mb * MB), settings.upload_types)


def allow_large_request() -> None:
    """A completion may carry files: its request may be up to DUTYFLOW_MAX_REQUEST_MB
    (Flask's MAX_CONTENT_LENGTH for this request; every other request keeps the app's).
    Installed before CSRF protection, which reads the form first."""
    if request.endpoint not in UPLOAD_ENDPOINTS:
        return
    settings = current_app.config["DUTYFLOW_SETTINGS"]
    request.max_content_length = int(settings.max_request_mb * MB)
    if request.content_length is not None and request.content_length > request.max_content_length:
        raise RequestEntityTooLarge(f"a request may carry at most {settings.max_request_mb:g} MB "
                                    f"(each file at most {settings.max_upload_mb:g} MB)")


def uploads() -> list[Upload]:
    """The files of a multipart request, in the order sent; a file input left empty (a
    part without a file name) is no file."""
    if request.mimetype != "multipart/form-data":
        return []
    return [Upload(field, part.filename, part.stream)
            for field, part in request.files.items(multi=True) if part.filename]


def send_attachment(found: Download):
    """The file's bytes as their content showed them; images inline, others as downloads.
    Private: only people who may see the task get it, so no shared cache may keep it."""
    response = send_file(found.stream, mimetype=found.media_type, download_name=found.name,
                         as_attachment=not found.media_type.startswith("image/"),
                         conditional=False)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
