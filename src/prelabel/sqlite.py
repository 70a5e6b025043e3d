"""The one SQLite layer: connections with the project's pragmas, versioned migrations, safe transactions.

Every store (bulk jobs, the async service, the review portal) opens its file through :func:`connect`, brings its
schema up to date with :func:`migrate` (keyed on ``PRAGMA user_version``, never by probing for columns) and
changes state only inside :func:`transaction`, which rolls back on any error so that one failed write never
leaves a connection inside an open transaction.

Connections are opened in autocommit mode (``isolation_level=None``): a statement outside :func:`transaction`
commits on its own; a multi-statement change must use :func:`transaction`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from prelabel.errors import PrelabelError

#: A migration is SQL text (run with ``executescript``) or a function of the connection.
Migration = str | Callable[[sqlite3.Connection], None]


class SchemaError(PrelabelError):
    """A database written by a newer prelabel, or a migration that failed."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"database {path}: {reason}")
        self.path = path
        self.reason = reason


def connect(
    path: str | Path,
    *,
    synchronous: Literal["OFF", "NORMAL", "FULL"] = "NORMAL",
    busy_timeout_s: float = 30.0,
    foreign_keys: bool = True,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """Open ``path`` (created if missing) in WAL mode with rows addressable by column name."""
    conn = sqlite3.connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=check_same_thread)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
    conn.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    return conn


def begin_immediate(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, waiting for another writer in short steps.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between tries, but the
    writers here hold the lock for well under a millisecond: in the async service 9-19 % of transactions waited,
    for 17-54 ms at the 99th percentile, long after the lock was free. So the connection's busy timeout is
    suspended for this one statement and the lock is tried again after 50 us, doubling up to 2 ms, until the same
    timeout has passed (then SQLite's "database is locked" error, as before)."""
    timeout_ms = int(conn.execute("PRAGMA busy_timeout").fetchone()[0])
    conn.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + timeout_ms / 1000
        delay = 0.00005
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                if getattr(e, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.002)
    finally:
        conn.execute(f"PRAGMA busy_timeout={timeout_ms}")


@contextmanager
def transaction(conn: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (one writer at a time) ... ``COMMIT``; ``ROLLBACK`` on any exception, then re-raise."""
    if immediate:
        begin_immediate(conn)
    else:
        conn.execute("BEGIN")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


def user_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Migration], *, path: str = "database") -> int:
    """Apply ``migrations[v:]`` where ``v`` is the file's ``user_version``; returns the new version.

    Migration ``i`` brings the schema from version ``i`` to ``i + 1``; each runs in its own transaction together
    with the version bump, so a crash leaves the file at a whole version. A file newer than this code is refused.
    """
    target = len(migrations)
    with transaction(conn):
        current = user_version(conn)
    if current > target:
        raise SchemaError(
            path, f"schema version {current} is newer than this prelabel understands ({target}); upgrade prelabel"
        )
    for version in range(current, target):
        step = migrations[version]
        try:
            with transaction(conn):
                if user_version(conn) != version:  # another process migrated meanwhile
                    continue
                if isinstance(step, str):
                    for statement in statements(step):
                        conn.execute(statement)
                else:
                    step(conn)
                conn.execute(f"PRAGMA user_version={version + 1}")
        except sqlite3.Error as exc:
            raise SchemaError(path, f"migration to version {version + 1} failed: {exc}") from exc
    return target


def adopt_unversioned(
    conn: sqlite3.Connection, marker_table: str, version: int = 1, *, baseline: Migration | None = None
) -> bool:
    """Stamp a file written before schemas were versioned: ``user_version`` 0 but ``marker_table`` exists.

    Such a file holds the schema of version ``version`` (prelabel 0.1's files: version 1), so it is stamped with
    that version and :func:`migrate` then applies only the later migrations. ``baseline`` (that version's own,
    idempotent ``CREATE ... IF NOT EXISTS`` script) is run first, completing a schema an old writer left half made.
    Checked and stamped in one ``BEGIN IMMEDIATE`` transaction, so a process creating the file at the same time is
    never mistaken for an old file. Returns True when the file was stamped.
    """
    with transaction(conn):
        if user_version(conn) != 0:
            return False
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (marker_table,))
        if found.fetchone() is None:
            return False
        if isinstance(baseline, str):
            for statement in statements(baseline):
                conn.execute(statement)
        elif baseline is not None:
            baseline(conn)
        conn.execute(f"PRAGMA user_version={int(version)}")
    return True


def statements(script: str) -> Iterator[str]:
    """Split a script into complete statements (``executescript`` would COMMIT the open transaction)."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf.strip()
            buf = ""
    if buf.strip():
        yield buf.strip()


class ThreadLocalConnections:
    """One connection per thread to the same file, opened lazily with the same settings."""

    def __init__(self, path: str | Path, **options: object) -> None:
        self.path = Path(path)
        self._options = options
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, **self._options)  # type: ignore[arg-type]
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
