"""The one-time consent of Xero's standard OAuth2 flow (`xero-pipeline connect`).

Prints the authorize URL, receives Xero's redirect on a loopback port, checks `state`, exchanges
the code and stores the refresh token as a new connection: every consent adds one (a platform's
second partner connecting leaves the first partner's connection as it was). The redirect URI
(`http://localhost:PORT/callback`) must be registered with the Xero app.
"""

from __future__ import annotations

import secrets
import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from xero_pipeline.xero.auth import TOKEN_TIMEOUT_SECONDS, refused_scopes
from xero_pipeline.xero.errors import XeroAuthError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import XeroSettings
from xero_pipeline.xero.tokens import open_token_store

CALLBACK_PATH = "/callback"


def authorize_url(settings: XeroSettings, redirect_uri: str, state: str) -> str:
    query = {
        "response_type": "code",
        "client_id": settings.client_id,
        "redirect_uri": redirect_uri,
        "scope": settings.consent_scopes,
        "state": state,
    }
    return f"{settings.authorize_url}?{urlencode(query)}"


def exchange_code(
    settings: XeroSettings, code: str, redirect_uri: str, session: requests.Session | None = None
) -> str:
    """Trade the consent code for tokens and store the refresh token as a new connection;
    returns the connection's key."""
    if settings.client_id is None or settings.client_secret is None:
        raise XeroAuthError("set XERO_CLIENT_ID and XERO_CLIENT_SECRET before connecting")
    response = (session or requests.Session()).post(
        f"{settings.identity_base}/connect/token",
        timeout=TOKEN_TIMEOUT_SECONDS,
        auth=(settings.client_id, settings.client_secret.reveal()),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri},
    )
    if response.status_code != 200:
        error = response.json().get("error", "") if response.content else ""
        raise XeroAuthError(
            f"Xero refused the consent code ({error or response.status_code}); "
            "run `xero-pipeline connect` again."
        )
    refresh = response.json().get("refresh_token")
    if not refresh:
        raise XeroAuthError(
            "Xero returned no refresh token: the app must ask for offline_access "
            "(add it to XERO_SCOPES)"
        )
    return open_token_store(settings).add(settings.client_id, Secret(refresh))


class _Callback(BaseHTTPRequestHandler):
    server: _CallbackServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the query string holds the consent code."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path != CALLBACK_PATH:
            self.send_error(404)
            return
        self.server.answer = query
        ok = "code" in query and query.get("state") == self.server.state
        text = (
            "Connected to Xero. You can close this tab."
            if ok
            else "Xero did not grant access; see the terminal."
        )
        body = text.encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.done.set()


class _CallbackServer(HTTPServer):
    def __init__(self, port: int, state: str) -> None:
        super().__init__(("127.0.0.1", port), _Callback)
        self.state, self.answer, self.done = state, {}, threading.Event()


def connect(
    settings: XeroSettings,
    *,
    port: int = 8910,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
    timeout_seconds: float = 300,
) -> str:
    """Run the consent flow end to end; raises XeroAuthError if it does not complete. Returns
    the new connection's key."""
    state = secrets.token_urlsafe(16)
    server = _CallbackServer(port, state)
    redirect_uri = f"http://localhost:{server.server_address[1]}{CALLBACK_PATH}"
    url = authorize_url(settings, redirect_uri, state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        announce(
            f"Open this URL to let the pipeline read your Xero organisation:\n  {url}\n"
            f"Waiting for Xero to redirect to {redirect_uri} …"
        )
        if open_browser:
            webbrowser.open(url)
        if not server.done.wait(timeout_seconds):
            raise XeroAuthError(f"no answer from Xero within {timeout_seconds:.0f} s")
    finally:
        server.shutdown()
        server.server_close()
    answer = server.answer
    if answer.get("state") != state:
        raise XeroAuthError("the redirect's state does not match this consent; try again")
    if answer.get("error") == "invalid_scope":
        raise XeroAuthError(refused_scopes(settings.consent_scopes))
    if "code" not in answer:
        raise XeroAuthError(f"Xero did not grant access: {answer.get('error', 'no code')}")
    key = exchange_code(settings, answer["code"], redirect_uri)
    where = (
        "the warehouse table xero_tokens (encrypted)"
        if settings.token_store == "warehouse"
        else str(settings.token_path)
    )
    announce(f"Connected (connection {key}): its refresh token is stored in {where}")
    return key
