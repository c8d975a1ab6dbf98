"""A whole run's statements: the customer slice (several connections), the run prologue
(the loan values every group tests, extracted once per connection) and the run's phone book,
then the run statement
deciding every group, with the session settings they execute under."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import dates
from ..config.model import Configuration, Group
from ..errors import CompileError
from .phones import CompiledPhones, compile_phones
from .policy import CompiledPolicy
from .prologue import CompiledPrologue, CompiledSlice, LoanValues, compile_prologue
from .settings import WHY, set_local_statements
from .statement import CompiledStatement, compile_statement


@dataclass(frozen=True)
class CompiledRun:
    """What a run executes: on each connection its customer slice (a full run on several
    connections), the prologue, then the run statement (None: no group to decide)."""

    prologue: CompiledPrologue | None
    statement: CompiledStatement | None
    groups: tuple[Group, ...] = ()
    population: bool = False  # the statements read pg_temp.run_population
    slice: CompiledSlice | None = None  # a full run whose population is a customer slice
    phones: CompiledPhones | None = None  # the run's phone book (some rule has outputs)

    @property
    def list_run(self) -> bool:
        return self.population and self.slice is None

    @property
    def settings(self) -> list[str]:
        """The SET LOCAL statements the run executes before these (compiler/settings.py)."""
        return set_local_statements(self.list_run)

    def preamble(self) -> str:
        """The settings as a reviewer reads them at the top of ``compile`` and of each file."""
        kind = (
            "list run (--cifs)"
            if self.list_run
            else f"full run on {self.slice.slices} connections (customer slices)"
            if self.slice
            else "full run"
        )
        lines = [f"-- session settings of a {kind}, executed first in each transaction:"]
        lines += [f"{s};" for s in self.settings]
        why = [f"--   {name}: {text}" for name, text in WHY.items()
               if any(f" {name} = " in s for s in self.settings)]  # fmt: skip
        return "\n".join(lines + ["-- why:", *why]) + "\n\n"

    @property
    def tables(self) -> list[CompiledPrologue | CompiledPhones]:
        """The temporary tables each connection creates before the run statement."""
        return [t for t in (self.prologue, self.phones) if t is not None]

    @property
    def statements(self) -> list[CompiledSlice | CompiledPrologue | CompiledStatement]:
        if self.statement is None:
            return []
        return ([self.slice] if self.slice else []) + self.tables + [self.statement]


def compile_config(
    config: Configuration,
    *,
    group: str | None = None,
    population: bool = False,
    source_schema: str = "bank_sync_service",
    slices: int = 1,
) -> CompiledRun:
    """The run's statements; with ``group``, the run statement for that group alone and the
    prologue it needs.

    ``population``: a list run's (over pg_temp.run_population). ``slices`` > 1: a full run on
    that many connections, each over its customer slice (the population variant too).
    """
    sliced = slices > 1 and not population
    population = population or sliced
    groups = config.groups
    if group is not None:
        groups = tuple(g for g in groups if g.name == group)
        if not groups:
            names = ", ".join(repr(g.name) for g in config.groups) or "none"
            raise CompileError(f"no campaign group named {group!r}; groups: {names}")
    values = LoanValues()
    # SPEC §6: the policy's CTEs are in the run statement (its header shows them in words)
    policy = (
        CompiledPolicy(config.policy, config.as_of or dates.today())
        if config.policy is not None
        else None
    )
    statement = (
        compile_statement(
            groups, fingerprint=config.fingerprint, population=population,
            source_schema=source_schema, values=values, policy=policy,
        )
        if groups
        else None
    )  # fmt: skip
    prologue = compile_prologue(values, population=population, source_schema=source_schema)
    asks = any(r.outputs for g in groups for c in g.campaigns for r in c.rules)
    return CompiledRun(
        prologue=prologue,
        statement=statement,
        groups=tuple(groups),
        population=population,
        slice=CompiledSlice(slices, source_schema) if sliced else None,
        phones=compile_phones(population=population, source_schema=source_schema)
        if asks and statement is not None
        else None,
    )
