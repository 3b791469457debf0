"""A Flask JSON API behind `handoff-gate`: it knows nothing of OpenID
Connect. The gate signs people in and sends each request on with who is
calling in `X-Forwarded-Email` and `X-Forwarded-User` (every copy a client
sent itself removed first), and the handoff token it verified in
`X-Handoff-Assertion`, which this app checks again with the login
service's published keys unless VERIFY_ASSERTION=off.

    gunicorn --bind :8080 --workers 1 --threads 8 --timeout 0 app:app
"""

import hashlib
import logging
import sys
import time
from dataclasses import dataclass

from flask import Flask, Response, abort, g, jsonify, render_template_string, request
from flask_sock import Sock

import settings as config
from handoff_assertion import AssertionRefused, AssertionVerifier

log = logging.getLogger("flask-api")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flask behind the gate</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>Flask behind the gate</h1>
<p>Signed in as <strong id="email">{{ who.email }}</strong>.</p>
<p>Handoff assertion verified by this app:
<strong id="verified">{{ "yes" if who.assertion_verified else "not checked" }}</strong></p>
<p><a href="/api/me">/api/me</a></p>
</body></html>"""


@dataclass(frozen=True)
class Caller:
    email: str
    user: str
    assertion_verified: bool


def create_app(settings):
    app = Flask(__name__)
    verifier = None
    if settings.verify_assertion:
        verifier = AssertionVerifier(settings.auth_url, settings.app_url, settings.jwks_url)

    @app.before_request
    def identify_the_caller():
        # Every route needs a caller: a request that did not come through
        # the gate has no identity headers and gets no further.
        email = request.headers.get(settings.email_header, "")
        user = request.headers.get(settings.user_header, "")
        if not email or not user:
            return refuse("not signed in")
        verified = False
        if verifier is not None:
            token = request.headers.get(settings.assertion_header, "")
            try:
                claims = verifier.verify(token)
            except AssertionRefused as refused:
                log.warning("handoff assertion refused: %s", refused)
                return refuse("the handoff assertion does not verify")
            # The headers and the token must speak of the same person.
            if claims["sub"] != user or claims.get("email") != email:
                log.warning("handoff assertion does not match the identity headers")
                return refuse("the handoff assertion does not match")
            verified = True
        g.caller = Caller(email=email, user=user, assertion_verified=verified)
        return None

    @app.get("/")
    def home():
        return render_template_string(PAGE, who=g.caller)

    @app.get("/api/me")
    def me():
        return jsonify(
            email=g.caller.email,
            user=g.caller.user,
            assertion_verified=g.caller.assertion_verified,
        )

    @app.get("/api/events")
    def events():
        # Server-sent events, one a second: the gate must pass each on as
        # it comes, not hold the answer until it ends.
        def stream():
            for n in range(1, 4):
                if n > 1:
                    time.sleep(1)
                yield f"data: event {n}\n\n"

        return Response(stream(), mimetype="text/event-stream")

    @app.post("/api/upload")
    def upload():
        body = request.get_data(cache=False)
        return jsonify(bytes=len(body), sha256=hashlib.sha256(body).hexdigest())

    sock = Sock(app)

    @sock.route("/ws/echo")
    def echo(ws):
        while True:
            ws.send(f"{g.caller.email}: {ws.receive()}")

    return app


def refuse(reason):
    response = jsonify(error=reason)
    response.status_code = 401
    abort(response)


def load():
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = config.from_env()
    except config.ConfigError as error:
        # A clear line, then stop: gunicorn (with --preload) and
        # `flask run` exit instead of serving with a wrong setting.
        print(f"flask-api: bad configuration: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return create_app(settings)


app = load()
