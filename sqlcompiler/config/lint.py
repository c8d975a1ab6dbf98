"""Warnings for configurations that are legal but almost certainly mistakes.

The checks reason over single conditions as value sets on one field (intervals for ordered
types, finite sets for = / IN). That is enough to see ``dpd > 90`` implies ``dpd > 30`` and
contradicts ``dpd < 30``; anything subtler is left alone rather than guessed. In a condition
tree (SPEC §2b) they look at siblings only: the leaves of one ``all`` (contradictions), an
``any`` that always holds (``X`` beside ``not X``, IS NULL beside IS NOT NULL), a ``not`` of a
contradiction. Dates relative to the run are compared only with each other and only in days
or weeks, where the answer does not depend on the day the run happens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Campaign, Condition, Configuration, Node


@dataclass(frozen=True)
class Finding:
    location: str
    message: str

    def __str__(self) -> str:
        return f"warning: {self.location}: {self.message}"


def _key(c: Condition) -> tuple:
    return (c.source, c.field)


def _describe(c: Condition) -> str:
    if c.op in ("IS NULL", "IS NOT NULL"):
        return f"{c.field} {c.op}"
    val = list(map(str, c.values)) if c.values else str(c.value)
    return f"{c.field} {c.op} {val}"


@dataclass(frozen=True)
class _Set:
    """Values a condition admits (missing excluded unless ``null``)."""

    lo: object = None
    lo_incl: bool = True
    hi: object = None
    hi_incl: bool = True
    points: frozenset | None = None  # finite set of admitted values
    excluded: frozenset = frozenset()
    null: bool = False  # admits only the missing value (IS NULL)
    anything: bool = False  # no knowledge (LIKE etc.)

    def contains(self, v: object) -> bool:
        if self.points is not None:
            return v in self.points
        if v in self.excluded:
            return False
        if self.lo is not None and (v < self.lo or (v == self.lo and not self.lo_incl)):
            return False
        return not (self.hi is not None and (v > self.hi or (v == self.hi and not self.hi_incl)))


def _as_set(c: Condition) -> _Set:
    op, v = c.op, c.value
    if op == "IS NULL":
        return _Set(null=True)
    if op == "IS NOT NULL":
        return _Set()
    if op == "=":
        return _Set(points=frozenset([v]))
    if op == "IN":
        return _Set(points=frozenset(c.values))
    if op == "!=":
        return _Set(excluded=frozenset([v]))
    if op == "NOT IN":
        return _Set(excluded=frozenset(c.values))
    if op == ">":
        return _Set(lo=v, lo_incl=False)
    if op == ">=":
        return _Set(lo=v)
    if op == "<":
        return _Set(hi=v, hi_incl=False)
    if op == "<=":
        return _Set(hi=v)
    if op == "BETWEEN":
        return _Set(lo=c.values[0], hi=c.values[1])
    return _Set(anything=True)


def _empty(s: _Set) -> bool:
    if s.points is not None:
        return not any(s.contains(p) for p in s.points)
    if s.lo is not None and s.hi is not None:
        return s.lo > s.hi or (s.lo == s.hi and not (s.lo_incl and s.hi_incl))
    return False


def _intersect(a: _Set, b: _Set) -> _Set | None:
    """The intersection, or None when it can't be represented (then: don't warn)."""
    if a.anything or b.anything:
        return None
    if a.null or b.null:
        return _Set(null=True) if a.null and b.null else _Set(points=frozenset())
    if a.points is not None or b.points is not None:
        pts = a.points if a.points is not None else b.points
        other = b if a.points is not None else a
        return _Set(points=frozenset(p for p in pts if other.contains(p)))
    lo, lo_incl = a.lo, a.lo_incl
    if b.lo is not None and (lo is None or b.lo > lo or (b.lo == lo and not b.lo_incl)):
        lo, lo_incl = b.lo, b.lo_incl
    hi, hi_incl = a.hi, a.hi_incl
    if b.hi is not None and (hi is None or b.hi < hi or (b.hi == hi and not b.hi_incl)):
        hi, hi_incl = b.hi, b.hi_incl
    return _Set(lo, lo_incl, hi, hi_incl, excluded=a.excluded | b.excluded)


def _stable(a: Condition, b: Condition) -> bool:
    """Whether comparing a and b gives the same answer on every as-of date (SPEC §2a)."""
    if not a.relative and not b.relative:
        return True
    forms = [*a.relative, *b.relative]
    every = len(a.relative) == len(a.values or (a.value,)) and len(b.relative) == len(
        b.values or (b.value,)
    )
    return every and all(f is not None and not f.endswith("m") for f in forms)


def implies(strong: Condition, weak: Condition) -> bool:
    """Every value satisfying ``strong`` satisfies ``weak`` (same field assumed)."""
    if not _stable(strong, weak):
        return False
    if strong == weak or (strong.op, strong.value, strong.values) == (
        weak.op,
        weak.value,
        weak.values,
    ):
        return True
    s, w = _as_set(strong), _as_set(weak)
    if s.anything or w.anything:
        return False
    if w.null or s.null:
        return w.null and s.null
    if weak.op == "IS NOT NULL":
        return True
    if s.points is not None:
        return all(w.contains(p) for p in s.points if s.contains(p))
    if w.points is not None:
        return False
    if w.excluded and not all(not s.contains(x) for x in w.excluded):
        return False
    if w.lo is not None:
        if s.lo is None or s.lo < w.lo or (s.lo == w.lo and s.lo_incl and not w.lo_incl):
            return False
    if w.hi is not None:
        if s.hi is None or s.hi > w.hi or (s.hi == w.hi and s.hi_incl and not w.hi_incl):
            return False
    return True


def _conjuncts(where: Node) -> list[Condition | Node]:
    return list(where.children) if where.kind == "all" else [where]


def covers(earlier: Campaign, later: Campaign) -> bool:
    """Every customer matching ``later`` also matches ``earlier`` (so ``later`` never wins).

    Each of ``earlier``'s top-level conjuncts (a condition, or an ``any`` of conditions) must
    be implied by one of ``later``'s top-level conditions; both then hold on the same loan.
    Anything else is not claimed.
    """
    strong = [c for c in _conjuncts(later.where) if isinstance(c, Condition)]

    def implied(weak: Condition) -> bool:
        return any(_key(weak) == _key(c) and implies(c, weak) for c in strong)

    for e in _conjuncts(earlier.where):
        if isinstance(e, Condition):
            if not implied(e):
                return False
        elif not (
            e.kind == "any" and any(isinstance(x, Condition) and implied(x) for x in e.children)
        ):
            return False
    return True


def _same(a: Condition | Node, b: Condition | Node) -> bool:
    """The same condition or tree, wherever it was written (locations and ids aside)."""
    if isinstance(a, Condition) and isinstance(b, Condition):
        return (a.source, a.field, a.op, a.value, a.values) == (
            b.source, b.field, b.op, b.value, b.values
        )  # fmt: skip
    if isinstance(a, Node) and isinstance(b, Node):
        return (
            a.kind == b.kind
            and len(a.children) == len(b.children)
            and all(_same(x, y) for x, y in zip(a.children, b.children, strict=True))
        )
    return False


def _complementary(a: Condition | Node, b: Condition | Node) -> bool:
    """``a`` or ``b`` always holds: X beside not X, IS NULL beside IS NOT NULL."""
    if isinstance(b, Node) and b.kind == "not" and _same(b.children[0], a):
        return True
    if isinstance(a, Node) and a.kind == "not" and _same(a.children[0], b):
        return True
    if isinstance(a, Condition) and isinstance(b, Condition) and _key(a) == _key(b):
        return {a.op, b.op} == {"IS NULL", "IS NOT NULL"}
    return False


def always(item: Condition | Node) -> bool:
    """Certainly true (on every loan, for a loan-level tree); False means: not known."""
    if isinstance(item, Condition):
        return False
    if item.kind == "not":
        return never(item.children[0])
    if item.kind == "all":
        return all(always(c) for c in item.children)
    kids = item.children
    return any(always(c) for c in kids) or any(
        _complementary(a, b) for i, a in enumerate(kids) for b in kids[i + 1 :]
    )


def _contradict(a: Condition, b: Condition) -> bool:
    if _key(a) != _key(b) or not _stable(a, b):
        return False
    both = _intersect(_as_set(a), _as_set(b))
    return both is not None and _empty(both)


def never(item: Condition | Node) -> bool:
    """Certainly false; False means: not known."""
    if isinstance(item, Condition):
        return item.op == "BETWEEN" and item.values[0] > item.values[1]
    if item.kind == "not":
        return always(item.children[0])
    if item.kind == "any":
        return all(never(c) for c in item.children)
    kids = item.children
    leaves = [c for c in kids if isinstance(c, Condition)]
    return any(never(c) for c in kids) or any(
        _contradict(a, b) for i, a in enumerate(leaves) for b in leaves[i + 1 :]
    )


def _tree_findings(root: Node, where: str) -> list[Finding]:
    """The findings of a campaign's or rule's conditions, node by node (siblings only)."""
    out: list[Finding] = []

    def walk(node: Node, top: bool) -> None:
        leaves = tuple(c for c in node.children if isinstance(c, Condition))
        text = node.describe()
        if node.kind == "all":
            out.extend(_condition_findings(leaves, where, None if top else text))
        else:
            out.extend(
                f for f in _condition_findings(leaves, where, text) if "contradict" not in f.message
            )
        if node.kind == "any" and always(node):
            out.append(Finding(where, f"{text} always holds: one of its branches is always true"))
        if node.kind == "not" and never(node.children[0]):
            out.append(Finding(where, f"{text} always holds: it negates a contradiction"))
        if node.kind == "not" and always(node.children[0]):
            out.append(Finding(where, f"{text} never holds: it negates something always true"))
        for child in node.children:
            if isinstance(child, Node):
                walk(child, False)

    walk(root, True)
    return out


def _condition_findings(
    conds: tuple[Condition, ...], where: str, inside: str | None = None
) -> list[Finding]:
    out = []
    for i, a in enumerate(conds):
        if a.op == "BETWEEN" and a.values[0] > a.values[1]:
            out.append(
                Finding(
                    where,
                    f"{_describe(a)} has its lower bound above its upper bound: it matches nothing",
                )
            )
        for b in conds[i + 1 :]:
            if _key(a) != _key(b):
                continue
            if (a.op, a.value, a.values) == (b.op, b.value, b.values):
                out.append(Finding(where, f"duplicate condition {_describe(a)}"))
                continue
            if _contradict(a, b):
                level = " on the same loan" if a.source != "customer" else ""
                what = "the campaign can never match" if inside is None else f"{inside} never holds"
                out.append(
                    Finding(
                        where,
                        f"conditions {_describe(a)} and {_describe(b)} contradict each other{level}: {what}",
                    )
                )
    return out


def lint(config: Configuration, without_values: Iterable[str] = ()) -> list[Finding]:
    """What validation allows but is likely a mistake; ``without_values``: registered custom
    fields that no loan holds (config/db/catalog.py reads them)."""
    findings: list[Finding] = []
    used: set[str] = set()
    for g in config.groups:
        for i, c in enumerate(g.campaigns):
            where = f"group {g.name!r}, campaign {c.name!r} (priority {c.priority})"
            used.update(x.field for x in c.conditions if x.source == "custom")
            findings += _tree_findings(c.where, where)
            for earlier in g.campaigns[:i]:
                if covers(earlier, c):
                    why = "has no conditions" if not earlier.conditions else "has weaker conditions"
                    findings.append(
                        Finding(
                            where,
                            f"can never win: campaign {earlier.name!r} (priority {earlier.priority}) comes first and {why}",
                        )
                    )
                    break
            if not c.rules:
                findings.append(Finding(where, "has no contact rules: its customers get no phones"))
            for r in c.rules:
                rwhere = f"{where}, contact rule {r.priority}"
                used.update(x.field for x in r.conditions if x.source == "custom")
                findings += _tree_findings(r.where, rwhere)
                if not r.outputs:
                    findings.append(Finding(rwhere, "has no outputs: it contributes no phones"))
    for name in sorted(config.custom_fields):
        if name not in used:
            findings.append(
                Finding(f"custom field {name!r}", "is registered but no condition uses it")
            )
    for name in sorted(without_values):
        findings.append(
            Finding(
                f"custom field {name!r}",
                "has no uploaded value in any loan (`sqlcompiler custom-fields upload`)",
            )
        )
    return findings
