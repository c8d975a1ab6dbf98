"""The configuration in two forms.

``ConfigFile`` is what users write (YAML/JSON) and what the database rows load into: loose
values, optional database ids. ``Configuration`` is the validated, typed model the compiler and
the reference evaluator share: every field resolved to its source and type, every value parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from .policy import ContactPolicy, ContactPolicySpec

DATA_SOURCES = {
    "bank_sync_service.customers": "customer",
    "bank_sync_service.loans": "loan",
    "custom_fields": "custom",
}
DATA_TYPES = ("string", "number", "date", "boolean")
PARTY_TYPES = ("customer", "reference_customer_parent", "reference_customer_all")
CONTACT_TYPES = ("mobile", "home", "work", "all")

ScalarValue = str | int | float | bool | None
FieldValue = ScalarValue | list[ScalarValue]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def text_problem(text: str, allowed: str = "\t\n\r") -> str | None:
    """Why ``text`` cannot be stored as PostgreSQL text (or is refused), or None.

    NUL cannot be stored at all, nor an unpaired surrogate (not UTF-8); other control
    characters (except ``allowed``) are refused so that what validates also applies and runs.
    """
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which PostgreSQL text cannot hold"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (an invalid \\uD800-\\uDFFF escape), which is not UTF-8"
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if ord(ch) < 32 and ch not in allowed})
    if bad:
        return f"contains control character(s) {', '.join(bad)}"
    return None


def _storable(text: str) -> str:
    """A name must fit its varchar(255) column and print on one line."""
    problem = text_problem(text, allowed="")
    if problem:
        raise ValueError(f"must not contain NUL or control characters: it {problem}")
    return text


# The configuration tables' column limits, checked when a file is read so that a file that
# validates also applies (varchar(255) names, integer priorities).
Name = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_storable)]
Priority = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class ConditionSpec(_Strict):
    data_source: str
    field_name: str
    operator: str
    field_value: FieldValue = None
    id: int | None = Field(
        default=None, description="database id (set when loaded from the database)"
    )


NODE_KINDS = ("all", "any", "not")


def _item_kind(v: Any) -> str:
    """A mapping with a key all/any/not is a node, anything else a condition (for clear errors)."""
    if isinstance(v, NodeSpec) or (isinstance(v, dict) and set(v) & set(NODE_KINDS)):
        return "node"
    return "condition"


def _tree_kind(v: Any) -> str:
    return "list" if isinstance(v, list) else "node"


class NodeSpec(_Strict):
    """A condition tree node (SPEC §2b): exactly one of ``all``, ``any``, ``not``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    all_: list[Item] | None = Field(default=None, alias="all")
    any_: list[Item] | None = Field(default=None, alias="any")
    not_: Item | list[Item] | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_key(self) -> NodeSpec:
        keys = [k for k in NODE_KINDS if getattr(self, f"{k}_") is not None]
        if len(keys) != 1:
            raise ValueError(
                "a condition node has exactly one key, all, any or not "
                f"(got {', '.join(keys) or 'none'}); e.g. {{any: [<condition>, <condition>]}}"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in NODE_KINDS if getattr(self, f"{k}_") is not None)

    @property
    def children(self) -> list[ConditionSpec | NodeSpec]:
        """The children as written; ``not`` of one item gives a list of one."""
        value = getattr(self, f"{self.kind}_")
        return list(value) if isinstance(value, list) else [value]


Item = Annotated[
    Union[Annotated[ConditionSpec, Tag("condition")], Annotated[NodeSpec, Tag("node")]],  # noqa: UP007
    Discriminator(_item_kind),
]
Conditions = Annotated[
    Union[Annotated[list[Item], Tag("list")], Annotated[NodeSpec, Tag("node")]],  # noqa: UP007
    Discriminator(_tree_kind),
]
NodeSpec.model_rebuild()


