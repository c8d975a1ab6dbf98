"""What the configuration, compile and administration commands print."""

from __future__ import annotations

from .jsontext import to_json


def changes(found: list, *, fmt: str = "text", same: str = "no changes") -> str:
    """A plan or diff: one line per change (``+``, ``~``, ``-``), or ``same`` when none."""
    if fmt == "json":
        return to_json({"changes": [str(c) for c in found]})
    return "\n".join(map(str, found)) if found else same


def config_versions(versions: list) -> str:
    return "\n".join(
        f"{v.version:>5}  {v.applied_at:%Y-%m-%d %H:%M:%S}  {v.applied_by:<12}  "
        f"{v.fingerprint[:12]}  {v.summary}"
        for v in versions
    )


def lint_findings(findings: list) -> str:
    lines = [str(f) for f in findings]
    return "\n".join([*lines, f"{len(findings)} warning(s)" if findings else "no warnings"])


def custom_fields(fields: list) -> str:
    return "\n".join(f"{f.name:30} {f.data_type:8} {f.description}" for f in fields)


def compiled(statements: list, plans: list, *, preamble: str, settings: list[str],
             analyze: bool, with_sql: bool) -> str:  # fmt: skip
    """``compile``: the preamble and each statement (unless written to files) with its plan
    under it, each plan saying the settings it ran under; printed as it is (no newline added)."""
    applied = ", ".join(s.removeprefix("SET LOCAL ") for s in settings)
    parts = [preamble] if with_sql else []
    for st, plan in zip(statements, plans, strict=True):
        if with_sql:
            parts.append(st.pretty() + "\n")
        if plan:
            parts.append(
                f"-- EXPLAIN{' ANALYZE' if analyze else ''} of {st.title} "
                f"(under SET LOCAL {applied}"
                f"{'; executed, then rolled back: nothing was kept' if analyze else ''}):\n"
                + "\n".join(f"--   {line}" for line in plan.splitlines())
                + "\n\n"
            )
    return "".join(parts)


def grants(statements: list[str], *, as_sql: bool) -> str:
    if as_sql:
        return "\n".join(["BEGIN;", *(f"{st};" for st in statements), "COMMIT;"])
    return f"granted: {len(statements)} statements (db grants --sql shows them)"


def pruned(result, *, dry_run: bool) -> str:
    verb = "would drop" if dry_run else "dropped"
    return (
        f"{verb} the results of {len(result.results)} run(s)"
        + (f" ({', '.join(map(str, result.results))})" if result.results else "")
        + f"; {'would delete' if dry_run else 'deleted'} {len(result.records)} run record(s)"
    )


def key_values(items: dict) -> str:
    return "\n".join(f"{k:12} {v}" for k, v in items.items())
