"""The declarative configuration and the custom-field registry."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import api, console
from ..console import echo_err
from .options import FILE, Ctx, as_of_option, format_option, jobs_option, pass_ctx


@click.group()
def config() -> None:
    """Declarative campaign configuration: validate, plan, apply, export."""


@config.command("validate")
@FILE
@pass_ctx
def config_validate(ctx: Ctx, file: str) -> None:
    """Check FILE's structure and semantics against the live catalog."""
    cfg = api.validate_file(ctx.dsn, file)
    n = sum(len(g.campaigns) for g in cfg.groups)
    click.echo(
        f"{file}: valid ({len(cfg.groups)} groups, {n} campaigns, fingerprint {cfg.fingerprint[:12]})"
    )


@config.command("plan")
@FILE
@click.option(
    "--preview",
    is_flag=True,
    help="Also evaluate FILE over the current bank-sync data, without publishing anything: "
    "per campaign the customers assigned, contacts, who enters, leaves or moves against the "
    "current results, and warnings.",
)
@click.option(
    "--show-customers",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="With --preview: up to N sample cifs per movement.",
)
@format_option()
@jobs_option("With --preview: connections running the run statement, as `run --jobs`")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when nothing would change, 2 when something would (1 on error), as Terraform.",
)
@as_of_option("(with --preview)")
@pass_ctx
def config_plan(
    ctx: Ctx,
    file: str,
    preview: bool,
    show_customers: int,
    fmt: str,
    jobs: int | None,
    detailed_exitcode: bool,
    as_of,
) -> None:
    """Show what `config apply FILE` would change (and, with --preview, what it would do)."""
    if preview:
        result = api.preview_file(
            ctx.dsn, file, show_customers=show_customers, jobs=jobs, progress=echo_err, as_of=as_of
        )
        click.echo(console.to_json(result.to_json()) if fmt == "json" else console.preview(result))
        changed = result.changed
    else:
        changes = api.plan_file(ctx.dsn, file)
        same = "no changes: the database already holds this configuration"
        click.echo(console.changes(changes, fmt=fmt, same=same))
        changed = bool(changes)
    if detailed_exitcode and changed:
        click.get_current_context().exit(2)


@config.command("history")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@pass_ctx
def config_history(ctx: Ctx, limit: int) -> None:
    """Applied configuration versions: who, when, fingerprint, what changed."""
    versions = api.config_history(ctx.dsn, limit)
    if versions:
        click.echo(console.config_versions(versions))


@config.command("diff")
@click.argument("a", type=int)
@click.argument("b", type=int)
@pass_ctx
def config_diff(ctx: Ctx, a: int, b: int) -> None:
    """What changed from configuration version A to version B (see `config history`)."""
    changes = api.config_diff(ctx.dsn, a, b)
    click.echo(console.changes(changes, same=f"versions {a} and {b} are the same"))


@config.command("rollback")
@click.argument("version", type=int)
@click.option("--applied-by", help="Who rolls back (default: the OS user).")
@pass_ctx
def config_rollback(ctx: Ctx, version: int, applied_by: str | None) -> None:
    """Apply configuration VERSION again, recorded as a new version like any apply."""
    res = api.config_rollback(ctx.dsn, version, applied_by)
    for c in res.changes:
        click.echo(str(c))
    click.echo(
        f"rolled back to version {version}: {len(res.changes)} changes, fingerprint "
        f"{res.fingerprint[:12]}"
        if res.changes
        else f"no changes: version {version} is what the database holds"
    )


@config.command("apply")
@FILE
@click.option("--applied-by", help="Who applies it (default: the OS user).")
@pass_ctx
def config_apply(ctx: Ctx, file: str, applied_by: str | None) -> None:
    """Make the configuration tables equal FILE, all or nothing, and record it."""
    res = api.apply_file(ctx.dsn, file, applied_by)
    for c in res.changes:
        click.echo(str(c))
    click.echo(
        f"applied {len(res.changes)} changes, fingerprint {res.fingerprint[:12]}"
        if res.changes
        else "no changes"
    )


