"""Users and roles: admins create workers and jobs and assign work; workers see only their own tasks."""

from __future__ import annotations

import re
from dataclasses import dataclass

from prelabel.review import audit
from prelabel.review.auth import check_password_rules, hash_password
from prelabel.review.db import Database, now
from prelabel.review.errors import NotFoundError, ReviewInputError

ROLES = ("admin", "worker")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str
    active: bool
    created_at: str


def check_name(name: str) -> None:
    if not _NAME_RE.match(name):
        raise ReviewInputError(
            f"user name {name!r} is not allowed; expected 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )


def create_user(db: Database, name: str, password: str, role: str = "worker", *, actor: str = "cli") -> User:
    """A new user. Refuses an existing name (nothing is replaced silently), an unknown role, a short password."""
    check_name(name)
    if role not in ROLES:
        raise ReviewInputError(f"role {role!r} is not known; expected one of: {', '.join(ROLES)}")
    check_password_rules(name, password)
    hashed = hash_password(password)
    created = now()
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
            raise ReviewInputError(f"user {name!r} already exists; pick another name or use set-password")
        conn.execute(
            "INSERT INTO users (name, role, password_hash, active, created_at) VALUES (?, ?, ?, 1, ?)",
            (name, role, hashed, created),
        )
        audit.record(conn, actor, "user.create", detail={"user": name, "role": role})
    return User(name=name, role=role, active=True, created_at=created)


def set_password(db: Database, name: str, password: str, *, actor: str = "cli") -> None:
    check_password_rules(name, password)
    hashed = hash_password(password)
    with db.transaction() as conn:
        cur = conn.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, name))
        if cur.rowcount == 0:
            raise NotFoundError("user", name)
        conn.execute("DELETE FROM sessions WHERE user_name = ?", (name,))
        audit.record(conn, actor, "user.set_password", detail={"user": name})


def list_users(db: Database) -> list[User]:
    with db.connect() as conn:
        rows = conn.execute("SELECT name, role, active, created_at FROM users ORDER BY name").fetchall()
    return [User(name=r["name"], role=r["role"], active=bool(r["active"]), created_at=r["created_at"]) for r in rows]
