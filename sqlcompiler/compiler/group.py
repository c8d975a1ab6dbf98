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
from .conditions import by_cost, collate_c, conjunction, predicate, tree_predicate
from .prologue import LoanValues
from .render import sql as _sql

RUN_ID = exp.cast(exp.func("current_setting", exp.Literal.string("sqlcompiler.run_id")), "BIGINT")
EMPTY_TEXT_ARRAY = exp.cast(exp.Array(expressions=[]), "TEXT[]")
BITS = 62  # bits used per bigint mask (keeps every mask positive)
MAX_RULES = BITS


def _bit(n: int) -> exp.Expression:
    return exp.Literal.number(1 << n)


def _bit_or(terms: list[exp.Expression]) -> exp.Expression:
    """t1 | t2 | … (sqlglot has and_/or_ builders for booleans, none for bitwise OR)."""
    return functools.reduce(lambda a, b: exp.BitwiseOr(this=a, expression=b), terms)


def _bit_set(mask: exp.Expression, n: int) -> exp.Expression:
    """(mask & 2^n) <> 0 — NULL when the customer has no matching loan, which CASE treats as false."""
    return exp.NEQ(
        this=exp.Paren(this=exp.BitwiseAnd(this=mask, expression=_bit(n))),
        expression=exp.Literal.number(0),
    )


class _LoanSets:
    """Loan-level condition sets of a group, one bit each; identical sets share a bit.

    The values they test are columns of the run prologue's table (``values``), extracted
    once per loan for all groups.
    """

    def __init__(self, values: LoanValues) -> None:
        self.sets: list[exp.Expression] = []
        self.legend: list[tuple[str, list[str]]] = []  # per set: conditions, who tests it
        self._index: dict[str, int] = {}
        self.values = values

    def predicate(self, cond: Condition) -> exp.Expression:
        """A condition over the loan row: loan and custom-field values from the prologue's
        columns (v), customer leaves of a tree from the customer row (c) beside it."""
        if cond.source == "customer":
            return predicate(cond)
        return predicate(cond, self.values.column(cond))

    def conjunction(self, items: list[Condition | Node]) -> exp.Expression:
        return conjunction(tree_predicate(c, self.predicate) for c in by_cost(items))

    def add(self, items: list[Condition | Node], user: str) -> int:
        """The bit of the conjunction of ``items`` (conditions or trees) per loan, tested by
        ``user`` (named in the legend)."""
        cond = self.conjunction(items)
        key = _sql(cond)
        if key not in self._index:
            self._index[key] = len(self.sets)
            self.sets.append(cond)
            self.legend.append((Node("all", tuple(items)).describe(), []))
        index = self._index[key]
        self.legend[index][1].append(user)
        return index

    def legend_lines(self) -> list[str]:
        if not self.sets:
            return []
        lines = ["-- loan condition sets: bit b of mask mN is set on a loan that satisfies all of:"]
        for i, (text, users) in enumerate(self.legend):
            lines.append(f"--   {self.column(i)} bit {i % BITS} ({1 << (i % BITS)}): {text}")
            lines.append(f"--       tested by {'; '.join(users)}")
        return lines

    @staticmethod
    def column(index: int) -> str:
        return f"m{index // BITS}"

    def test(self, index: int) -> exp.Expression:
        return _bit_set(exp.column(self.column(index), table="lm"), index % BITS)

    def mask_columns(self) -> list[tuple[str, str]]:
        """Per row: the bits of the sets that hold on its loan (0 on a customer's row without
        a loan: a customer without loans never satisfies a loan-level condition)."""
        out = []
        for start in range(0, len(self.sets), BITS):
            terms = [
                exp.Case(
                    ifs=[exp.If(this=s.copy(), true=_bit(i - start))], default=exp.Literal.number(0)
                )
                for i, s in enumerate(self.sets[start : start + BITS], start=start)
            ]
            mask = _bit_or(terms)
            no_loan = exp.Is(this=exp.column("account_number", table="v"), expression=exp.Null())
            guarded = exp.Case(ifs=[exp.If(this=no_loan, true=exp.Literal.number(0))], default=mask)
            out.append((f"m{start // BITS}", _sql(exp.cast(guarded, "BIGINT"))))
        return out


def _split(where: Node, loans: _LoanSets, user: str) -> tuple[list[exp.Expression], int | None]:
    """(customer-pass predicates, loan set bit or None) of a list or tree (SPEC §3).

    The top-level ``all``'s children without a loan-level leaf are tested once on the
    customer; the others together become one bit of the per-loan mask (they must hold on one
    and the same loan), customer-level leaves inside them read per loan from the prologue.
    For a plain list this is today's plan: customer conditions, then one loan set.
    """
    children = list(where.children) if where.kind == "all" else [where]
    customer = [c for c in children if c.level is Level.CUSTOMER]
    loan = [c for c in children if c.level is Level.LOAN]
    preds = [tree_predicate(c) for c in by_cost(customer)]
    index = None
    if loan:  # the bit test first: one integer operation, false for most customers
        index = loans.add(loan, user)
        preds.insert(0, loans.test(index))
    return preds, index