@config.command("lint")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--strict", is_flag=True, help="Exit with code 1 when there are warnings.")
@pass_ctx
def config_lint(ctx: Ctx, file: str | None, strict: bool) -> None:
    """Warn about legal but suspicious configuration (FILE, or the stored one).

    Campaigns that can never win, contradictory or duplicate conditions, campaigns without
    contact rules, rules without outputs, custom fields never used or never uploaded.
    """
    findings = api.lint(ctx.dsn, file)
    click.echo(console.lint_findings(findings))
    if strict and findings:
        sys.exit(1)


@config.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the configuration file (for editors)."""
    click.echo(console.to_json(api.config_json_schema()))


@config.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True
)
@pass_ctx
def config_export(ctx: Ctx, file: str | None, fmt: str) -> None:
    """Write the database configuration as a file (stdout without FILE)."""
    text = api.export_config(ctx.dsn, fmt)
    if file:
        Path(file).write_text(text, encoding="utf-8")
        click.echo(f"wrote {file}")
    else:
        click.echo(text, nl=False)


@click.group("custom-fields")
def custom_fields() -> None:
    """Register custom fields and upload their per-loan values."""


@custom_fields.command("add")
@click.argument("name")
@click.option(
    "--type", "data_type", required=True, type=click.Choice(["string", "number", "date", "boolean"])
)
@click.option("--description")
@pass_ctx
def custom_fields_add(ctx: Ctx, name: str, data_type: str, description: str | None) -> None:
    """Register custom field NAME (a key of loan_custom_fields.fields)."""
    api.add_custom_field(ctx.dsn, name, data_type, description)
    click.echo(f"registered {name} ({data_type})")


@custom_fields.command("list")
@pass_ctx
def custom_fields_list(ctx: Ctx) -> None:
    """List the registered custom fields."""
    fields = api.list_custom_fields(ctx.dsn)
    if fields:
        click.echo(console.custom_fields(fields))


@custom_fields.command("upload")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--source-system", required=True, help="System that computed the values.")
@click.option("--uploaded-by", required=True, help="Who uploads them.")
@click.option(
    "--mode",
    type=click.Choice(["merge", "replace"]),
    default="merge",
    show_default=True,
    help="merge: update the given keys of each loan; replace: the loan's fields become the line's.",
)
@click.option(
    "--reject-file", type=click.Path(dir_okay=False), help="Write bad lines here and load the rest."
)
@pass_ctx
def custom_fields_upload(
    ctx: Ctx, file: str, source_system: str, uploaded_by: str, mode: str, reject_file: str | None
) -> None:
    """Upload values from FILE: CSV (account_number + one column per field) or JSON lines.

    Every value is checked against its field's data_type; unknown fields and unknown account
    numbers are reported. Any bad line and nothing is written, unless --reject-file is given.
    """
    res = api.upload_custom_fields(
        ctx.dsn, file, source_system=source_system, uploaded_by=uploaded_by, mode=mode,
        reject_file=reject_file, progress=echo_err,
    )  # fmt: skip
    click.echo(
        f"loaded {res.loaded:,} loans ({res.inserted:,} new, {res.updated:,} updated) in {res.seconds:.1f}s"
        + (f"; {res.rejected:,} bad lines written to {reject_file}" if res.rejected else "")
    )


@click.command("fields")
@format_option()
@pass_ctx
def fields(ctx: Ctx, fmt: str) -> None:
    """What a condition may use: per data source each field with its type, share missing,
    distinct count, and top values (strings, booleans) or min / median / max (numbers, dates).

    One pass per table; tables above 200,000 rows are sampled (TABLESAMPLE) and the output
    says so.
    """
    click.echo(console.fields_report(api.fields(ctx.dsn), fmt))


COMMANDS = (config, custom_fields, fields)
