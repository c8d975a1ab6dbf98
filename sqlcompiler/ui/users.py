"""The workbench's users in token mode: one line per person in a file the operator keeps
(``SQLCOMPILER_UI_USERS``), ``name:role:scrypt$n$r$p$salt$hash``, written by
``sqlcompiler ui user add``. Each person has a secret of their own, so the name at login is
proven, not typed: four eyes needs two people, not two names.

scrypt comes with Python (hashlib), so no extra dependency; the parameters travel with each
hash, so they can be raised later without invalidating the file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from ..errors import SqlCompilerError

ROLES = ("viewer", "editor", "approver")
NAME = re.compile(r"^[^\s:\x00-\x1f]{1,64}$")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
MIN_SECRET = 12


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, **SCRYPT, maxmem=64 * 1024 * 1024)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                             p=int(p), maxmem=64 * 1024 * 1024)  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


# compared against when the name is unknown, so that a wrong name costs what a wrong secret does
_DUMMY = hash_secret(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    secret_hash: str


def read_users(path: str | Path) -> dict[str, Account]:
    """The users file; a bad line is an error naming the line (the workbench does not start)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SqlCompilerError(f"SQLCOMPILER_UI_USERS: cannot read {p}: {exc.strerror}") from None
    users: dict[str, Account] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, rest = line.partition(":")
        role, _, secret_hash = rest.partition(":")
        if not NAME.match(name) or role not in ROLES or not secret_hash.startswith("scrypt$"):
            raise SqlCompilerError(
                f"{p} line {n}: expected name:role:scrypt$… with a role of {', '.join(ROLES)}; "
                "write lines with `sqlcompiler ui user add NAME --role ROLE`"
            )
        users[name] = Account(name, role, secret_hash)
    return users


def check(users: dict[str, Account], name: str, secret: str) -> Account | None:
    account = users.get(name)
    ok = verify_secret(secret, account.secret_hash if account else _DUMMY)
    return account if ok and account else None


def add_user(path: str | Path, name: str, role: str, secret: str) -> bool:
    """Add or replace ``name``'s line (True when replaced); the file is kept private (0600)."""
    if not NAME.match(name):
        raise SqlCompilerError(
            f"user name {name!r}: 1-64 characters without spaces, colons or control characters"
        )
    if role not in ROLES:
        raise SqlCompilerError(f"role {role!r}: use one of {', '.join(ROLES)}")
    if len(secret) < MIN_SECRET:
        raise SqlCompilerError(
            f"the secret of {name} is too short: at least {MIN_SECRET} characters"
        )
    p = Path(path)
    lines = p.read_text(encoding="utf-8").splitlines() if p.exists() else []
    kept = [ln for ln in lines if ln.partition(":")[0] != name]
    kept.append(f"{name}:{role}:{hash_secret(secret)}")
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(kept) + "\n")
    os.replace(tmp, p)
    return len(kept) == len(lines)