def _row_match(where: Node, loans: _LoanSets) -> tuple[exp.Expression, bool]:
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
    campaign: Campaign, loans: _LoanSets, group: str
) -> tuple[exp.Expression, bool, exp.Expression | None, list[tuple[int, object]]]:
    """(match on a row, has a loan part, rule mask, [(rule bit, rule)]) of one campaign."""
    if campaign.id is None:
        raise CompileError(
            f"campaign {campaign.name!r} has no database id; compile from the database"
        )
    label = f"campaign {campaign.name!r} (id {campaign.id}) of group {group!r}"
    match, has_loan = _row_match(campaign.where, loans)

    rules = [r for r in campaign.rules if r.outputs]  # a rule without outputs contributes nothing
    if len(rules) > MAX_RULES:
        raise CompileError(
            f"campaign {campaign.name!r} has {len(rules)} contact rules with outputs; at most {MAX_RULES} are supported"
        )
    terms: list[exp.Expression] = []
    bits = []
    for j, rule in enumerate(rules):
        rpreds, _ = _split(rule.where, loans, f"contact rule {rule.priority} of {label}")
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
        f"-- campaign group {group.name!r} (id {group.id}); its decision is column "
        f"{_alias(group)}.campaign_id below",
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
    ``row_case``, the rank of the first campaign in priority order that holds on the row; per
    customer, over the aggregated rows (lm): ``campaign_case`` maps the least rank to its
    campaign (read back as ``alias.campaign_id``), ``account_numbers`` lists the loans whose
    row gave that rank, ``rule_mask`` the contact rules that apply."""

    group: Group
    alias: str
    row_case: str
    needs_ranks: bool  # a campaign has a loan part: its matched accounts come from the ranks
    campaign_case: str
    account_numbers: str
    rule_mask: str
    outputs: list[str]  # (campaign id, rule bit, rule priority, party, contact) per output
    header: list[str]


def _ranked_accounts(alias: str, rank: int) -> exp.Expression:
    """ARRAY(SELECT a FROM unnest(accounts, ranks) WHERE rank = k ORDER BY a COLLATE "C")."""
    a, r = exp.column("a", table="u"), exp.column("r", table="u")
    columns = [exp.to_identifier("a"), exp.to_identifier("r")]
    src = exp.Unnest(
        expressions=[exp.column("accounts", table="lm"), exp.column(f"{alias}_ranks", table="lm")],
        alias=exp.TableAlias(this=exp.to_identifier("u"), columns=columns),
    )
    sub = (
        exp.select(a)
        .from_(src)
        .where(exp.EQ(this=r, expression=exp.Literal.number(rank)))
        .order_by(exp.Ordered(this=collate_c(a.copy())))
    )
    return exp.Array(expressions=[sub])


def group_part(group: Group, loans: _LoanSets) -> GroupPart:
    """The group's part of the run statement; its rules' loan sets are added to ``loans``
    (the run's, shared by every group: an identical set is one bit for all)."""
    if group.id is None:
        raise CompileError(f"group {group.name!r} has no database id; compile from the database")
    alias = _alias(group)
    row_ifs, rank_ifs, account_ifs, rule_cases, outputs, rule_legend = [], [], [], [], [], []
    for rank, campaign in enumerate(group.campaigns, start=1):
        match, has_loan, rule_mask, bits = _campaign_parts(campaign, loans, group.name)
        rule_legend += _rule_legend(campaign, bits)
        cid = _named(campaign)
        ranked = exp.Literal.number(rank)
        ranked.comments = [campaign.name]
        row_ifs.append(exp.If(this=match, true=ranked))
        rank_ifs.append(exp.If(this=exp.Literal.number(rank), true=cid))
        if has_loan:
            account_ifs.append(
                exp.If(this=exp.Literal.number(rank), true=_ranked_accounts(alias, rank))
            )
        if rule_mask is not None:
            rule_cases.append(exp.If(this=cid.copy(), true=rule_mask))
        for bit, rule in bits:
            for o in rule.outputs:
                outputs.append(_sql(exp.Tuple(expressions=[
                    exp.Literal.number(campaign.id), exp.Literal.number(bit), exp.Literal.number(rule.priority),
                    exp.Literal.string(o.party), exp.Literal.string(o.contact),
                ])))  # fmt: skip

    best = exp.column(f"{alias}_rank", table="lm")
    null = exp.cast(exp.Null(), "BIGINT")
    row_case = exp.Case(ifs=row_ifs) if row_ifs else null.copy()
    campaign_case = exp.Case(this=best, ifs=rank_ifs) if rank_ifs else null.copy()
    account_numbers = (
        exp.Case(this=best.copy(), ifs=account_ifs, default=EMPTY_TEXT_ARRAY.copy())
        if account_ifs
        else EMPTY_TEXT_ARRAY.copy()
    )
    wid = exp.column("campaign_id", table=alias)
    rule_mask = (
        exp.Case(this=wid, ifs=rule_cases, default=exp.Literal.number(0))
        if rule_cases
        else exp.Literal.number(0)
    )
    return GroupPart(
        group=group,
        alias=alias,
        row_case=_sql(row_case),
        needs_ranks=bool(account_ifs),
        campaign_case=_sql(campaign_case),
        account_numbers=_sql(account_numbers),
        rule_mask=_sql(exp.cast(rule_mask, "BIGINT")),
        outputs=outputs,
        header=_header(group, rule_legend),
    )
