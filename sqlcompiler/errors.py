"""One error hierarchy: the CLI prints these as ``Error: …`` without a traceback."""

from __future__ import annotations


class SqlCompilerError(Exception):
    """Base class of every error the CLI reports as a one-line message."""

    exit_code = 1


class EmbeddedError(SqlCompilerError):
    """The project-managed PostgreSQL cluster cannot be found, started or used."""


class ConnectionFailed(SqlCompilerError):
    """The target database cannot be reached."""


class MigrationError(SqlCompilerError):
    """The schema is missing, too old or cannot be migrated."""


class ConfigError(SqlCompilerError):
    """A configuration file or the configuration tables are invalid.

    ``problems`` holds every finding as ``(location, message)`` so a user can fix all of
    them in one pass instead of one per run.
    """

    def __init__(self, problems: list[tuple[str, str]] | str):
        if isinstance(problems, str):
            problems = [("", problems)]
        self.problems = problems
        lines = [f"{loc}: {msg}" if loc else msg for loc, msg in problems]
        if len(lines) == 1:
            text = lines[0]
        else:
            text = f"{len(lines)} configuration problems:\n" + "\n".join(f"  - {x}" for x in lines)
        super().__init__(text)


class UploadError(SqlCompilerError):
    """A custom-field upload file has bad rows; nothing was written."""


class CompileError(SqlCompilerError):
    """The configuration cannot be compiled into SQL."""


class RunError(SqlCompilerError):
    """A run failed; it is marked failed and previous results stay visible."""


class RunLocked(RunError):
    """Another run holds the run lock: nothing was done, try again later.

    Exit code 75 (EX_TEMPFAIL from sysexits.h), so a scheduler can tell "retry" from "failed".
    """

    exit_code = 75


HELD_EXIT_CODE = 3  # a guard held the run: nothing published, previous results current


class RelayError(SqlCompilerError):
    """Publishing results to Kafka failed."""


class SourceError(SqlCompilerError):
    """The bank-sync source (postgres_fdw server, replica) cannot be set up or read.

    ``sqlstate`` carries the database's error class when one caused it, so callers classify
    (a missing privilege, say) by code rather than by message text.
    """

    def __init__(self, message: str, *, sqlstate: str | None = None):
        super().__init__(message)
        self.sqlstate = sqlstate


class ApprovalRequired(SqlCompilerError):
    """A change to the live configuration without the second person four-eyes mode asks for."""
