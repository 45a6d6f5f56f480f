"""Signing in through the company's identity provider (OpenID Connect), and API tokens for
people who signed in that way and so have no password to exchange for one.

Authlib does the protocol: discovery, the authorization-code flow with state and nonce
kept in the session cookie, and the ID token's signature, issuer, audience and expiry
checks against the provider's published keys. What the verified claims are allowed to
mean is services.org.single_sign_on's rule.
"""
from __future__ import annotations

import datetime as dt

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from services.errors import NotAuthenticated, PermissionDenied
from services.identity.access import active_employee
from services.identity.auth import issue_token_for
from services.org import single_sign_on
from services.settings import Settings

from . import bp, page_actor, signed_in, start_session, store
from .redirects import safe_next

EXTENSION = "dutyflow_sign_on"


def init_single_sign_on(app: Flask, settings: Settings) -> None:
    """Register the provider when DUTYFLOW_OIDC_ISSUER is set (a bad role map stops start-up)."""
    if not settings.oidc_issuer:
        return
    try:
        group_roles = (single_sign_on.parse_group_roles(settings.oidc_group_roles)
                       if settings.oidc_group_roles else None)
    except ValueError as err:
        raise RuntimeError(f"DUTYFLOW_OIDC_GROUP_ROLES: {err}") from None
    oauth = OAuth(app)
    provider = oauth.register(
        "company", client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile email"})
    app.extensions[EXTENSION] = (provider, single_sign_on.ClaimRules(
        settings.oidc_username_claim, settings.oidc_groups_claim, group_roles))


def sign_on_enabled() -> bool:
    return EXTENSION in current_app.extensions


@bp.app_context_processor
def sign_on_globals() -> dict:
    return {"sign_on_enabled": sign_on_enabled}


@bp.get("/sign-in/sso")
def sign_on():
    if not sign_on_enabled():
        abort(404)
    provider, _rules = current_app.extensions[EXTENSION]
    session["sign_on_next"] = safe_next(request.args.get("next"))
    return provider.authorize_redirect(url_for("pages.sign_on_callback", _external=True))


@bp.get("/sign-in/sso/callback")
def sign_on_callback():
    if not sign_on_enabled():
        abort(404)
    provider, rules = current_app.extensions[EXTENSION]
    try:
        token = provider.authorize_access_token()
        claims = token.get("userinfo") or provider.userinfo(token=token)
        with store().writing() as uow:
            employee = single_sign_on.sign_in(uow, claims, rules)
            username, version = employee.username, employee.credential_version
    except OAuthError as err:
        return _refused(_("The identity provider did not sign you in: %(why)s",
                          why=err.description or err.error), 401)
    except (NotAuthenticated, PermissionDenied) as err:
        return _refused(_("Signed in at the identity provider, but not here: %(why)s",
                          why=str(err)), 403)
    next_page = session.pop("sign_on_next", None)
    start_session(username, version)
    return redirect(next_page or url_for("pages.inbox"))


def _refused(message: str, status: int):
    session.pop("sign_on_next", None)
    return render_template("sign_in.html", error=message), status


@bp.post("/account/api-token")
@signed_in
def create_api_token():
    """A bearer token for the signed-in person, shown once (only its hash is kept)."""
    ttl = dt.timedelta(hours=current_app.config["DUTYFLOW_SETTINGS"].token_ttl_hours)
    with store().writing() as uow:
        token, expires_at = issue_token_for(uow, active_employee(uow, page_actor().username), ttl)
    return render_template("api_token.html", token=token, expires_at=expires_at)
