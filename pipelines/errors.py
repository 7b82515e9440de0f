"""Every error the engine raises on purpose, in one tree, each class saying what it means for the user.

    WarehouseError                      root: retryable? stops the endpoint? exit code? advice
    ├── ConfigurationError              fix the settings first (exit 2, no retry)
    │   ├── MissingApiKey               RETAB_API_KEY is not set
    │   └── BadWarehouseTarget          RETAB_DUCKDB_PATH names no warehouse this version can use
    ├── RetabError                      talking to the Retab API
    │   ├── TransientError              retried by pipelines.extract.retry: 429, 500/502/503/504,
    │   │   │                            connection errors, timeouts, a 200 whose body is not a listing
    │   │   ├── RateLimited             429; carries the server's Retry-After in seconds, if any
    │   │   ├── Unreachable             no such host name, or nothing listens on the port
    │   │   └── HtmlPage                a 200 carrying an HTML page, not JSON
    │   ├── RetriesExhausted            the retry policy gave up; the last TransientError is __cause__
    │   │                                (stops the endpoint when that last one was Unreachable/HtmlPage)
    │   ├── FatalResponse               a status retrying cannot fix (400, 3xx, unexpected codes)
    │   │   ├── AuthError               401, 403: check RETAB_API_KEY
    │   │   ├── NotFound                404: check RETAB_API_BASE_URL
    │   │   └── Unprocessable           422: the server's detail says which parameter
    │   ├── LoopDetected                the server repeated a cursor or a page of already-seen ids
    │   ├── TooManyPages                a window ran past ClientConfig.max_pages_per_window
    │   ├── InsecureBaseURL             (also a ValueError) a non-loopback base URL without https
    │   ├── TLSFailure                  the TLS handshake failed (a certificate problem)
    │   └── WindowCancelled             the consumer of iter_windows stopped early
    ├── WarehouseFileError              the DuckDB warehouse file (or DuckLake)
    │   ├── WarehouseLocked             another process holds it past the lock wait (retryable)
    │   ├── WarehouseUnreadable         not a DuckDB file, damaged, a directory, not writable, disk full
    │   │   ├── WarehouseMissing        a reader asked for a file (or lake) that does not exist yet
    │   │   ├── WarehouseTooNew         a file written by a newer DuckDB: rebuild it by a re-sync
    │   │   └── LakeUnusable            a lake's catalog refused us, or its data path is missing
    │   ├── LakeUnreachable             the lake's PostgreSQL is down or unreachable (retryable)
    │   ├── CopyMismatch                `migrate --to`: the lake's counts differ from the file's
    │   ├── MigrationError              a schema file could not be applied
    │   │   └── SchemaTooNew            written by a newer retab-warehouse
    │   └── SourceMismatch              the file holds another API's data
    ├── LoadError                       one partition could not be replaced (it keeps its content)
    │   ├── PartitionMismatch           (ValueError) spooled rows outside the partition
    │   ├── IncompletePartition         (ValueError) the page walk did not reach the end
    │   ├── SpoolSchemaError            (ValueError) a batch without its table's declared schema
    │   ├── SpillFailed                 (OSError) a spill file could not be written
    │   ├── LakeConflict                another writer kept committing the same lake table (retried first)
    │   └── LoadOutOfMemory             DuckDB ran out of memory even at the most a load may take
    ├── UnreadableRecord                a record the flattener cannot read (caught there: it goes
    │                                    to rejected_records, never out of pipelines.transform)
    ├── QueryFailed                     `sql` / `report`: a SQL error, a missing or locked file
    └── ReportUnavailable               the warehouse has no analytics views yet

Each class answers three questions, read by everyone who must decide (`classify`):
- `retryable`: can the same work succeed later, unchanged? Dagster's `Failure(allow_retries=...)`.
- `stops_endpoint`: would every other day of the endpoint fail the same way? Then the sync stops
  that endpoint's other days instead of waiting out the same retries for each.
- `exit_code`: the CLI's. 0 ok; 1 something failed that a later run may get through (a transient
  fault, a locked file, one bad day); 2 a usage or set-up error to fix before running again (the
  same as argparse's); 130 interrupted (Ctrl-C).

No message ever contains the API key: the key only travels in a request header, and server text
quoted in a message is redacted by the client before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1  # a later run may get through
EXIT_FIX_FIRST = 2  # a usage or set-up error: fix it, then run again
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


class WarehouseError(Exception):
    """Root of every error the engine raises on purpose."""

    retryable: bool = False
    stops_endpoint: bool = False
    advice: str = "see the message."

    @property
    def exit_code(self) -> int:
        """The CLI's exit code for this error."""
        return EXIT_FAILED if self.retryable else EXIT_FIX_FIRST