def spec_leaves(conditions: list | NodeSpec) -> Iterator[ConditionSpec]:
    """The conditions (leaves) of a list or tree, in the order written."""
    stack = list(reversed(conditions.children if isinstance(conditions, NodeSpec) else conditions))
    while stack:
        item = stack.pop()
        if isinstance(item, NodeSpec):
            stack.extend(reversed(item.children))
        else:
            yield item


def is_flat(conditions: list | NodeSpec) -> bool:
    """A plain list of conditions: stored in today's rows alone, no tree."""
    return isinstance(conditions, list) and all(isinstance(c, ConditionSpec) for c in conditions)


class OutputSpec(_Strict):
    related_party_type: str
    contact_type: str
    id: int | None = None


class RuleSpec(_Strict):
    rule_priority: Priority
    conditions: Conditions = []
    outputs: list[OutputSpec] = []
    id: int | None = None


class CampaignSpec(_Strict):
    name: Name
    priority: Priority
    conditions: Conditions = []
    contact_rules: list[RuleSpec] = []
    id: int | None = None


class GroupSpec(_Strict):
    name: Name
    campaigns: list[CampaignSpec] = []
    id: int | None = None


class CustomFieldSpec(_Strict):
    field_name: Name
    data_type: str
    description: str | None = None
    id: int | None = None


class ConfigFile(_Strict):
    """The whole configuration: custom fields, campaign groups, the contact policy (SPEC §6)."""

    version: Literal[1] = 1
    custom_fields: list[CustomFieldSpec] = []
    groups: list[GroupSpec] = []
    contact_policy: ContactPolicySpec | None = None


