"""Passwords (salted scrypt, constant-time compare), sessions (random tokens, only their hashes stored) and CSRF."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prelabel.review.db import Database, now
from prelabel.review.errors import AuthError, PermissionDeniedError

# scrypt cost: 16 MiB of memory and ~50 ms a hash; stored with the hash so it can be raised later
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SESSION_HOURS = 12
MIN_PASSWORD = 8


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# a hash of a random password: unknown users cost the same time as wrong passwords
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def check_password_rules(name: str, password: str) -> None:
    from prelabel.review.errors import ReviewInputError

    if len(password) < MIN_PASSWORD:
        raise ReviewInputError(f"password for {name!r} is too short: {len(password)} characters; need {MIN_PASSWORD}")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    user: str
    role: str
    csrf_token: str
    expires_at: str


def login(db: Database, name: str, password: str) -> tuple[str, Session]:
    """Check the password and open a session. Returns the session token (for the cookie) and the session."""
    with db.connect() as conn:
        row = conn.execute("SELECT name, role, password_hash, active FROM users WHERE name = ?", (name,)).fetchone()
    if row is None:
        verify_password(password, _DUMMY_HASH)
        raise AuthError("wrong user name or password")
    if not verify_password(password, row["password_hash"]) or not row["active"]:
        raise AuthError("wrong user name or password")
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(hours=SESSION_HOURS)).isoformat(timespec="seconds")
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO sessions (token_hash, user_name, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (token_hash(token), row["name"], csrf, now(), expires),
        )
        conn.execute("DELETE FROM sessions WHERE expires_at < ?", (datetime.now(UTC).isoformat(timespec="seconds"),))
    return token, Session(user=row["name"], role=row["role"], csrf_token=csrf, expires_at=expires)


def session_for(db: Database, token: str | None) -> Session:
    """The live session for a cookie token; :class:`AuthError` when missing, unknown or expired."""
    if not token:
        raise AuthError("not signed in")
    with db.connect() as conn:
        row = conn.execute(
            "SELECT s.user_name, s.csrf_token, s.expires_at, u.role, u.active FROM sessions s "
            "JOIN users u ON u.name = s.user_name WHERE s.token_hash = ?",
            (token_hash(token),),
        ).fetchone()
    if row is None or not row["active"]:
        raise AuthError("not signed in (unknown session)")
    if row["expires_at"] < datetime.now(UTC).isoformat(timespec="seconds"):
        raise AuthError("session expired; sign in again")
    return Session(user=row["user_name"], role=row["role"], csrf_token=row["csrf_token"], expires_at=row["expires_at"])


def logout(db: Database, token: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash(token),))


def check_csrf(session: Session, sent: str | None) -> None:
    """Refuse a state-changing request whose CSRF token is missing or differs from the session's."""
    if not sent:
        raise PermissionDeniedError("missing CSRF token (send the X-CSRF-Token header or the csrf_token form field)")
    if not hmac.compare_digest(sent.encode("utf-8"), session.csrf_token.encode("utf-8")):
        raise PermissionDeniedError("CSRF token does not match this session")