class ConfigurationError(WarehouseError):
    """The settings are wrong or missing: nothing can work until they are fixed."""

    stops_endpoint = True
    advice = "fix the setting the message names, then run again."


class MissingApiKey(ConfigurationError):
    """RETAB_API_KEY is not set."""

    advice = "export RETAB_API_KEY, or run `retab-warehouse demo` against the bundled simulator."

    def __init__(self) -> None:
        super().__init__(
            "RETAB_API_KEY is not set: export your Retab API key (for example "
            "`export RETAB_API_KEY=sk_...`), or run `retab-warehouse demo` to try the project "
            "against the bundled simulator."
        )


class BadWarehouseTarget(ConfigurationError, ValueError):
    """RETAB_DUCKDB_PATH (or --db) names something that is neither a DuckDB file nor a PostgreSQL lake."""

    advice = "set RETAB_DUCKDB_PATH to a file path or to ducklake:postgres:<libpq connection string>."


class RetabError(WarehouseError):
    """Base of every error raised while talking to the Retab API."""

    retryable = True  # by default a later run may get through; the fatal ones say otherwise
    advice = "a later run may get through; if it persists, check the API's status."


class TransientError(RetabError):
    """A failure that may go away if the same request is sent again."""

    advice = "retried automatically; a later run may get through."

    def __init__(self, cause: str, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message or cause)
        self.cause = cause  # short key for logs and the retries figures: "503", "connection", "bad_body"
        self.retry_after = retry_after  # seconds the server asked for (Retry-After), if it did


class RateLimited(TransientError):
    """HTTP 429: the server asks us to slow down."""

    advice = "the API's rate limit: the client waits as told and slows down."

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__("429", message or "HTTP 429 Too Many Requests", retry_after=retry_after)


class Unreachable(TransientError):
    """The host name does not resolve or nothing listens on the port; persisting, a wrong base URL."""

    advice = "check RETAB_API_BASE_URL and the network."

    def __init__(self, message: str) -> None:
        super().__init__("connection", message)


class HtmlPage(TransientError):
    """A 200 whose body is an HTML page (a gateway's, a proxy's login, a website), not the API's JSON."""

    advice = "RETAB_API_BASE_URL may point at a website or a proxy rather than the API."

    def __init__(self, message: str) -> None:
        super().__init__("bad_body", message)


class RetriesExhausted(RetabError):
    """The retry policy stopped (attempts or time budget) while the failure persisted."""

    advice = "the fault persisted through every retry; a later run may get through."

    def __init__(self, message: str, *, attempts: int, last: TransientError) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.last = last

    @property
    def stops_endpoint(self) -> bool:  # type: ignore[override]
        """An unreachable host or HTML instead of the API: every other day would wait out the same."""
        return isinstance(self.last, Unreachable | HtmlPage)


class FatalResponse(RetabError):
    """A response that no retry can fix; the message names status, endpoint and what to do."""

    retryable = False
    stops_endpoint = True
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
        if advice is not None:
            self.advice = advice
        where = f" (x-request-id {request_id})" if request_id else ""
        said = f" Server said: {detail}" if detail else ""
        super().__init__(f"HTTP {status} from GET {endpoint}{where}: {self.advice}{said}")


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

    advice = "the API's paging went in a loop; a later run may get through, else report it to Retab."


class TooManyPages(RetabError):
    """One window needed more pages than the configured cap."""

    advice = "the day has more pages than the cap allows; raise max_pages_per_window."


class InsecureBaseURL(RetabError, ValueError):
    """The base URL would send the API key over plain HTTP to a non-loopback host."""

    retryable = False
    stops_endpoint = True
    advice = "use an https:// RETAB_API_BASE_URL."


class TLSFailure(RetabError):
    """The TLS handshake failed; retrying will not fix a certificate problem."""

    retryable = False
    stops_endpoint = True
    advice = "check the server's certificate and this machine's CA bundle."


class WindowCancelled(RetabError):
    """The window was abandoned because the consumer stopped early."""

    advice = "nothing to do: the sync stopped this window on purpose."


class WarehouseFileError(WarehouseError):
    """The DuckDB warehouse file cannot be used as it is (each day's load finds out for itself)."""

    advice = "see the message: it names the file and what to do."


class WarehouseLocked(WarehouseFileError):
    """The warehouse file is held by another DuckDB connection and did not free up in time."""

    retryable = True
    advice = "close the other session on the file, or wait for the running sync, then retry."


class WarehouseUnreadable(WarehouseFileError):
    """The warehouse path cannot be used: not a DuckDB file, corrupted, a directory, or not writable."""

    advice = "fix the file or point RETAB_DUCKDB_PATH at another one."


