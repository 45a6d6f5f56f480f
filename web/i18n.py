"""English and Simplified Chinese: chosen from Accept-Language, overridable by a switch."""
from __future__ import annotations

from flask import Flask, request, session
from flask_babel import Babel

LANGUAGES = {"en": "English", "zh": "简体中文"}


def select_locale() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(LANGUAGES)) or "en"


def init_i18n(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_locale"] = select_locale
