"""Errors raised by the extract layer, classified once so that callers only ask the type.

    RetabError
    ├── TransientError        retried by pipelines.extract.retry: 429, 500/502/503/504, connection
    │   │                      errors, timeouts, a 200 whose body is not a listing
    │   ├── RateLimited        429; carries the server's Retry-After in seconds, if any
    │   ├── Unreachable        no such host name, or nothing listens on the port (cause "connection")
    │   └── HtmlPage           a 200 carrying an HTML page, not JSON (cause "bad_body")
    ├── RetriesExhausted      the retry policy gave up; the last TransientError is __cause__
    ├── FatalResponse         any status that retrying cannot fix (400, 3xx, unexpected codes)
    │   ├── AuthError          401, 403: check RETAB_API_KEY
    │   ├── NotFound           404: check RETAB_API_BASE_URL
    │   └── Unprocessable      422: the server's detail says which parameter
    ├── LoopDetected          the server repeated a cursor or a page of already-seen ids
    ├── TooManyPages          a window ran past ClientConfig.max_pages_per_window
    ├── InsecureBaseURL       (also a ValueError) a non-loopback base URL without https
    ├── TLSFailure            the TLS handshake failed (a certificate problem is not transient)
    └── WindowCancelled       the consumer of iter_windows stopped early

No message ever contains the API key: the key only travels in a request header, and server
text quoted in a message is redacted by the client before it gets here.
"""

from __future__ import annotations


class RetabError(Exception):
    """Base of every error raised by the extract layer."""


class TransientError(RetabError):
    """A failure that may go away if the same request is sent again."""

    def __init__(self, cause: str, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message or cause)
        self.cause = cause  # short key for logs and WindowStats.retries: "503", "connection", "bad_body"
        self.retry_after = retry_after  # seconds the server asked for (Retry-After), if it did


class RateLimited(TransientError):
    """HTTP 429: the server asks us to slow down."""

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__("429", message or "HTTP 429 Too Many Requests", retry_after=retry_after)


class Unreachable(TransientError):
    """The host name does not resolve or nothing listens on the port; persisting, a wrong base URL."""

    def __init__(self, message: str) -> None:
        super().__init__("connection", message)


class HtmlPage(TransientError):
    """A 200 whose body is an HTML page (a gateway's, a proxy's login, a website), not the API's JSON."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_body", message)


class RetriesExhausted(RetabError):
    """The retry policy stopped (attempts or time budget) while the failure persisted."""

    def __init__(self, message: str, *, attempts: int, last: TransientError) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last


class FatalResponse(RetabError):
    """A response that no retry can fix; the message names status, endpoint and what to do."""

    advice = "retrying will not help."

    def __init__(
        self,
        status: int,
        endpoint: str,
        detail: str | None = None,
        *,
        request_id: str | None = None,
        advice: str | None = None,
    ) -> None:
        self.status = status
        self.endpoint = endpoint  # the path requested, e.g. "/v1/workflows/runs"
        self.detail = detail  # the server's explanation, redacted
        self.request_id = request_id
        where = f" (x-request-id {request_id})" if request_id else ""
        said = f" Server said: {detail}" if detail else ""
        super().__init__(f"HTTP {status} from GET {endpoint}{where}: {advice or self.advice}{said}")


class AuthError(FatalResponse):
    """HTTP 401 or 403: the key is missing, wrong or lacks access."""

    advice = "the API key was refused; check RETAB_API_KEY."


class NotFound(FatalResponse):
    """HTTP 404: usually a wrong base URL."""

    advice = "no such resource; check RETAB_API_BASE_URL."


class Unprocessable(FatalResponse):
    """HTTP 422: the server rejected a query parameter."""

    advice = "the server rejected the query (see its detail); the API may have changed."


class LoopDetected(RetabError):
    """The server's cursors lead back to pages already walked."""


class TooManyPages(RetabError):
    """One window needed more pages than the configured cap."""


class InsecureBaseURL(RetabError, ValueError):
    """The base URL would send the API key over plain HTTP to a non-loopback host."""


class TLSFailure(RetabError):
    """The TLS handshake failed; retrying will not fix a certificate problem."""


class WindowCancelled(RetabError):
    """The window was abandoned because the consumer stopped early."""


class QueryFailed(Exception):
    """The query could not run: a SQL error, a missing file, a locked or missing warehouse."""
