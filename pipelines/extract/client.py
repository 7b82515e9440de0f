"""The Retab HTTP client: one requests.Session, the retry policy, the shared rate limit, day windows."""

from __future__ import annotations

import ipaddress
import os
import re
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import SplitResult, quote, urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from urllib3.exceptions import (
    DecodeError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ReadTimeoutError,
)

from pipelines.config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RETRY_SECONDS,
    Settings,
)
from pipelines.endpoints import Endpoint
from pipelines.errors import (
    AuthError,
    FatalResponse,
    HtmlPage,
    InsecureBaseURL,
    NotFound,
    RateLimited,
    TLSFailure,
    TooManyPages,
    TransientError,
    Unprocessable,
    Unreachable,
)
from pipelines.extract.pagination import Page, iter_pages, parse_page
from pipelines.extract.retry import RetryPolicy, make_retrying, parse_http_date, parse_retry_after
from pipelines.extract.throttle import AdaptiveRate, Pacer, parse_rate_headers

__all__ = [
    "DEFAULT_CONCURRENCY",
    "USER_AGENT",
    "BearerAuth",
    "ClientConfig",
    "Page",
    "RetabClient",
    "WindowStats",
]

T = TypeVar("T")

USER_AGENT = "retab-warehouse/0.1"
RETRIED_STATUSES = frozenset({500, 502, 503, 504})  # plus 429, which is RateLimited
BODY_CHUNK = 256 * 1024  # the most one read returns; a page of 100 records is ~60 kB
DETAIL_LIMIT = 500  # characters of a server's error text quoted in a message


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses, where plain HTTP cannot leak the key."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_base_url(url: str) -> str:
    """Check a base URL and drop a trailing "/" and "/v<N>", warning about the latter as the SDK does."""
    parts = urlsplit(url.strip())
    shown = _shown(parts)  # never the user info, query or fragment: people paste keys there
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"RETAB_API_BASE_URL must be an http(s) URL such as https://api.retab.com, got {shown!r}"
        )
    if parts.username is not None or parts.password is not None:
        raise ValueError("RETAB_API_BASE_URL must not carry credentials; the key belongs in RETAB_API_KEY")
    if parts.query or parts.fragment:
        raise ValueError(
            f"RETAB_API_BASE_URL must not have a query or fragment (the key belongs in RETAB_API_KEY), "
            f"got {shown!r} followed by one"
        )
    if parts.scheme != "https" and not is_loopback(parts.hostname):
        raise InsecureBaseURL(
            f"RETAB_API_BASE_URL {shown!r} uses {parts.scheme}: the API key would travel in clear text; "
            "use https (plain http is accepted only for loopback hosts such as the simulator)"
        )
    path = parts.path.rstrip("/")
    trimmed = re.sub(r"/v\d+$", "", path)
    if trimmed != path:
        warnings.warn(
            f"RETAB_API_BASE_URL {url!r} ends with a version segment; the paths already carry /v1. "
            f"Using {urlunsplit((parts.scheme, parts.netloc, trimmed, '', ''))!r} instead.",
            UserWarning,
            stacklevel=4,
        )
    return urlunsplit((parts.scheme, parts.netloc, trimmed, "", ""))


def _shown(parts: SplitResult) -> str:
    """A URL as safe to print: scheme, host, port and path only."""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


