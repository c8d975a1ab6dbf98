"""One campaign group's part of the run statement (statement.py): its CASE in priority order,
the winner's matched accounts and contact rule mask, its outputs and its header.

Cost grows mildly with the number of campaigns: a loan-level condition set (a campaign's or a
contact rule's loan conditions) becomes one bit of a per-loan bigint mask shared by every
group, so a campaign adds a few boolean tests per loan and one CASE branch per customer, but no
aggregate state: the aggregation per customer is one BIT_OR and two ARRAY_AGGs per 62 sets.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from sqlglot import exp

from ..config.model import Campaign, Condition, Group, Level, Node
from ..errors import CompileError
from .conditions import by_cost, conjunction, predicate, tree_predicate
from .prologue import LoanValues
from .render import sql as _sql

# a scalar subquery: PostgreSQL evaluates it once per statement (an InitPlan), where the bare
# cast of current_setting() is evaluated on every row written (0.6 s per 3.6M rows measured)
RUN_ID = exp.select(
    exp.cast(exp.func("current_setting", exp.Literal.string("sqlcompiler.run_id")), "BIGINT")
).subquery()
EMPTY_TEXT_ARRAY = exp.cast(exp.Array(expressions=[]), "TEXT[]")
BITS = 62  # bits used per bigint mask (keeps every mask positive)
MAX_RULES = BITS


def _bit(n: int) -> exp.Expression:
    return exp.Literal.number(1 << n)


def _bit_or(terms: list[exp.Expression]) -> exp.Expression:
    """t1 | t2 | … (sqlglot has and_/or_ builders for booleans, none for bitwise OR)."""
    return functools.reduce(lambda a, b: exp.BitwiseOr(this=a, expression=b), terms)


class RowTests:
    """Builds predicates over a row of customer (c) and loan values (v): the values loan and
    custom-field conditions test are columns of the run prologue's table, extracted once per
    loan for all groups."""

    def __init__(self, values: LoanValues) -> None:
        self.values = values

    def predicate(self, cond: Condition) -> exp.Expression:
        """A condition over the loan row: loan and custom-field values from the prologue's
        columns (v), customer leaves of a tree from the customer row (c) beside it."""
        if cond.source == "customer":
            return predicate(cond)
        return predicate(cond, self.values.column(cond))

    def conjunction(self, items: list[Condition | Node]) -> exp.Expression:
        return conjunction(tree_predicate(c, self.predicate) for c in by_cost(items))


class RowColumns:
    """The customer and loan values the contact rules read in the run statement's later
    stages (r): carried from the first stage as ``c_<name>`` (a customer column) and under
    their own name (a prologue column: loan_…, custom_… or v<n>, never c_…)."""

    def __init__(self) -> None:
        self._selected: dict[tuple[str, str], exp.Alias] = {}

    def _carry(self, col: exp.Column) -> exp.Column:
        ident = col.this
        key = (col.table, ident.name)
        if key == ("v", "account_number"):  # the first stage selects it anyway
            return exp.column("account_number", table="r")
        if key not in self._selected:
            if col.table == "v":
                alias = ident.copy()
            else:  # identifiers are at most 63 bytes: a long name gets a numbered alias
                short = len(ident.name.encode()) <= 60
                name = f"c_{ident.name}" if short else f"c{len(self._selected)}"
                alias = exp.to_identifier(name, quoted=ident.quoted or not short)
            self._selected[key] = exp.alias_(col.copy(), alias)
        return exp.Column(
            this=self._selected[key].args["alias"].copy(), table=exp.to_identifier("r")
        )

    def on_row(self, e: exp.Expression) -> exp.Expression:
        """``e`` over c and v, rewritten over the carried columns of r."""

        def swap(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Column) and node.table in ("c", "v"):
                return self._carry(node)
            return node

        return e.copy().transform(swap)

    def select(self) -> list[str]:
        return [_sql(e) for e in self._selected.values()]


def _row_match(where: Node, loans: RowTests) -> tuple[exp.Expression, bool]:
    """(the campaign's match on one row of customer and loan, whether it has a loan part).

    The top-level ``all``'s children without a loan-level leaf are tested on the customer; the
    others must hold on the row's loan (same-loan rule, SPEC §3), and a row without a loan (a
    customer without loans) never satisfies them. Customer tests first, cheapest first.
    """
    children = list(where.children) if where.kind == "all" else [where]
    customer = [c for c in children if c.level is Level.CUSTOMER]
    loan = [c for c in children if c.level is Level.LOAN]
    preds = [tree_predicate(c) for c in by_cost(customer)]
    if loan:
        has_loan = exp.Not(
            this=exp.Is(this=exp.column("account_number", table="v"), expression=exp.Null())
        )
        preds += [has_loan, loans.conjunction(loan)]
    return conjunction(preds), bool(loan)


def _campaign_parts(
    campaign: Campaign, loans: RowTests, row: RowColumns
) -> tuple[exp.Expression, bool, exp.Expression | None, list[tuple[int, object]]]:
    """(match on a row, has a loan part, rule bits on a row, [(rule bit, rule)]) of one
    campaign. A rule's bit is set on a row of the customer and one of its loans when the rule
    holds there (its loan-level part on that loan): OR-ed over the customer's rows, the rule
    applies when it holds on the customer with one and the same loan (SPEC §3)."""
    if campaign.id is None:
        raise CompileError(
            f"campaign {campaign.name!r} has no database id; compile from the database"
        )
    match, has_loan = _row_match(campaign.where, loans)

    rules = [r for r in campaign.rules if r.outputs]  # a rule without outputs contributes nothing
    if len(rules) > MAX_RULES:
        raise CompileError(
            f"campaign {campaign.name!r} has {len(rules)} contact rules with outputs; at most {MAX_RULES} are supported"
        )
    terms: list[exp.Expression] = []
    bits = []
    for j, rule in enumerate(rules):
        bits.append((1 << j, rule))
        if rule.where.children:
            holds = row.on_row(_row_match(rule.where, loans)[0])
            terms.append(
                exp.Case(ifs=[exp.If(this=holds, true=_bit(j))], default=exp.Literal.number(0))
            )
        else:
            terms.append(_bit(j))
    return match, has_loan, _bit_or(terms) if terms else None, bits


def _named(campaign: Campaign) -> exp.Expression:
    """The campaign's id with its name beside it, as a comment a reviewer reads."""
    literal = exp.Literal.number(campaign.id)
    literal.comments = [campaign.name]
    return literal


