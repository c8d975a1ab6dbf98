"""The configuration in two forms.

``ConfigFile`` is what users write (YAML/JSON) and what the database rows load into: loose
values, optional database ids. ``Configuration`` is the validated, typed model the compiler and
the reference evaluator share: every field resolved to its source and type, every value parsed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

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


class OutputSpec(_Strict):
    related_party_type: str
    contact_type: str
    id: int | None = None


class RuleSpec(_Strict):
    rule_priority: Priority
    conditions: list[ConditionSpec] = []
    outputs: list[OutputSpec] = []
    id: int | None = None


class CampaignSpec(_Strict):
    name: Name
    priority: Priority
    conditions: list[ConditionSpec] = []
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
    """The whole configuration: custom fields and campaign groups."""

    version: Literal[1] = 1
    custom_fields: list[CustomFieldSpec] = []
    groups: list[GroupSpec] = []


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

    @property
    def level(self) -> Level:
        return Level.CUSTOMER if self.source == "customer" else Level.LOAN

    def describe(self) -> str:
        """One line for a reader (SQL legends, reports): ``loan.dpd >= 30``."""

        def show(v: Typed | None) -> str:
            if isinstance(v, bool):
                return str(v).lower()
            return f"'{v}'" if isinstance(v, str) else str(plain(v))

        where = f"{self.source}.{self.field}"
        if self.op in ("IS NULL", "IS NOT NULL"):
            return f"{where} {self.op}"
        if self.op == "BETWEEN":
            return f"{where} BETWEEN {show(self.values[0])} AND {show(self.values[1])}"
        if self.op in ("IN", "NOT IN"):
            return f"{where} {self.op} ({', '.join(map(show, self.values))})"
        return f"{where} {self.op} {show(self.value)}"


@dataclass(frozen=True)
class Output:
    party: str
    contact: str


@dataclass(frozen=True)
class Rule:
    priority: int
    conditions: tuple[Condition, ...]
    outputs: tuple[Output, ...]
    id: int | None = None


@dataclass(frozen=True)
class Campaign:
    name: str
    priority: int
    conditions: tuple[Condition, ...]
    rules: tuple[Rule, ...]  # ascending rule priority
    id: int | None = None


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
