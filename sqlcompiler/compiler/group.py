"""A run as SQL: a prologue that reads the bank-sync inputs once, then one statement per group.

The prologue materialises, in the run's snapshot, one row per customer with the customer
columns the conditions use and, for every group, the per-customer OR of its loan-level
condition-set bitmasks (plus the accounts and per-loan masks to list a winner's accounts),
and one row per phone a contact rule could name (the customer's own and its references').
Each group statement then reads only those two tables: a CASE in priority order per customer
and the contact pipeline. So loans, custom fields, customers, references and phones are each
scanned once per run whatever the number of groups and campaigns, and a campaign adds a few
boolean tests per loan and one CASE branch per customer, but no aggregate state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import sqlglot
from sqlglot import exp

from ..config.model import Campaign, Configuration, Group
from ..errors import CompileError
from .conditions import collate_c, conjunction, predicate, split, value_expr

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
BITS = 62  # bits used per bigint mask (keeps every mask positive)
MAX_RULES = BITS
RESULTS = "campaign_results"
RUN_CUSTOMERS = "run_customers"  # the prologue table: rebuilt by every run, dropped after it
# per customer, the phones a contact rule could name, as parallel arrays (column, field)
PHONE_COLUMNS = [
    (f"__ph_{col}", col)
    for col in (
        "party_order", "party_cif", "relationship_type", "phone_id", "contact_type",
        "phone_number", "is_primary", "is_verified",
    )
]  # fmt: skip
PARTY_ORDER = {"customer": 0, "reference_customer_all": 1, "reference_customer_parent": 1}
ACCOUNTS = "__accounts"  # prologue column names start with __ so no customer column collides


@dataclass(frozen=True)
class CompiledStatement:
    name: str
    tree: exp.Expression
    header: str
    table: str | None = None  # the campaign_results table a prologue statement creates

    @property
    def sql(self) -> str:
        """The statement as executed (no header)."""
        return self.tree.sql(dialect="postgres")

    def pretty(self) -> str:
        return self.header + self.tree.sql(dialect="postgres", pretty=True) + ";\n"


@dataclass(frozen=True)
class CompiledGroup(CompiledStatement):
    group: Group | None = None


@dataclass
class CompiledRun:
    """The prologue statements (in order), then one statement per group."""

    prologue: list[CompiledStatement]
    groups: list[CompiledGroup]
    population: bool = False  # compiled for a list run (pg_temp.run_population)

    def statements(self) -> list[CompiledStatement]:
        return [*self.prologue, *self.groups]


def _sql(e: exp.Expression) -> str:
    return e.sql(dialect="postgres")


def _bit(n: int) -> exp.Expression:
    return exp.Literal.number(1 << n)


def _bit_set(mask: exp.Expression, n: int) -> exp.Expression:
    """(mask & 2^n) <> 0 — NULL when the customer has no matching loan, which CASE treats as false."""
    return exp.NEQ(
        this=exp.Paren(this=exp.BitwiseAnd(this=mask, expression=_bit(n))),
        expression=exp.Literal.number(0),
    )


def _table(schema: str, name: str) -> str:
    return _sql(exp.table_(exp.to_identifier(name), db=exp.to_identifier(schema)))


@dataclass
class _Values:
    """Loan-level values (a loan column, or a custom field extracted from JSONB with its type
    check), each computed once per loan in the prologue and shared by every group."""

    columns: list[tuple[str, str]] = field(default_factory=list)  # (column, SQL of the value)
    _index: dict[str, str] = field(default_factory=dict)
    uses_custom: bool = False

    def column(self, cond) -> exp.Expression:
        key = _sql(value_expr(cond))
        if key not in self._index:
            self._index[key] = f"x{len(self.columns)}"
            self.columns.append((self._index[key], key))
        self.uses_custom |= cond.source == "custom"
        return exp.column(self._index[key], table="v")


class _LoanSets:
    """Loan-level condition sets of one group, one bit each; identical sets share a bit."""

    def __init__(self, values: _Values, prefix: str) -> None:
        self.values = values
        self.prefix = prefix
        self.sets: list[exp.Expression] = []
        self._index: dict[str, int] = {}

    def conjunction(self, conds) -> exp.Expression:
        return conjunction(predicate(c, self.values.column(c)) for c in conds)

    def add(self, cond: exp.Expression) -> int:
        key = _sql(cond)
        if key not in self._index:
            self._index[key] = len(self.sets)
            self.sets.append(cond)
        return self._index[key]

    def column(self, index: int) -> str:
        return f"{self.prefix}m{index // BITS}"

    def test(self, index: int) -> exp.Expression:
        return _bit_set(exp.column(self.column(index), table="c"), index % BITS)

    def mask_columns(self) -> list[tuple[str, str]]:
        out = []
        for start in range(0, len(self.sets), BITS):
            terms = [
                exp.Case(
                    ifs=[exp.If(this=s.copy(), true=_bit(i - start))], default=exp.Literal.number(0)
                )
                for i, s in enumerate(self.sets[start : start + BITS], start=start)
            ]
            mask: exp.Expression = terms[0]
            for t in terms[1:]:
                mask = exp.BitwiseOr(this=mask, expression=t)
            out.append(
                (self.column(start), _sql(exp.Cast(this=mask, to=exp.DataType.build("BIGINT"))))
            )
        return out

    def accounts(self, index: int) -> exp.Expression:
        """ARRAY(SELECT a FROM unnest(accounts, masks) WHERE bit set ORDER BY a COLLATE "C")."""
        a, m = exp.column("a", table="u"), exp.column("m", table="u")
        alias = exp.TableAlias(
            this=exp.to_identifier("u"), columns=[exp.to_identifier("a"), exp.to_identifier("m")]
        )
        src = exp.Unnest(
            expressions=[
                exp.column(ACCOUNTS, table="c"),
                exp.column(f"{self.column(index)}_loans", table="c"),
            ],
            alias=alias,
        )
        sub = (
            exp.select(a)
            .from_(src)
            .where(_bit_set(m, index % BITS))
            .order_by(exp.Ordered(this=collate_c(a.copy())))
        )
        return exp.Array(expressions=[sub])


def _campaign_parts(
    campaign: Campaign, loans: _LoanSets
) -> tuple[exp.Expression, int | None, exp.Expression | None, list[tuple[int, object]]]:
    """(match condition, loan set index, rule mask, [(rule bit, rule)]) of one campaign."""
    if campaign.id is None:
        raise CompileError(
            f"campaign {campaign.name!r} has no database id; compile from the database"
        )
    cust, loan = split(campaign.conditions)
    preds = [predicate(c) for c in cust]
    set_index = None
    if loan:
        set_index = loans.add(loans.conjunction(loan))
        preds.append(loans.test(set_index))
    match = conjunction(preds)

    rules = [r for r in campaign.rules if r.outputs]  # a rule without outputs contributes nothing
    if len(rules) > MAX_RULES:
        raise CompileError(
            f"campaign {campaign.name!r} has {len(rules)} contact rules with outputs; at most {MAX_RULES} are supported"
        )
    terms: list[exp.Expression] = []
    bits = []
    for j, rule in enumerate(rules):
        rcust, rloan = split(rule.conditions)
        rpreds = [predicate(c) for c in rcust]
        if rloan:
            rpreds.append(loans.test(loans.add(loans.conjunction(rloan))))
        bits.append((1 << j, rule))
        if rpreds:
            terms.append(
                exp.Case(
                    ifs=[exp.If(this=conjunction(rpreds), true=_bit(j))],
                    default=exp.Literal.number(0),
                )
            )
        else:
            terms.append(_bit(j))
    rule_mask = None
    if terms:
        rule_mask = terms[0]
        for t in terms[1:]:
            rule_mask = exp.BitwiseOr(this=rule_mask, expression=t)
    return match, set_index, rule_mask, bits


def _header(group: Group, fingerprint: str) -> str:
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
        f"-- reads the prologue's {RESULTS}.{RUN_CUSTOMERS}; run id: "
        "current_setting('sqlcompiler.run_id'); writes campaign_results.*_staging"
    )
    return _safe_comment(lines)


def _safe_comment(lines: list[str]) -> str:
    return "\n".join(lines).replace("\r", " ").replace("*/", "* /") + "\n"


def _parse(rendered: str, what: str) -> exp.Expression:
    try:
        return sqlglot.parse_one(rendered, read="postgres")
    except sqlglot.errors.ParseError as exc:  # a bug in a template, never user input
        raise CompileError(
            f"internal error: generated SQL for {what} does not parse: {exc}"
        ) from None


@dataclass
class _GroupParts:
    group: Group
    loans: _LoanSets
    customer_fields: set[str]
    has_outputs: bool


def compile_group(
    group: Group, values: _Values, *, fingerprint: str = ""
) -> tuple[CompiledGroup, _GroupParts]:
    if group.id is None:
        raise CompileError(f"group {group.name!r} has no database id; compile from the database")
    loans = _LoanSets(values, f"__g{group.id}_")
    ifs, account_cases, rule_cases, outputs = [], [], [], []
    customer_fields: set[str] = set()
    for campaign in group.campaigns:
        match, set_index, rule_mask, bits = _campaign_parts(campaign, loans)
        cid = exp.Literal.number(campaign.id)
        ifs.append(exp.If(this=match, true=cid))
        if set_index is not None:
            account_cases.append((cid, set_index))
        if rule_mask is not None:
            rule_cases.append(exp.If(this=cid.copy(), true=rule_mask))
        for bit, rule in bits:
            for o in rule.outputs:
                outputs.append(exp.Tuple(expressions=[
                    cid.copy(), exp.Literal.number(bit), exp.Literal.number(rule.priority),
                    exp.Literal.number(PARTY_ORDER[o.party]),
                    exp.Boolean(this=o.party == "reference_customer_parent"),
                    exp.Literal.string(o.contact),
                ]))  # fmt: skip
        for c in (*campaign.conditions, *(c for r in campaign.rules for c in r.conditions)):
            if c.source == "customer":
                customer_fields.add(c.field)

    wid = exp.column("campaign_id", table="w")
    campaign_case = (
        exp.Case(ifs=ifs) if ifs else exp.Cast(this=exp.Null(), to=exp.DataType.build("BIGINT"))
    )
    account_numbers = (
        exp.Case(
            this=wid,
            ifs=[exp.If(this=cid, true=loans.accounts(i)) for cid, i in account_cases],
            default=EMPTY_TEXT_ARRAY.copy(),
        )
        if account_cases
        else EMPTY_TEXT_ARRAY.copy()
    )
    rule_mask = (
        exp.Case(this=wid.copy(), ifs=rule_cases, default=exp.Literal.number(0))
        if rule_cases
        else exp.Literal.number(0)
    )
    rendered = _env.get_template("group.sql.j2").render(
        run_customers=_table(RESULTS, RUN_CUSTOMERS),
        phone_columns=PHONE_COLUMNS,
        account_numbers=_sql(account_numbers),
        rule_mask=_sql(exp.Cast(this=rule_mask, to=exp.DataType.build("BIGINT"))),
        campaign_case=_sql(campaign_case),
        run_id=_sql(RUN_ID),
        group_id=_sql(exp.Literal.number(group.id)),
        outputs=", ".join(_sql(o) for o in outputs),
    )
    compiled = CompiledGroup(
        name=f"group {group.name!r}",
        tree=_parse(rendered, f"group {group.name!r}"),
        header=_header(group, fingerprint),
        group=group,
    )
    return compiled, _GroupParts(group, loans, customer_fields, bool(outputs))


def compile_prologue(
    parts: list[_GroupParts],
    values: _Values,
    *,
    fingerprint: str = "",
    population: bool = False,
    source_schema: str = "bank_sync_service",
) -> list[CompiledStatement]:
    """The statements that read the bank-sync inputs, once per run, for every group."""
    mask_columns = [m for p in parts if p.loans.sets for m in p.loans.mask_columns()]
    customer_columns = sorted(set().union(*(p.customer_fields for p in parts)) - {"cif"})
    for col in customer_columns:
        if col.startswith("__"):
            raise CompileError(
                f"customer column {col!r}: names starting with __ are reserved for the run's "
                "prologue columns; rename the column or do not use it in conditions"
            )
    any_bit: exp.Expression | None = None
    for name, _ in mask_columns:
        term = exp.NEQ(this=exp.column(name, table="s"), expression=exp.Literal.number(0))
        any_bit = term if any_bit is None else exp.Or(this=any_bit, expression=term)
    where = "the cifs in pg_temp.run_population" if population else "every customer"
    header = [
        f"-- prologue: the bank-sync inputs, read once for all {len(parts)} group(s) in the run's snapshot",
        f"-- configuration fingerprint {fingerprint or 'unknown'}; population: {where}",
    ]
    phones = any(p.has_outputs for p in parts)
    customers = _env.get_template("prologue_customers.sql.j2").render(
        target=_table(RESULTS, RUN_CUSTOMERS),
        mask_columns=mask_columns,
        value_columns=values.columns,
        any_bit=_sql(any_bit) if any_bit is not None else "",
        accounts=_sql(exp.to_identifier(ACCOUNTS, quoted=True)),
        customer_columns=[
            _sql(exp.column(exp.to_identifier(c, quoted=True), table="c")) for c in customer_columns
        ],
        uses_custom=values.uses_custom,
        population=population,
        phones=phones,
        phone_columns=PHONE_COLUMNS if phones else [],
        loans=_table(source_schema, "loans"),
        custom_fields=_table(source_schema, "loan_custom_fields"),
        customers=_table(source_schema, "customers"),
        references=_table(source_schema, "reference_customers"),
        phone_table=_table(source_schema, "phones"),
    )
    return [
        CompiledStatement(
            "prologue",
            _parse(customers, "the prologue"),
            _safe_comment(
                [
                    *header,
                    f"-- {RESULTS}.{RUN_CUSTOMERS}: one row per customer with the customer columns the",
                    "-- conditions use; per group the OR of its loan-level condition-set bitmasks over the",
                    "-- customer's loans (with the accounts and per-loan masks, to list a winner's accounts);",
                    "-- and the phones a contact rule could name (own: party_order 0, references': 1)",
                ]
            ),
            RUN_CUSTOMERS,
        )
    ]


def compile_config(
    config: Configuration,
    *,
    group: str | None = None,
    population: bool = False,
    source_schema: str = "bank_sync_service",
) -> CompiledRun:
    groups = config.groups
    if group is not None:
        groups = tuple(g for g in groups if g.name == group)
        if not groups:
            names = ", ".join(repr(g.name) for g in config.groups) or "none"
            raise CompileError(f"no campaign group named {group!r}; groups: {names}")
    values = _Values()
    compiled, parts = [], []
    for g in groups:
        cg, part = compile_group(g, values, fingerprint=config.fingerprint)
        compiled.append(cg)
        parts.append(part)
    prologue = compile_prologue(
        parts,
        values,
        fingerprint=config.fingerprint,
        population=population,
        source_schema=source_schema,
    )
    return CompiledRun(prologue, compiled, population)
