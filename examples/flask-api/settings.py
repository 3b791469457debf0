"""The app's settings, from environment variables, checked at start: a
missing or malformed one stops the app with a message naming it and an
example, before it serves anything."""

import os
from dataclasses import dataclass
from urllib.parse import urlsplit


class ConfigError(Exception):
    def __init__(self, name, problem):
        super().__init__(f"{name}: {problem}")


@dataclass(frozen=True)
class Settings:
    # Whether the app checks the forwarded handoff token itself.
    verify_assertion: bool
    # The login service's URL: the tokens' issuer (`AUTH_URL`, as the gate).
    auth_url: str | None
    # This app's public origin, the gate's `APP_URL`: the tokens' audience.
    app_url: str | None
    # Where the login service's keys are fetched (default: AUTH_URL's
    # /.well-known/jwks.json; a test or a private network may point it
    # elsewhere).
    jwks_url: str | None
    # The identity header names, as the gate is configured (the same
    # variables: IDENTITY_EMAIL_HEADER, IDENTITY_USER_HEADER, ASSERTION_HEADER).
    email_header: str
    user_header: str
    assertion_header: str


def origin(name, value, example):
    """`value` if it is an http(s) origin without path, query or fragment."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(name, f"must be an http(s) URL, e.g. {example}; got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(name, f"must be an origin without a path, e.g. {example}")
    return f"{parts.scheme}://{parts.netloc}"


def required(env, name, example):
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(name, f"is not set (e.g. {example}); or set VERIFY_ASSERTION=off")
    return value


def from_env(env=None):
    env = os.environ if env is None else env
    switch = env.get("VERIFY_ASSERTION", "on").strip().lower()
    if switch not in ("on", "off"):
        raise ConfigError("VERIFY_ASSERTION", f"expected on or off, got {switch!r}")
    verify = switch == "on"
    auth_url = app_url = jwks_url = None
    if verify:
        auth_url = origin(
            "AUTH_URL",
            required(env, "AUTH_URL", "https://auth.example.com"),
            "https://auth.example.com",
        )
        app_url = origin(
            "APP_URL",
            required(env, "APP_URL", "https://app.example.com"),
            "https://app.example.com",
        )
        jwks_url = env.get("AUTH_JWKS_URL", "").strip() or f"{auth_url}/.well-known/jwks.json"
        if urlsplit(jwks_url).scheme not in ("http", "https"):
            raise ConfigError(
                "AUTH_JWKS_URL",
                "must be an http(s) URL, e.g. https://auth.example.com/.well-known/jwks.json",
            )
    return Settings(
        verify_assertion=verify,
        auth_url=auth_url,
        app_url=app_url,
        jwks_url=jwks_url,
        email_header=header(env, "IDENTITY_EMAIL_HEADER", "X-Forwarded-Email"),
        user_header=header(env, "IDENTITY_USER_HEADER", "X-Forwarded-User"),
        assertion_header=header(env, "ASSERTION_HEADER", "X-Handoff-Assertion"),
    )


def header(env, name, default):
    value = env.get(name, default).strip()
    if not value or not all(c.isalnum() or c == "-" for c in value):
        raise ConfigError(name, f"must be a header name, e.g. {default}")
    return value