def _rule_legend(campaign: Campaign, bits: list[tuple[int, object]]) -> list[str]:
    out = []
    for bit, rule in bits:
        outputs = ", ".join(f"{o.party} {o.contact}" for o in rule.outputs)
        when = rule.where.describe()
        out.append(
            f"--   {campaign.name!r} (id {campaign.id}) bit {bit.bit_length() - 1} ({bit}): "
            f"rule {rule.priority} when {when} -> {outputs}"
        )
    return out


def _header(group: Group, rule_legend: list[str]) -> list[str]:
    """The group's part of the statement header: its campaigns in priority order with their
    conditions, and the bits of their contact rules."""
    lines = [
        f"-- campaign group {group.name!r} (id {group.id}); per row its rank is column "
        f"{_alias(group)}_rank, per customer its campaign {_alias(group)}_campaign",
        "-- campaigns in priority order (the first match wins):",
    ]
    for c in group.campaigns:
        lines.append(
            f"--   {c.priority:>5}  {c.name!r} (id {c.id}): {len(c.conditions)} conditions, "
            f"{len(c.rules)} contact rules"
        )
        lines.append(f"--          when {c.where.describe()}")
    if not group.campaigns:
        lines.append("--   (none: the group assigns nobody)")
    if rule_legend:
        lines += ["-- contact rule bits (rule_mask of an assignment; bit set = the rule applies):"]
        lines += rule_legend
    return lines


def _alias(group: Group) -> str:
    return f"g{group.id}"