@dataclass(frozen=True)
class ClientConfig:
    """Connection, retry and paging settings of a RetabClient."""

    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL  # normalised: trailing "/" and "/v1" dropped
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    max_retry_seconds: float = DEFAULT_MAX_RETRY_SECONDS
    max_retry_after: float = 60.0  # cap on a server's Retry-After
    max_rps: float | None = None  # a ceiling on the rate the client adapts (None: the API decides)
    page_limit: int = 100
    max_pages_per_window: int = 50_000
    backoff_initial: float = 0.5  # full-jitter backoff: uniform in [0, initial * 2**(n-1)]
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if not self.api_key or not self.api_key.strip():
            raise ValueError("the Retab API key is empty; set RETAB_API_KEY")
        object.__setattr__(self, "base_url", normalise_base_url(self.base_url))
        if self.max_rps is not None and not self.max_rps > 0:
            raise ValueError(f"max_rps must be > 0, got {self.max_rps!r}")
        for name in ("connect_timeout", "read_timeout", "max_retry_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_retry_after", "backoff_initial", "backoff_max"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.max_attempts < 1 or self.max_pages_per_window < 1:
            raise ValueError("max_attempts and max_pages_per_window must be >= 1")
        if not 1 <= self.page_limit <= 100:
            raise ValueError(f"page_limit must be within 1..100 (the API's bounds), got {self.page_limit!r}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, **overrides: Any) -> ClientConfig:
        """RETAB_API_KEY and RETAB_API_BASE_URL (optional), as the SDK reads them (pipelines.config)."""
        settings = Settings.from_env(environ)
        if not settings.api_key:
            raise ValueError("RETAB_API_KEY is not set")
        return cls(**{"api_key": settings.api_key, "base_url": settings.base_url, **overrides})

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry limits taken from this config."""
        return RetryPolicy(
            max_attempts=self.max_attempts,
            max_seconds=self.max_retry_seconds,
            max_retry_after=self.max_retry_after,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
        )


@dataclass
class WindowStats:
    """What fetching one day window took; filled in as the window is walked."""

    endpoint: str
    day: date
    pages: int = 0  # HTTP pages received, the final empty page included
    records: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # by cause: "429", "503", "connection", ...
    bytes: int = 0  # body bytes of the pages received
    seconds: float = 0.0  # wall time of the walk
    complete: bool = False  # the walk reached the end of the listing
    duplicates: int = 0  # ids seen again on a later page (records that moved); passed on
    gets: int = 0  # single-record GETs answered (200 or 404)
    source_time: datetime | None = None  # the API's clock at the walk's first answer (its Date header)


class BearerAuth(AuthBase):
    """Sends the key as `Authorization: Bearer <key>`, as the official SDK does; never prints it."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


class RetabClient:
    """Fetches Retab listings page by page; safe to share between the threads of iter_windows."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rate_limiter: Pacer | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self._sleep = sleep  # every wait of this client goes through it (retries, default rate limiter)
        self.rate_limiter: Pacer = rate_limiter or AdaptiveRate(config.max_rps, sleep=sleep)
        self._owns_session = session is None
        self._session = session or requests.Session()
        self._session.auth = BearerAuth(config.api_key)  # also keeps ~/.netrc from replacing the key
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if is_loopback(urlsplit(config.base_url).hostname or ""):
            self._session.trust_env = False  # no proxy from the environment between us and a loopback server
        self._pool_size = 0
        self.ensure_pool(DEFAULT_CONCURRENCY)
        self.server_time: datetime | None = None  # the API's clock (Date header) at its latest answer
        self._in_flight = threading.BoundedSemaphore(DEFAULT_CONCURRENCY)

    def limit_in_flight(self, requests: int) -> None:
        """At most `requests` requests at once, whatever the number of threads walking (the budget
        that both endpoints' windows, and both ends of a day, share)."""
        if requests < 1:
            raise ValueError(f"requests in flight must be >= 1, got {requests!r}")
        self._in_flight = threading.BoundedSemaphore(requests)

    def ensure_pool(self, size: int) -> None:
        """Grow the connection pool to keep at least `size` connections alive (one per concurrent window)."""
        if not self._owns_session or size <= self._pool_size:
            return
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._pool_size = size

    def iter_window_pages(
        self, endpoint: Endpoint, day: date, stats: WindowStats
    ) -> Generator[Page, None, None]:
        """Yield the non-empty pages of the records created on `day` (UTC), oldest first."""
        return self.iter_listing(endpoint, day, stats)

    def iter_listing(
        self,
        endpoint: Endpoint,
        day: date,
        stats: WindowStats,
        *,
        order: str = "asc",
        after: str | None = None,
    ) -> Generator[Page, None, None]:
        """Yield the non-empty pages of `day`'s records in `order`, from the head or after a cursor id."""
        # order=asc reaches runs created while we walk (they are appended at the tail); a desc walk
        # sees them land at its head, behind the cursor (pipelines.extract.walks handles both ends).
        params = {
            "from_date": day.isoformat(),
            "to_date": day.isoformat(),
            "limit": str(self.config.page_limit),
            "order": order,
        }
        if after is not None:
            params["after"] = after
        label = f"{endpoint.name} {day.isoformat()}{'' if order == 'asc' else ' (newest first)'}"
        started = time.monotonic()

        def fetch(query: dict[str, str]) -> Page:
            if stats.pages >= self.config.max_pages_per_window:  # both ends of a day share the cap
                raise TooManyPages(
                    f"{label}: more than {self.config.max_pages_per_window} pages; raise "
                    "max_pages_per_window if the day really is that large, else the server's cursors "
                    "never end"
                )
            page = self._retried(lambda: parse_page(self._get(endpoint.path, query)), label, stats)
            if stats.source_time is None:
                stats.source_time = self.server_time or datetime.now(UTC)
            stats.pages += 1
            stats.bytes += page.nbytes
            return page

        def count_duplicates(n: int) -> None:
            stats.duplicates += n

        try:
            for page in iter_pages(
                fetch,
                params,
                label=label,
                max_pages=self.config.max_pages_per_window,
                on_duplicates=count_duplicates,
            ):
                stats.records += len(page.records)
                yield page
            stats.complete = True
        finally:
            stats.seconds += time.monotonic() - started

    def get_run(self, endpoint: Endpoint, run_id: str, stats: WindowStats | None = None) -> dict[str, Any]:
        """One record by id, from the endpoint's single-record GET (NotFound when it is gone)."""
        path = f"{endpoint.path}/{quote(run_id, safe='')}"
        advice = f"no {endpoint.name} record {run_id!r} (or a wrong RETAB_API_BASE_URL)."

        def once() -> dict[str, Any]:
            try:
                body = self._get(path, None, not_found_advice=advice)
            except NotFound:
                if stats is not None:
                    stats.gets += 1
                raise
            try:
                record = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise TransientError("bad_body", f"GET {path}: the body is not valid JSON") from None
            if not isinstance(record, dict):
                raise TransientError("bad_body", f"GET {path}: the body is not a JSON object")
            if stats is not None:
                stats.gets += 1
                stats.bytes += len(body)
            return record

        return self._retried(once, f"{endpoint.name} record {run_id}", stats)

    def probe(self, endpoint: Endpoint, day: date) -> None:
        """One listing request of one record: proves the base URL serves this endpoint, so that a
        404 from a single-record GET means the record is gone, not that the URL is wrong."""
        query = {"from_date": day.isoformat(), "to_date": day.isoformat(), "limit": "1"}
        self._retried(lambda: parse_page(self._get(endpoint.path, query)), f"{endpoint.name} probe", None)

    def close(self) -> None:
        """Close the connection pool (a session passed in by the caller is left open)."""
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> RetabClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _retried(self, attempt: Callable[[], T], label: str, stats: WindowStats | None) -> T:
        """Run `attempt` under the retry policy; count retries by cause; a 429 holds every thread."""

        def on_retry(error: TransientError, wait: float) -> None:
            if stats is not None:
                stats.retries[error.cause] += 1
            if isinstance(error, RateLimited):
                self.rate_limiter.hold(wait)  # the other windows wait too, rather than earn 429s of their own

        retrying = make_retrying(self.config.retry_policy, label=label, sleep=self._sleep, on_retry=on_retry)
        return retrying(attempt)

    def _get(
        self, path: str, params: Mapping[str, str] | None, *, not_found_advice: str | None = None
    ) -> bytes:
        """One rate-limited GET: the body of a 200, else a classified error."""
        with self._in_flight:
            sent_at = self.rate_limiter.acquire()
            return self._send(path, params, not_found_advice, sent_at)

    def _send(
        self, path: str, params: Mapping[str, str] | None, not_found_advice: str | None, sent_at: float
    ) -> bytes:
        timeouts = (self.config.connect_timeout, self.config.read_timeout)
        try:
            response = self._session.get(
                self.config.base_url + path,
                params=params,
                timeout=timeouts,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as error:
            raise TLSFailure(f"GET {path}: TLS failed: {self._redact(str(error))}") from error
        except requests.exceptions.ConnectTimeout as error:
            raise TransientError(
                "connect_timeout", f"GET {path}: no connection within {timeouts[0]:g} s"
            ) from error
        except requests.exceptions.ReadTimeout as error:
            raise TransientError(
                "read_timeout", f"GET {path}: no response within {timeouts[1]:g} s"
            ) from error
        except requests.exceptions.ConnectionError as error:
            unreachable = self._unreachable(error)
            if unreachable is not None:
                raise Unreachable(f"GET {path}: {unreachable}") from error
            raise TransientError("connection", f"GET {path}: {self._redact(str(error))}") from error
        except requests.exceptions.RequestException as error:
            raise TransientError("connection", f"GET {path}: {self._redact(str(error))}") from error
        body = self._read_body(response, path)
        return self._check(response, body, path, not_found_advice, sent_at)

    def _unreachable(self, error: requests.exceptions.ConnectionError) -> str | None:
        """What to tell the user when the host name does not resolve or nothing listens on the port."""
        parts = urlsplit(self.config.base_url)
        reason = getattr(error.args[0] if error.args else None, "reason", None)
        if isinstance(reason, NameResolutionError):
            return (
                f"cannot resolve the host {parts.hostname!r}: check the host name in RETAB_API_BASE_URL "
                f"({self.config.base_url}) and this machine's network and DNS"
            )
        if isinstance(reason, NewConnectionError) and isinstance(reason.__cause__, ConnectionRefusedError):
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return (
                f"connection refused by {parts.hostname}:{port}: nothing listens there; check the host and "
                f"port in RETAB_API_BASE_URL ({self.config.base_url}) and that the server is up"
            )
        return None

    def _read_body(self, response: requests.Response, path: str) -> bytes:
        """The whole body, read as it arrives; a body still arriving after read_timeout is a timeout.

        The socket timeout bounds each read, not their sum: a server trickling a byte at a time
        could hold a request forever. Reading whatever has arrived lets us check a deadline, so
        no request outlives connect_timeout + 2 * read_timeout.
        """
        deadline = time.monotonic() + self.config.read_timeout
        chunks: list[bytes] = []
        try:
            while chunk := response.raw.read1(BODY_CHUNK, decode_content=True):
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise TransientError(
                        "read_timeout",
                        f"GET {path}: the body still arriving after {self.config.read_timeout:g} s",
                    )
        except ReadTimeoutError as error:
            response.close()
            raise TransientError("read_timeout", f"GET {path}: the body stalled") from error
        except DecodeError as error:
            response.close()
            raise TransientError("bad_body", f"GET {path}: the body could not be decoded") from error
        except HTTPError as error:  # closed mid-body, or shorter than its Content-Length
            response.close()
            raise TransientError("connection", f"GET {path}: {self._redact(str(error))}") from error
        except BaseException:
            response.close()
            raise
        return b"".join(chunks)

    def _check(
        self,
        response: requests.Response,
        body: bytes,
        path: str,
        not_found_advice: str | None,
        sent_at: float,
    ) -> bytes:
        """Return the body of a 200; raise the error type its status calls for. Tell the shared rate
        how the API took the request: a success (with any quota it announced) or a refusal."""
        status = response.status_code
        if status == 200 and _is_html(response, body):
            title = self._redact(_html_title(body) or "")
            raise HtmlPage(
                f"GET {path}: the server at {self.config.base_url} answered with an HTML page"
                f"{f' titled {title!r}' if title else ''}, not the API's JSON. If this persists, "
                "RETAB_API_BASE_URL points at a website, a proxy or a login page rather than the API: "
                "set it to the API's base URL, e.g. https://api.retab.com."
            )
        if status == 200:
            self.rate_limiter.on_success(parse_rate_headers(response.headers))
            served_at = response.headers.get("date")
            if served_at:
                self.server_time = parse_http_date(served_at) or self.server_time
            return body
        request_id = response.headers.get("x-request-id")
        where = f" (x-request-id {request_id})" if request_id else ""
        if status == 429 or status in RETRIED_STATUSES:
            retry_after = self._retry_after(response)
            if status == 429 or retry_after is not None:  # a 503 with Retry-After is a refusal too
                self.rate_limiter.on_throttle(sent_at, retry_after)
            message = f"HTTP {status} from GET {path}{where}"
            if status == 429:
                raise RateLimited(message, retry_after=retry_after)
            raise TransientError(str(status), message, retry_after=retry_after)
        detail = self._detail(body)
        if status == 403:
            advice = (
                "the API key was accepted but may not read this endpoint; use a key with access to "
                "workflow runs (check RETAB_API_KEY)."
            )
            raise AuthError(status, path, detail, request_id=request_id, advice=advice)
        if status == 401:
            raise AuthError(status, path, detail, request_id=request_id)
        if status == 404:
            advice = (
                not_found_advice or f"no such path under {self.config.base_url}; check RETAB_API_BASE_URL."
            )
            raise NotFound(status, path, detail, request_id=request_id, advice=advice)
        if status == 422:
            raise Unprocessable(status, path, detail, request_id=request_id)
        if 300 <= status < 400:
            advice = (
                f"unexpected redirect to {response.headers.get('location')!r}; "
                "check RETAB_API_BASE_URL (redirects are not followed, so the key stays put)."
            )
            raise FatalResponse(status, path, detail, request_id=request_id, advice=advice)
        advice = "an unexpected status, which retrying will not fix; check the API's status and this request."
        raise FatalResponse(status, path, detail, request_id=request_id, advice=advice)

    def _retry_after(self, response: requests.Response) -> float | None:
        """Seconds from the Retry-After header, an HTTP-date measured from the response's Date."""
        header = response.headers.get("retry-after")
        if header is None:
            return None
        date_header = response.headers.get("date")
        now = parse_http_date(date_header) if date_header else None
        return parse_retry_after(header, now=now)

    def _detail(self, body: bytes) -> str | None:
        """The server's explanation from a FastAPI-style error body, shortened and redacted."""
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            text = body.decode("utf-8", "replace").strip()
            return self._redact(text)[:DETAIL_LIMIT] if text else None
        detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
        if isinstance(detail, str):
            text = detail
        elif isinstance(detail, dict) and "message" in detail:
            text = f"{detail.get('code') or 'error'}: {detail['message']}"
        elif isinstance(detail, list) and all(isinstance(item, dict) for item in detail):
            text = "; ".join(
                f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg', '')}"
                for item in detail
            )
        else:
            text = orjson.dumps(detail).decode()
        return self._redact(text)[:DETAIL_LIMIT] or None

    def _redact(self, text: str) -> str:
        """`text` with the API key masked, in case a server or library echoes it."""
        return text.replace(self.config.api_key, "[redacted]")


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _is_html(response: requests.Response, body: bytes) -> bool:
    """A 200 whose Content-Type says HTML, or whose body starts like markup rather than JSON."""
    content_type = response.headers.get("content-type", "").lower()
    return "html" in content_type or body.lstrip()[:1] == b"<"


def _html_title(body: bytes) -> str | None:
    """The page's <title>, to help the user recognise the page; None without one."""
    match = _TITLE.search(body[:65536])
    if match is None:
        return None
    title = " ".join(match.group(1).decode("utf-8", "replace").split())
    return title[:DETAIL_LIMIT] or None
