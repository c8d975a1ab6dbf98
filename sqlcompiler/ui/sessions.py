"""Server-side sessions and the login rate limit.

The cookie holds only a random session id: logging out (or the session expiring) forgets the id
here, so a copied cookie is worth nothing afterwards. Sessions live in the workbench process: a
restart logs everyone out, which is the safe side for a tool that changes who gets called.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

IDLE_SECONDS = 30 * 60
ABSOLUTE_SECONDS = 10 * 3600


@dataclass
class Session:
    name: str
    role: str
    created: float
    seen: float


class Sessions:
    def __init__(self, idle: float = IDLE_SECONDS, absolute: float = ABSOLUTE_SECONDS) -> None:
        self.idle, self.absolute = idle, absolute
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._by_id[sid] = Session(name, role, now, now)
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            s = self._by_id.get(sid)
            if s is None:
                return None
            if now - s.seen > self.idle or now - s.created > self.absolute:
                del self._by_id[sid]
                return None
            s.seen = now
            return s

    def revoke(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


class LoginLimiter:
    """At most ``per_name`` failed logins per name and ``per_address`` per client address in a
    sliding window: guessing a secret costs hours, a typo costs nothing."""

    def __init__(self, per_name: int = 5, per_address: int = 20, window: float = 900) -> None:
        self.per_name, self.per_address, self.window = per_name, per_address, window
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def blocked(self, name: str, address: str) -> float:
        """Seconds until a login for ``name`` from ``address`` is heard again (0: now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key, limit in (
                (("name", name), self.per_name),
                (("addr", address), self.per_address),
            ):
                q = self._recent(key, now)
                if len(q) >= limit:
                    waits.append(self.window - (now - q[0]))
            return max(waits, default=0.0)

    def failed(self, name: str, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in (("name", name), ("addr", address)):
                q = self._recent(key, now)
                q.append(now)
                if len(q) > 1000:
                    q.popleft()