@dataclass(frozen=True)
class GroupPart:
    """One group's decision in the run statement. Per row of customer (c) and loan (v):
    ``row_case``, the rank of the first campaign in priority order that holds on the row. The
    customer's rank is the least over its rows (``<alias>_best`` beside each row, a window);
    per customer, over its rows (r): ``campaign_case`` maps that rank to its campaign,
    ``account_numbers`` lists the loans whose row gave that rank (when the campaign has a
    loan part), ``rule_mask`` ORs the winner's contact rules that hold on each row."""

    group: Group
    alias: str
    row_case: str
    campaign_case: str
    account_numbers: str
    rule_mask: str
    outputs: list[str]  # (campaign id, rule bit, rule priority, party, contact) per output
    header: list[str]


def _accounts(alias: str, loan_ranks: list[int]) -> exp.Expression:
    """The loans of the rows that gave the customer's rank, when that rank's campaign has a
    loan part, in account order (SPEC §4: sorted, byte order). The rows come out of the
    window sorted by customer and account (COLLATE "C") and an aggregate keeps its input
    order, so no sort per customer and group: an ``ORDER BY`` inside the aggregate cost 11 %
    of the run at 100k (measured). The semantic and differential tests compare the arrays."""
    rank, best = exp.column(f"{alias}_rank", table="r"), exp.column(f"{alias}_best", table="r")
    if not loan_ranks:
        return EMPTY_TEXT_ARRAY.copy()
    gave = exp.and_(
        exp.EQ(this=rank, expression=best.copy()),
        exp.In(this=best.copy(), expressions=[exp.Literal.number(k) for k in loan_ranks]),
    )
    agg = exp.Filter(
        this=exp.ArrayAgg(this=exp.column("account_number", table="r")),
        expression=exp.Where(this=gave),
    )
    return exp.Coalesce(this=agg, expressions=[EMPTY_TEXT_ARRAY.copy()])


def group_part(group: Group, loans: RowTests, row: RowColumns) -> GroupPart:
    """The group's part of the run statement; the values its contact rules read are added to
    ``row`` (the run's, shared by every group)."""
    if group.id is None:
        raise CompileError(f"group {group.name!r} has no database id; compile from the database")
    alias = _alias(group)
    row_ifs, rank_ifs, loan_ranks, rule_ifs, outputs, rule_legend = [], [], [], [], [], []
    for rank, campaign in enumerate(group.campaigns, start=1):
        match, has_loan, rule_bits, bits = _campaign_parts(campaign, loans, row)
        rule_legend += _rule_legend(campaign, bits)
        cid = _named(campaign)
        ranked = exp.Literal.number(rank)
        ranked.comments = [campaign.name]
        row_ifs.append(exp.If(this=match, true=ranked))
        rank_ifs.append(exp.If(this=exp.Literal.number(rank), true=cid))
        if has_loan:
            loan_ranks.append(rank)
        if rule_bits is not None:
            rule_ifs.append(exp.If(this=exp.Literal.number(rank), true=rule_bits))
        for bit, rule in bits:
            for o in rule.outputs:
                outputs.append(_sql(exp.Tuple(expressions=[
                    exp.Literal.number(campaign.id), exp.Literal.number(bit), exp.Literal.number(rule.priority),
                    exp.Literal.string(o.party), exp.Literal.string(o.contact),
                ])))  # fmt: skip

    best = exp.column(f"{alias}_best", table="r")
    least = exp.Min(this=best.copy())
    null = exp.cast(exp.Null(), "BIGINT")
    row_case = exp.Case(ifs=row_ifs) if row_ifs else null.copy()
    campaign_case = exp.Case(this=least, ifs=rank_ifs) if rank_ifs else null.copy()
    rule_mask: exp.Expression = exp.Literal.number(0)
    if rule_ifs:
        per_row = exp.Case(this=best.copy(), ifs=rule_ifs)
        rule_mask = exp.Coalesce(
            this=exp.func("BIT_OR", per_row), expressions=[exp.Literal.number(0)]
        )
    return GroupPart(
        group=group,
        alias=alias,
        row_case=_sql(row_case),
        campaign_case=_sql(campaign_case),
        account_numbers=_sql(_accounts(alias, loan_ranks)),
        rule_mask=_sql(exp.cast(rule_mask, "BIGINT")),
        outputs=outputs,
        header=_header(group, rule_legend),
    )
