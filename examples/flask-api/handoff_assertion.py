"""Checks the handoff token the gate forwards in ``X-Handoff-Assertion``.

The gate has verified it already; an app that checks it again does not
depend on the gate being the only way in (defence in depth, as Google
IAP's ``X-Goog-IAP-JWT-Assertion``). The checks are the ones
``handoff-guard``'s verifier makes: ES256 only, a ``kid`` that names a key
of the login service's JWKS, ``iss`` the login service's URL, ``aud`` this
app's origin, ``sub``, ``exp`` and ``nbf`` present and ``exp``/``nbf`` met
with 30 seconds of leeway.

Run as ``python handoff_assertion.py`` it reads ``{"issuer", "audience",
"jwks_url", "tokens": {name: token}}`` on stdin and prints, for each name,
``accepted <sub>`` or ``refused <reason>``: the tests feed it tokens.
"""

import json
import sys

import jwt

# What the login service signs with, and nothing else: a header naming
# another algorithm (none, HS256 keyed with the public key) is refused
# before any key is looked at.
ALGORITHM = "ES256"
# Clock skew tolerated between the login service and the app.
LEEWAY_SECONDS = 30
# Tokens longer than this are refused before parsing (as the Rust side).
MAX_TOKEN_LEN = 4096
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf"]


class AssertionRefused(Exception):
    """The token does not verify; the message names why, quoting nothing
    of the token, so it may be logged."""


class AssertionVerifier:
    """Verifies handoff tokens for one app; make one at start and share it
    (it caches the login service's keys)."""

    def __init__(self, issuer, audience, jwks_url, timeout_seconds=5):
        self.issuer = issuer
        self.audience = audience
        # PyJWKClient fetches the JWKS, keeps it for `lifespan` seconds and
        # fetches again when a token names a key it does not hold (a
        # rotation), so a stranger's key costs at most one more fetch.
        self._keys = jwt.PyJWKClient(
            jwks_url, cache_keys=True, lifespan=300, timeout=timeout_seconds
        )

    def verify(self, token):
        """The token's claims, or AssertionRefused."""
        if not token or len(token) > MAX_TOKEN_LEN:
            raise AssertionRefused("no token, or one too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AssertionRefused("not a well-formed JWT") from None
        if header.get("alg") != ALGORITHM:
            raise AssertionRefused("not signed with ES256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AssertionRefused("the token header has no kid")
        try:
            key = self._keys.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError:
            raise AssertionRefused("the login service's keys are unavailable") from None
        except jwt.PyJWKClientError:
            raise AssertionRefused("signed by a key that is not published") from None
        try:
            return jwt.decode(
                token,
                key=key.key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise AssertionRefused("expired") from None
        except jwt.ImmatureSignatureError:
            raise AssertionRefused("not valid yet") from None
        except jwt.InvalidIssuerError:
            raise AssertionRefused("issued by someone else") from None
        except jwt.InvalidAudienceError:
            raise AssertionRefused("meant for another audience") from None
        except jwt.InvalidSignatureError:
            raise AssertionRefused("the signature does not verify") from None
        except jwt.MissingRequiredClaimError:
            raise AssertionRefused("a required claim is missing") from None
        except jwt.PyJWTError:
            raise AssertionRefused("not a valid token") from None


def main():
    request = json.load(sys.stdin)
    verifier = AssertionVerifier(
        request["issuer"], request["audience"], request["jwks_url"]
    )
    answers = {}
    for name, token in request["tokens"].items():
        try:
            answers[name] = "accepted " + verifier.verify(token)["sub"]
        except AssertionRefused as refused:
            answers[name] = "refused " + str(refused)
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
