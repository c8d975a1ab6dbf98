"""Long work of a page (the preview, comparing runs) in a thread; its page refreshes with the
progress lines until the result is there."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException

from ..api import redact
from ..errors import SqlCompilerError


@dataclass
class Job:
    user: str
    lines: list[str] = field(default_factory=list)
    result: Any = None
    error: str | None = None


class Jobs:
    """Long work (the preview) in a thread; its page refreshes with the progress lines."""

    def __init__(self, keep: int = 50) -> None:
        self._jobs: dict[str, Job] = {}
        self._keep = keep
        self._lock = threading.Lock()

    def start(self, user: str, work) -> str:
        job_id = secrets.token_urlsafe(12)
        job = Job(user)
        with self._lock:
            self._jobs[job_id] = job
            while len(self._jobs) > self._keep:
                self._jobs.pop(next(iter(self._jobs)))

        def run() -> None:
            try:
                job.result = work(job.lines.append)
            except SqlCompilerError as exc:
                job.error = str(exc)
            except Exception as exc:  # shown on the page, not a traceback
                job.error = f"it failed: {type(exc).__name__}: {redact(str(exc))}"

        threading.Thread(target=run, daemon=True).start()
        return job_id

    def get(self, job_id: str, user: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.user != user:
            raise HTTPException(404, "no such preview (they are kept for the last 50)")
        return job
