"""Where to go after a form: only a path on this site, never an open redirect.

Browsers forgive a lot in a Location header: they drop tabs and newlines, read `\\`
as `/` and so take `/\\evil.example` or `/<TAB>/evil.example` for `//evil.example`, a
link to another host. So a target is accepted only when it is plainly a path, however
many times it is percent-decoded; anything doubtful goes to the inbox.
"""
from __future__ import annotations

import unicodedata
from urllib.parse import unquote, urlsplit

from flask import url_for

_MAX_DECODINGS = 5  # a path percent-encoded deeper than this is not a link anyone made


def safe_next(target: str | None) -> str:
    """`target` when it is a same-site path, otherwise the inbox."""
    if target and same_site_path(target):
        return target
    return url_for("pages.inbox")


def same_site_path(target: str) -> bool:
    decoded = target
    for _ in range(_MAX_DECODINGS):
        if not _plain_path(decoded):
            return False
        once_more = unquote(decoded)
        if once_more == decoded:
            return True
        decoded = once_more
    return False


def _plain_path(text: str) -> bool:
    """Starts with exactly one `/`, and holds no backslash, whitespace, control or
    invisible formatting character, nor a scheme or host."""
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return False
    if any(char.isspace() or unicodedata.category(char) in ("Cc", "Cf") for char in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc
