"""One campaign group's part of the run statement (statement.py): its CASE in priority order,
the winner's matched accounts and contact rule mask, its outputs and its header.

Cost grows mildly with the number of campaigns: a loan-level condition set (a campaign's or a
contact rule's loan conditions) becomes one bit of a per-loan bigint mask shared by every
group, so a campaign adds a few boolean tests per loan and one CASE branch per customer, but no
aggregate state: the aggregation per customer is one BIT_OR and two ARRAY_AGGs per 62 sets.
"""

from __future__ import annotations

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
        """A condition over the prologue's value column (customer leaves of a tree included)."""
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
            out.append((f"m{start // BITS}", _sql(exp.cast(mask, "BIGINT"))))
        return out

    def any_bit(self) -> str:
        cols = [
            exp.NEQ(this=exp.column(name, table="s"), expression=exp.Literal.number(0))
            for name, _ in self.mask_columns()
        ]
        out: exp.Expression = cols[0]
        for c in cols[1:]:
            out = exp.Or(this=out, expression=c)
        return _sql(out)

    def accounts(self, index: int) -> exp.Expression:
        """ARRAY(SELECT a FROM unnest(accounts, masks) WHERE bit set ORDER BY a COLLATE "C")."""
        a, m = exp.column("a", table="u"), exp.column("m", table="u")
        alias = exp.TableAlias(
            this=exp.to_identifier("u"), columns=[exp.to_identifier("a"), exp.to_identifier("m")]
        )
        src = exp.Unnest(
            expressions=[
                exp.column("accounts", table="lm"),
                exp.column(f"{self.column(index)}_loans", table="lm"),
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


def _campaign_parts(
    campaign: Campaign, loans: _LoanSets, group: str
) -> tuple[exp.Expression, int | None, exp.Expression | None, list[tuple[int, object]]]:
    """(match condition, loan set index, rule mask, [(rule bit, rule)]) of one campaign."""
    if campaign.id is None:
        raise CompileError(
            f"campaign {campaign.name!r} has no database id; compile from the database"
        )
    label = f"campaign {campaign.name!r} (id {campaign.id}) of group {group!r}"
    preds, set_index = _split(campaign.where, loans, label)
    match = conjunction(preds)

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
    rule_mask = None
    if terms:
        rule_mask = terms[0]
        for t in terms[1:]:
            rule_mask = exp.BitwiseOr(this=rule_mask, expression=t)
    return match, set_index, rule_mask, bits


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
        if c.tree is not None:
            lines.append(f"--          when {c.tree.describe()}")
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
    """One group's decision in the run statement: SQL over the customer row ``c`` and its
    loans' aggregated masks ``lm``, reading the group's campaign from ``alias.campaign_id``."""

    group: Group
    alias: str
    campaign_case: str  # the first campaign in priority order whose conditions hold, or NULL
    account_numbers: str  # the winner's matched accounts, sorted
    rule_mask: str  # bitmask of the winner's contact rules that apply
    outputs: list[str]  # (campaign id, rule bit, rule priority, party, contact) per output
    header: list[str]


def group_part(group: Group, loans: _LoanSets) -> GroupPart:
    """The group's part of the run statement; its loan sets are added to ``loans`` (the
    run's, shared by every group: an identical set is one bit for all)."""
    if group.id is None:
        raise CompileError(f"group {group.name!r} has no database id; compile from the database")
    ifs, account_cases, rule_cases, outputs, rule_legend = [], [], [], [], []
    for campaign in group.campaigns:
        match, set_index, rule_mask, bits = _campaign_parts(campaign, loans, group.name)
        rule_legend += _rule_legend(campaign, bits)
        cid = _named(campaign)
        ifs.append(exp.If(this=match, true=cid))
        if set_index is not None:
            account_cases.append((cid, set_index))
        if rule_mask is not None:
            rule_cases.append(exp.If(this=cid.copy(), true=rule_mask))
        for bit, rule in bits:
            for o in rule.outputs:
                outputs.append(_sql(exp.Tuple(expressions=[
                    exp.Literal.number(campaign.id), exp.Literal.number(bit), exp.Literal.number(rule.priority),
                    exp.Literal.string(o.party), exp.Literal.string(o.contact),
                ])))  # fmt: skip

    wid = exp.column("campaign_id", table=_alias(group))
    campaign_case = exp.Case(ifs=ifs) if ifs else exp.cast(exp.Null(), "BIGINT")
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
    return GroupPart(
        group=group,
        alias=_alias(group),
        campaign_case=_sql(campaign_case),
        account_numbers=_sql(account_numbers),
        rule_mask=_sql(exp.cast(rule_mask, "BIGINT")),
        outputs=outputs,
        header=_header(group, rule_legend),
    )