class WarehouseMissing(WarehouseUnreadable):
    """A reader asked for a warehouse file that does not exist yet."""

    advice = "run `retab-warehouse sync` first, or set RETAB_DUCKDB_PATH to an existing warehouse."


class WarehouseTooNew(WarehouseUnreadable):
    """The file was written by a newer DuckDB (a storage version the pinned one cannot read)."""

    advice = "move the file aside and rebuild it with a re-sync of its days (the message gives the command)."


class LakeUnusable(WarehouseUnreadable):
    """The lake cannot be used as configured: no such database, a refused login, no data path to create it."""

    advice = "fix RETAB_DUCKDB_PATH / RETAB_DUCKLAKE_DATA_PATH as the message says, then run again."


class LakeUnreachable(WarehouseFileError):
    """The lake's PostgreSQL catalog does not answer (down, a wrong host or port, the network)."""

    retryable = True
    advice = "start PostgreSQL or check the host and port in RETAB_DUCKDB_PATH; a later run may get through."


class CopyMismatch(WarehouseFileError):
    """`migrate --to`: a table of the lake does not hold as many rows as the file's after the copy."""

    advice = "the copy is not trusted; run `retab-warehouse migrate --to` again into an empty lake."


class MigrationError(WarehouseFileError):
    """A schema file could not be applied, or the warehouse is newer than this code."""

    advice = "the warehouse's schema could not be brought up to date; see the message."


class SchemaTooNew(MigrationError):
    """The warehouse file was written by a newer retab-warehouse (a schema version we do not know)."""

    advice = "upgrade retab-warehouse, or point RETAB_DUCKDB_PATH at another file."


class SourceMismatch(WarehouseFileError):
    """The warehouse file holds data from another API base URL than the one being synced."""

    advice = "set RETAB_DUCKDB_PATH to another file for this source."


class LoadError(WarehouseError):
    """One partition could not be replaced; it keeps its previous content."""

    retryable = True
    advice = "the day keeps its previous content; the next sync tries it again."


class PartitionMismatch(LoadError, ValueError):
    """The spool holds rows outside the (endpoint, day) partition being replaced."""


class IncompletePartition(LoadError, ValueError):
    """The page walk did not reach the end of the listing, so the day must not be replaced."""


class SpoolSchemaError(LoadError, ValueError):
    """A batch does not have the declared schema of its table."""

    retryable = False
    advice = "a bug: the flattener's output does not match the declared schema; report it."


class SpillFailed(LoadError, OSError):
    """A spill file could not be written: a full disk, a file-size limit, a folder not writable."""

    advice = "free some disk space next to the warehouse (or in the temp folder), then retry."


class LakeConflict(LoadError):
    """A DuckLake transaction conflict (another writer committed the same table) that outlived the retries."""

    advice = "another sync wrote the same lake tables at the same time; the next sync loads this day."


class LoadOutOfMemory(LoadError):
    """DuckDB ran out of memory loading a day, even with the most memory a load may take
    (pipelines.load.memory)."""

    retryable = False
    advice = (
        "the day keeps its previous content; its records need more memory than a load may take (the "
        "message says how much): run the sync on a machine with more memory."
    )


class UnreadableRecord(WarehouseError):
    """A record a reader cannot read; its reason is found by pipelines.transform.rules."""

    advice = "the record is kept in retab.rejected_records with the reason."


class QueryFailed(WarehouseError):
    """The query could not run: a SQL error, a missing file, a locked or missing warehouse."""

    advice = "see the message and its hint."

    @property
    def exit_code(self) -> int:
        """`sql` and `report` exit 1 on any failed query (their contract since the first release)."""
        return EXIT_FAILED


class ReportUnavailable(WarehouseError):
    """The warehouse cannot be reported on yet (no analytics views)."""

    advice = "run `retab-warehouse sync` first: it creates the views."

    @property
    def exit_code(self) -> int:
        """Like QueryFailed's."""
        return EXIT_FAILED


@dataclass(frozen=True)
class Classification:
    """What an exception means for the one deciding what to do next."""

    retryable: bool
    stops_endpoint: bool
    exit_code: int
    advice: str


def classify(error: BaseException) -> Classification:
    """The tree's answers for `error`; an exception from outside the tree may pass (retryable)."""
    if isinstance(error, WarehouseError):
        return Classification(error.retryable, error.stops_endpoint, error.exit_code, error.advice)
    if isinstance(error, KeyboardInterrupt):
        return Classification(True, True, EXIT_INTERRUPTED, "run the same command again to finish.")
    return Classification(True, False, EXIT_FAILED, "an unexpected error; a later run may get through.")
