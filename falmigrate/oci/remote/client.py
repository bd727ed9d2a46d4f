"""A small OCI distribution API client on httpx: scheme choice, auth, retries, typed errors.

Everything that talks HTTP to a registry goes through ``RegistryClient.request`` so retry policy
(5xx, 429 with Retry-After, connection resets: exponential backoff), authentication (Basic or a
Bearer token per scope, obtained from the 401 challenge) and error mapping (401/403 → auth, 404 →
not found, else RegistryError with the registry's error codes) live in one place. Plain HTTP is
tried only for loopback registries (as the Docker engine does) or with ``insecure=True``. Messages
carry method, path and status, never credentials, tokens or upload-state query strings.
"""

from __future__ import annotations

import email.utils
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Self
from urllib.parse import urljoin, urlsplit

import httpx

from falmigrate import progress
from falmigrate.errors import RegistryAuthError, RegistryError, RegistryNotFoundError
from falmigrate.oci.remote import auth
from falmigrate.oci.remote.reference import is_loopback

Body = bytes | Callable[[], Iterable[bytes]] | None
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _safe(url: str) -> str:
    """A URL for messages: path only, no query (upload state), no userinfo."""
    return urlsplit(url).path or "/"


class RegistryClient:
    """One registry (host[:port]); thread-safe; use as a context manager or call ``close()``."""

    def __init__(self, registry: str, *, insecure: bool = False, ca: str | None = None,
                 credentials: auth.Credentials | None = None, docker_config: str | None = None,
                 retries: int = 5, backoff: float = 0.2, max_delay: float = 30.0,
                 timeout: float = 120.0) -> None:
        self.registry = registry
        self.insecure = insecure
        self.ca = ca
        self.retries = retries
        self.backoff = backoff
        self.max_delay = max_delay
        self._credentials = credentials
        self._config_path = docker_config
        self._creds_loaded = credentials is not None
        self._tokens: dict[str, str] = {}
        self._challenge: auth.Challenge | None = None
        self._lock = threading.Lock()
        self.base: str | None = None
        if ca:
            verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=ca)
        else:
            verify = not insecure
        limits = httpx.Limits(max_connections=16, max_keepalive_connections=8)
        self._http = httpx.Client(verify=verify, timeout=httpx.Timeout(timeout, connect=15.0), limits=limits)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- connection -----------------------------------------------------------------------
    def _schemes(self) -> list[str]:
        """https always; plain http as a fallback only for loopback registries or with ``insecure``
        (a CA file only changes which certificates are trusted)."""
        if self.insecure or is_loopback(self.registry):
            return ["https", "http"]
        return ["https"]

    def ping(self) -> None:
        """Find the scheme (https, or http where allowed) and check that /v2/ answers."""
        if self.base is not None:
            return
        failures: list[str] = []
        schemes = self._schemes()
        for scheme in schemes:
            base = f"{scheme}://{self.registry}"
            try:
                resp = self._send_retrying("GET", f"{base}/v2/", None, {}, None, stream=False,
                                           retries=None if scheme == schemes[-1] else 0)
            except RegistryError as exc:
                failures.append(f"{scheme}: {exc}")
                continue
            if resp.status_code in (200, 401):
                if resp.status_code == 401:
                    self._challenge = auth.parse_challenge(resp.headers.get("www-authenticate", ""))
                self.base = base
                return
            failures.append(f"{scheme}: GET /v2/ answered HTTP {resp.status_code}, not an OCI "
                            "distribution registry")
        hint = None if self.insecure or self.ca else (
            "pass --ca FILE for a private CA, or --insecure for a plain-HTTP registry "
            "that is not on loopback")
        raise RegistryError(f"cannot reach registry {self.registry}: {'; '.join(failures)}", hint=hint)

    def url(self, path: str) -> str:
        self.ping()
        assert self.base is not None
        return urljoin(self.base + "/", path.lstrip("/")) if not path.startswith("http") else path

    # -- credentials ----------------------------------------------------------------------
    def _creds(self) -> auth.Credentials | None:
        if not self._creds_loaded:
            from pathlib import Path
            path = Path(self._config_path) if self._config_path else None
            self._credentials = auth.from_docker_config(self.registry, path)
            self._creds_loaded = True
        return self._credentials

    def _auth_header(self, scope: str | None) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(scope or "")
            challenge = self._challenge
        if token:
            return {"Authorization": f"Bearer {token}"}
        if challenge and challenge.scheme == "basic":
            creds = self._creds()
            if creds:
                return {"Authorization": creds.basic_header()}
        return {}

    def _authenticate(self, resp: httpx.Response, scope: str | None, sent: bool) -> None:
        challenge = auth.parse_challenge(resp.headers.get("www-authenticate", ""))
        if challenge is None:
            raise RegistryAuthError(f"{self.registry} refused the request (HTTP 401) "
                                    "without an auth challenge")
        with self._lock:
            self._challenge = challenge
        creds = self._creds()
        if challenge.scheme == "basic":
            if creds is None:
                raise RegistryAuthError(f"{self.registry} requires authentication and no "
                                        "credentials were found",
                                        hint="docker login, or put them in a Docker config file (--config)")
            if sent:
                raise RegistryAuthError(f"{self.registry} rejected the credentials for "
                                        f"user {creds.username!r}")
            return
        if challenge.scheme != "bearer":
            raise RegistryAuthError(f"{self.registry}: unsupported auth scheme {challenge.scheme!r}")
        if sent:
            raise RegistryAuthError(f"{self.registry} rejected the token for scope {scope!r}")
        self._fetch_token(challenge, scope, creds)

    def _fetch_token(self, challenge: auth.Challenge, scope: str | None,
                     creds: auth.Credentials | None) -> None:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError(f"{self.registry}: Bearer challenge without a realm")
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        for item in (scope or challenge.params.get("scope") or "").split():
            params.append(("scope", item))
        realm_url = urlsplit(realm)
        if creds and realm_url.scheme != "https" and not (self.insecure or is_loopback(realm_url.netloc)):
            raise RegistryAuthError(f"{self.registry}: its token service {realm_url.netloc} is plain HTTP; "
                                    "refusing to send credentials there",
                                    hint="use --insecure if you trust it")
        headers = {"Authorization": creds.basic_header()} if creds else {}
        try:
            # a tuple: httpx types it covariantly
            resp = self._http.get(realm, params=tuple(params), headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryAuthError(f"token service of {self.registry} unreachable: "
                                    f"{type(exc).__name__}") from None
        if resp.status_code in (401, 403):
            who = f"user {creds.username!r}" if creds else "anonymous access"
            raise RegistryAuthError(f"{self.registry}: token service refused {who}")
        if resp.status_code != 200:
            raise RegistryAuthError(f"{self.registry}: token service answered HTTP {resp.status_code}")
        try:
            body = resp.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not token:
            raise RegistryAuthError(f"{self.registry}: token service returned no token")
        with self._lock:
            self._tokens[scope or ""] = token

    # -- requests -------------------------------------------------------------------------
    def request(self, method: str, path: str, *, scope: str | None = None, headers: dict | None = None,
                content: Body = None, params: dict | None = None, ok: Iterable[int] = (200,),
                stream: bool = False, what: str | None = None, retries: int | None = None) -> httpx.Response:
        """Send with auth and retries; returns the response (caller closes it when ``stream``).

        ``retries=0`` for requests that must not be replayed blindly (a PATCH the registry may have
        half-received); the caller recovers (e.g. by asking the upload's status)."""
        url = self.url(path)
        sent_auth = False
        while True:
            hdrs = dict(headers or {})
            auth_hdr = self._auth_header(scope)
            hdrs.update(auth_hdr)
            resp = self._send_retrying(method, url, content, hdrs, params, stream=stream, retries=retries)
            if resp.status_code == 401:
                resp.close()
                self._authenticate(resp, scope, sent=bool(auth_hdr) and sent_auth)
                sent_auth = True
                continue
            break
        if resp.status_code not in tuple(ok):
            if stream:
                resp.read()
            raise self._error(resp, what or f"{method} {_safe(url)}")
        return resp

    def _send_retrying(self, method: str, url: str, content: Body, headers: dict, params: dict | None,
                       *, stream: bool, retries: int | None = None) -> httpx.Response:
        limit = self.retries if retries is None else retries
        attempt = 0
        while True:
            body = content() if callable(content) else content
            try:
                req = self._http.build_request(method, url, content=body, headers=headers, params=params)
                resp = self._http.send(req, stream=stream, follow_redirects=method in ("GET", "HEAD"))
            except httpx.TransportError as exc:
                if _tls_refused(exc):  # retrying cannot help
                    raise RegistryError(f"{method} {_safe(url)} on {self.registry}: TLS failed: "
                                        f"{_short(exc)}") from None
                if attempt >= limit:
                    raise RegistryError(f"{method} {_safe(url)} on {self.registry}: {type(exc).__name__} "
                                        f"after {attempt + 1} attempt(s)") from None
                self._sleep(attempt, None, f"{type(exc).__name__} on {method} {_safe(url)}")
                attempt += 1
                continue
            if resp.status_code in RETRY_STATUS and attempt < limit:
                retry_after = resp.headers.get("retry-after")
                resp.close()
                self._sleep(attempt, retry_after, f"HTTP {resp.status_code} on {method} {_safe(url)}")
                attempt += 1
                continue
            return resp

    def _sleep(self, attempt: int, retry_after: str | None, why: str) -> None:
        delay = self.backoff * (2 ** attempt)
        if retry_after:
            delay = max(delay, _parse_retry_after(retry_after))
        delay = min(delay, self.max_delay)
        progress.log(f"retrying in {delay:.1f}s: {why}")
        time.sleep(delay)

    def _error(self, resp: httpx.Response, what: str) -> RegistryError:
        codes = []
        try:
            for err in resp.json().get("errors") or []:
                codes.append(f"{err.get('code')}: {err.get('message')}")
        except (ValueError, AttributeError):
            pass
        detail = f" ({'; '.join(codes)})" if codes else ""
        message = f"{what}: HTTP {resp.status_code}{detail}"
        if resp.status_code in (401, 403):
            return RegistryAuthError(f"{self.registry} denied {message}")
        if resp.status_code == 404:
            return RegistryNotFoundError(f"{self.registry}: not found: {message}")
        if resp.status_code == 429:
            return RegistryError(f"{self.registry} rate-limited {message} after {self.retries} retries",
                                 hint="quota or rate limit: try again later")
        return RegistryError(f"{self.registry}: {message}")


def _tls_refused(exc: Exception) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _short(exc: Exception) -> str:
    """The transport's own reason (socket/TLS level: it never holds our headers), one line."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _parse_retry_after(value: str) -> float:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError):
        return 0.0


def repo_scope(repository: str, actions: str = "pull") -> str:
    return f"repository:{repository}:{actions}"


def body_pieces(resp: httpx.Response, size: int = 1 << 20) -> Iterator[bytes]:
    """A streamed response body in pieces of about ``size`` bytes, joined from what each socket read
    gives (one copy: httpx's own ``iter_bytes(size)`` copies every byte three times, a visible share
    of a pull's interpreter time)."""
    held: list[bytes] = []
    count = 0
    for piece in resp.iter_bytes():
        held.append(piece)
        count += len(piece)
        if count >= size:
            yield held[0] if len(held) == 1 else b"".join(held)
            held, count = [], 0
    if held:
        yield held[0] if len(held) == 1 else b"".join(held)