def json_schema() -> dict[str, Any]:
    """JSON Schema of the file format; ``id`` keys are internal and left out."""
    schema = ConfigFile.model_json_schema()

    def strip(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                props.pop("id", None)
            for v in node.values():
                strip(v)
        elif isinstance(node, list):
            for v in node:
                strip(v)

    strip(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "sqlcompiler campaign configuration"
    defs = schema.get("$defs", {})
    enums = {
        ("ConditionSpec", "data_source"): list(DATA_SOURCES),
        ("CustomFieldSpec", "data_type"): list(DATA_TYPES),
        ("OutputSpec", "related_party_type"): list(PARTY_TYPES),
        ("OutputSpec", "contact_type"): list(CONTACT_TYPES),
    }
    for (model, prop), values in enums.items():
        defs[model]["properties"][prop]["enum"] = values
    defs["NodeSpec"]["minProperties"] = defs["NodeSpec"]["maxProperties"] = 1
    defs["ConditionSpec"]["properties"]["field_value"]["description"] = (
        "Parsed into the field's type. A JSON array for IN, NOT IN and BETWEEN. For a date "
        "field, a value may be relative to the run: today, today - 7d, today + 2w, today - 1m."
    )
    return schema


# -- the validated model ---------------------------------------------------------------------


class Level(StrEnum):
    CUSTOMER = "customer"
    LOAN = "loan"


Typed = Decimal | dt.date | str | bool


@dataclass(frozen=True)
class Condition:
    """One validated condition: where its value comes from, its type, its parsed operand."""

    source: str  # "customer", "loan" or "custom"
    field: str  # column name or custom-field name
    dtype: str  # string | number | date | boolean
    op: str  # canonical: = != > >= < <= LIKE NOT LIKE ILIKE IN NOT IN BETWEEN IS NULL IS NOT NULL
    value: Typed | None = None  # scalar operand
    values: tuple[Typed, ...] = ()  # IN / NOT IN / BETWEEN operands
    column_type: str | None = None  # PostgreSQL type of a bank-sync column
    id: int | None = None
    location: str = ""
    # dates relative to the run (SPEC §2a) as written, aligned with (value,) or values; None
    # for a calendar value; () when the condition has none. value/values hold them resolved.
    relative: tuple[str | None, ...] = ()

    @property
    def level(self) -> Level:
        return Level.CUSTOMER if self.source == "customer" else Level.LOAN

    def describe(self) -> str:
        """One line for a reader (SQL legends, reports): ``loan.dpd >= 30``."""

        written = iter(self.relative)

        def show(v: Typed | None) -> str:
            rel = next(written, None)
            if isinstance(v, bool):
                return str(v).lower()
            if isinstance(v, dt.date):
                return f"{v}" + (f" ({rel})" if rel else "")
            return f"'{v}'" if isinstance(v, str) else str(plain(v))

        where = f"{self.source}.{self.field}"
        if self.op in ("IS NULL", "IS NOT NULL"):
            return f"{where} {self.op}"
        if self.op == "BETWEEN":
            low, high = self.values
            return f"{where} BETWEEN {show(low)} AND {show(high)}"
        if self.op in ("IN", "NOT IN"):
            return f"{where} {self.op} ({', '.join(map(show, self.values))})"
        return f"{where} {self.op} {show(self.value)}"


@dataclass(frozen=True)
class Node:
    """A condition tree node (SPEC §2b); a plain list of conditions is an ``all``."""

    kind: str  # all | any | not (exactly one child)
    children: tuple[Condition | Node, ...]

    def leaves(self) -> Iterator[Condition]:
        for c in self.children:
            if isinstance(c, Node):
                yield from c.leaves()
            else:
                yield c

    @property
    def level(self) -> Level:
        """LOAN when a leaf reads a loan: the tree is then evaluated per loan (SPEC §3)."""
        return Level.LOAN if any(c.level is Level.LOAN for c in self.leaves()) else Level.CUSTOMER

    def describe(self) -> str:
        """One line: ``loan.dpd > 90 OR (customer.segment = 'MASS' AND NOT loan.dpd = 0)``."""

        def text(item: Condition | Node, nested: bool) -> str:
            if isinstance(item, Condition):
                return item.describe()
            if item.kind == "not":
                inner = item.children[0]
                return "NOT " + (
                    text(inner, True) if isinstance(inner, Node) else f"({inner.describe()})"
                )
            joined = f" {'AND' if item.kind == 'all' else 'OR'} ".join(
                text(c, True) for c in item.children
            )
            return f"({joined})" if nested and len(item.children) > 1 else joined

        return text(self, False) or "always"


Tree = Condition | Node


@dataclass(frozen=True)
class Output:
    party: str
    contact: str


class _Conditioned:
    """``conditions`` are the leaves; ``tree`` is set when the file wrote more than a list."""

    conditions: tuple[Condition, ...]
    tree: Node | None

    @property
    def where(self) -> Node:
        """The conditions as a tree: the written tree, or the ``all`` of the plain list."""
        return self.tree if self.tree is not None else Node("all", self.conditions)


@dataclass(frozen=True)
class Rule(_Conditioned):
    priority: int
    conditions: tuple[Condition, ...]
    outputs: tuple[Output, ...]
    id: int | None = None
    tree: Node | None = None


@dataclass(frozen=True)
class Campaign(_Conditioned):
    name: str
    priority: int
    conditions: tuple[Condition, ...]
    rules: tuple[Rule, ...]  # ascending rule priority
    id: int | None = None
    tree: Node | None = None


@dataclass(frozen=True)
class Group:
    name: str
    campaigns: tuple[Campaign, ...]  # ascending priority
    id: int | None = None


@dataclass(frozen=True)
class Configuration:
    groups: tuple[Group, ...]
    custom_fields: dict[str, str] = field(default_factory=dict)  # name -> data_type
    fingerprint: str = ""
    as_of: dt.date | None = None  # the date relative values were resolved against (SPEC §2a)
    policy: ContactPolicy | None = None  # SPEC §6; None: every selected contact stays

    def group(self, name: str) -> Group:
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(name)


def plain(value: Any) -> Any:
    """A JSON-friendly form of typed values (reports, explain output)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
