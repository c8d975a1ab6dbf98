"""One statement per campaign group, from the template, as a sqlglot tree.

Cost grows mildly with the number of campaigns: each input table is scanned once per group
whatever the number of campaigns; a campaign adds one aggregate column over the loans (only
when it has loan-level conditions) and one CASE branch over the customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
import sqlglot
from sqlglot import exp

from ..config.model import Campaign, Configuration, Group
from ..errors import CompileError
from .conditions import LOAN, collate_c, conjunction, predicate, split

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(TEMPLATES)),
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # noqa: S701 - renders SQL built by sqlglot, parsed back right away
    keep_trailing_newline=True,
)

RUN_ID = exp.Cast(
    this=exp.func("current_setting", exp.Literal.string("sqlcompiler.run_id")),
    to=exp.DataType.build("BIGINT"),
)
EMPTY_TEXT_ARRAY = exp.Cast(this=exp.Array(expressions=[]), to=exp.DataType.build("TEXT[]"))


@dataclass(frozen=True)
class CompiledGroup:
    group: Group
    tree: exp.Expression
    header: str

    @property
    def sql(self) -> str:
        """The statement as executed (no header)."""
        return self.tree.sql(dialect="postgres")

    def pretty(self) -> str:
        return self.header + self.tree.sql(dialect="postgres", pretty=True) + ";\n"


def _sql(e: exp.Expression) -> str:
    return e.sql(dialect="postgres")


class _LoanColumns:
    """Aggregates over the loans, shared between identical condition sets."""

    def __init__(self) -> None:
        self.columns: list[tuple[str, str]] = []
        self._by_sql: dict[tuple[str, str], str] = {}

    def add(self, kind: str, name: str, cond: exp.Expression) -> exp.Expression:
        if kind == "accounts":
            # Unordered: an ORDER BY inside the aggregate costs a sort per customer and column
            # and rules out hash aggregation; only the winner's array is sorted (in picked).
            agg: exp.Expression = exp.Filter(
                this=exp.ArrayAgg(this=exp.column("account_number", table=LOAN)),
                expression=exp.Where(this=cond.copy()),
            )
        else:
            agg = exp.func("bool_or", cond.copy())
        key = (kind, _sql(cond))
        if key not in self._by_sql:
            self._by_sql[key] = name
            self.columns.append((name, _sql(agg)))
        return exp.column(self._by_sql[key], table="lm")


def _sorted_array(arr: exp.Expression) -> exp.Expression:
    """ARRAY(SELECT u.x FROM unnest(arr) AS u(x) ORDER BY u.x COLLATE "C"): byte order."""
    x = exp.column("x", table="u")
    alias = exp.TableAlias(this=exp.to_identifier("u"), columns=[exp.to_identifier("x")])
    sub = (
        exp.select(x)
        .from_(exp.Unnest(expressions=[arr.copy()], alias=alias))
        .order_by(exp.Ordered(this=collate_c(x.copy())))
    )
    return exp.Array(expressions=[sub])


def _campaign_parts(
    k: int, campaign: Campaign, loans: _LoanColumns
) -> tuple[exp.Expression, exp.Expression | None, exp.Expression | None]:
    """(match condition, account numbers, rule ids) of the k-th campaign."""
    if campaign.id is None:
        raise CompileError(
            f"campaign {campaign.name!r} has no database id; compile from the database"
        )
    cust, loan = split(campaign.conditions)
    preds = [predicate(c) for c in cust]
    accounts = None
    if loan:
        accounts = loans.add("accounts", f"a_c{k}", conjunction(predicate(c) for c in loan))
        preds.append(exp.Not(this=exp.Is(this=accounts, expression=exp.Null())))
    match = conjunction(preds)

    rule_items: list[exp.Expression] = []
    for j, rule in enumerate(campaign.rules, start=1):
        if not rule.outputs:
            continue  # contributes nothing
        rcust, rloan = split(rule.conditions)
        rpreds = [predicate(c) for c in rcust]
        if rloan:
            rpreds.append(
                loans.add("match", f"m_c{k}_r{j}", conjunction(predicate(c) for c in rloan))
            )
        rid = exp.Literal.number(rule.id)
        if rpreds:
            rule_items.append(exp.Case(ifs=[exp.If(this=conjunction(rpreds), true=rid)]))
        else:
            rule_items.append(rid)
    rule_ids = None
    if rule_items:
        arr = exp.Array(expressions=rule_items)
        if any(isinstance(x, exp.Case) for x in rule_items):
            rule_ids = exp.func("array_remove", arr, exp.Null())
        else:
            rule_ids = arr
    return match, accounts, rule_ids


def _header(group: Group, fingerprint: str, population: bool) -> str:
    lines = [
        f"-- campaign group {group.name!r} (id {group.id})",
        f"-- configuration fingerprint {fingerprint or 'unknown'}",
        "-- campaigns in priority order (the first match wins):",
    ]
    for c in group.campaigns:
        lines.append(
            f"--   {c.priority:>5}  {c.name!r} (id {c.id}): {len(c.conditions)} conditions, "
            f"{len(c.rules)} contact rules"
        )
    if not group.campaigns:
        lines.append("--   (none: the group assigns nobody)")
    lines.append(
        "-- population: "
        + ("the cifs in pg_temp.run_population" if population else "every customer")
    )
    lines.append(
        "-- run id: current_setting('sqlcompiler.run_id'); writes campaign_results.*_staging"
    )
    return "\n".join(lines).replace("\r", " ").replace("*/", "* /") + "\n"


def compile_group(
    group: Group,
    *,
    fingerprint: str = "",
    population: bool = False,
    source_schema: str = "bank_sync_service",
) -> CompiledGroup:
    if group.id is None:
        raise CompileError(f"group {group.name!r} has no database id; compile from the database")
    loans = _LoanColumns()
    ifs, account_cases, rule_cases, outputs = [], [], [], []
    uses_custom = False
    for k, campaign in enumerate(group.campaigns, start=1):
        match, accounts, rule_ids = _campaign_parts(k, campaign, loans)
        cid = exp.Literal.number(campaign.id)
        ifs.append(exp.If(this=match, true=cid))
        if accounts is not None:
            account_cases.append(exp.If(this=cid.copy(), true=_sorted_array(accounts)))
        if rule_ids is not None:
            rule_cases.append(exp.If(this=cid.copy(), true=rule_ids))
        for rule in campaign.rules:
            uses_custom |= any(c.source == "custom" for c in rule.conditions)
            for o in rule.outputs:
                outputs.append(
                    exp.Tuple(
                        expressions=[
                            exp.Literal.number(rule.id),
                            exp.Literal.number(rule.priority),
                            exp.Literal.string(o.party),
                            exp.Literal.string(o.contact),
                        ]
                    )
                )
        uses_custom |= any(c.source == "custom" for c in campaign.conditions)

    wid = exp.column("campaign_id", table="w")
    campaign_case = (
        exp.Case(ifs=ifs) if ifs else exp.Cast(this=exp.Null(), to=exp.DataType.build("BIGINT"))
    )
    account_numbers = (
        exp.Case(this=wid, ifs=account_cases, default=EMPTY_TEXT_ARRAY.copy())
        if account_cases
        else EMPTY_TEXT_ARRAY.copy()
    )
    rule_ids = (
        exp.Case(this=wid.copy(), ifs=rule_cases)
        if rule_cases
        else exp.Cast(this=exp.Null(), to=exp.DataType.build("BIGINT[]"))
    )

    def table(name: str) -> str:
        return _sql(exp.table_(exp.to_identifier(name), db=exp.to_identifier(source_schema)))

    rendered = _env.get_template("group.sql.j2").render(
        loan_columns=loans.columns,
        uses_custom=uses_custom,
        population=population,
        loans=table("loans"),
        custom_fields=table("loan_custom_fields"),
        customers=table("customers"),
        references=table("reference_customers"),
        phones=table("phones"),
        account_numbers=_sql(account_numbers),
        rule_ids=_sql(rule_ids),
        campaign_case=_sql(campaign_case),
        run_id=_sql(RUN_ID),
        group_id=_sql(exp.Literal.number(group.id)),
        outputs=", ".join(_sql(o) for o in outputs),
    )
    try:
        tree = sqlglot.parse_one(rendered, read="postgres")
    except sqlglot.errors.ParseError as exc:  # a bug in the template, never user input
        raise CompileError(
            f"internal error: generated SQL for group {group.name!r} does not parse: {exc}"
        ) from None
    return CompiledGroup(group=group, tree=tree, header=_header(group, fingerprint, population))


def compile_config(
    config: Configuration,
    *,
    group: str | None = None,
    population: bool = False,
    source_schema: str = "bank_sync_service",
) -> list[CompiledGroup]:
    groups = config.groups
    if group is not None:
        groups = tuple(g for g in groups if g.name == group)
        if not groups:
            names = ", ".join(repr(g.name) for g in config.groups) or "none"
            raise CompileError(f"no campaign group named {group!r}; groups: {names}")
    return [
        compile_group(
            g, fingerprint=config.fingerprint, population=population, source_schema=source_schema
        )
        for g in groups
    ]
