"""Seeded, bounded fuzzing of what users hand us: configuration files and custom-field uploads.

Asserts for every generated input: only the product's own errors (no traceback: the CLI turns
SqlCompilerError into one line), and **validate ok ⇒ apply ok ⇒ run ok** (a run held by a
guard counts as ran); no password in any output; a canary table and the bank-sync rows intact
(no SQL injection executed). SQLCOMPILER_FUZZ_CONFIGS / _UPLOADS / _SEED change the budget.
"""

from __future__ import annotations

import json
import os
import random
from decimal import Decimal

import yaml

from sqlcompiler import api
from sqlcompiler import run as runner
from sqlcompiler.config import files
from sqlcompiler.errors import SqlCompilerError
from sqlcompiler.source import custom_fields
from tests.cli.test_cli import sqlc
from tests.scenario import Scenario

SEED = int(os.environ.get("SQLCOMPILER_FUZZ_SEED", "20261201"))
CONFIGS = int(os.environ.get("SQLCOMPILER_FUZZ_CONFIGS", "300"))
UPLOADS = int(os.environ.get("SQLCOMPILER_FUZZ_UPLOADS", "50"))

FIELDS = {
    "bank_sync_service.customers": {"segment": "string", "name": "string", "city": "string",
                                    "monthly_income": "number", "date_of_birth": "date",
                                    "is_vip": "boolean"},
    "bank_sync_service.loans": {"dpd": "number", "product_type": "string", "outstanding": "number",
                                "next_payment_date": "date", "status": "string"},
    "custom_fields": {"risk": "number", "tier": "string", "promise": "date", "disputed": "boolean"},
}  # fmt: skip
OPERATORS = ["=", "!=", ">", ">=", "<", "<=", "LIKE", "NOT LIKE", "ILIKE", "IN", "NOT IN",
             "BETWEEN", "IS NULL", "IS NOT NULL", "~", "==", "in", " = ", ""]  # fmt: skip
HOSTILE_TEXT = [
    "'; DROP TABLE public.canary; --", "%", "_", "\\", "%_\\%", "Trần", "TRẦN", "trần văn",
    "Nguyễn Thị Ánh", "a\x00b", "bell\x07", "line\nbreak", "tab\tx", "x" * 300, " padded ",
    "", "💥", "$$; DROP TABLE public.canary; $$", "\" OR 1=1 --", "CARD", "MASS", "VIP",
    "ı", "ß", "ǅ", "\u202e", "e\u0301",
]  # fmt: skip
HOSTILE_NUMBERS = [0, -0.0, 1, -1, 30, 2**31, 2**63, 1e300, 1e-300, 1e400, "1e999999999",
                   "12345678901234567890.123", "NaN", "Infinity", "1e5", True, "30", 1.5,
                   Decimal("0.1"), "9" * 120]  # fmt: skip
DATES = ["2025-01-12", "2024-02-29", "2025-02-29", "0000-01-01", "9999-12-31", "2025-1-1",
         "today", "yesterday", 20250112, "2025-01-12T00:00:00"]  # fmt: skip
PARTIES = ["customer", "reference_customer_all", "reference_customer_parent", "spouse", ""]
CONTACTS = ["all", "mobile", "home", "work", "fax", ""]


def _value(rng: random.Random, dtype: str):
    pool = {"string": HOSTILE_TEXT, "number": HOSTILE_NUMBERS, "date": DATES,
            "boolean": [True, False, "true", "no", 1, None]}[dtype]  # fmt: skip
    if rng.random() < 0.15:  # the wrong type
        pool = rng.choice([HOSTILE_TEXT, HOSTILE_NUMBERS, DATES])
    return rng.choice(pool)


def _condition(rng: random.Random) -> dict:
    source = rng.choice([*FIELDS, "bank_sync_service.phones", " bank_sync_service.loans "])
    fields = FIELDS.get(source.strip(), {"number": "string"})
    name = rng.choice([*fields, "no_such_field", "dpd; DROP TABLE x"])
    dtype = fields.get(name, "string")
    op = rng.choice(OPERATORS)
    cond = {"data_source": source, "field_name": name, "operator": op}
    if op in ("IN", "NOT IN"):
        cond["field_value"] = [_value(rng, dtype) for _ in range(rng.randint(0, 3))]
    elif op == "BETWEEN":
        cond["field_value"] = [_value(rng, dtype) for _ in range(rng.choice([2, 2, 2, 1, 3]))]
    elif op not in ("IS NULL", "IS NOT NULL") or rng.random() < 0.1:
        cond["field_value"] = _value(rng, dtype)
    return cond


def _name(rng: random.Random) -> str:
    return rng.choice(["Nhóm A", "Chiến dịch ", "x" * 255, "x" * 256, "G", "C", "a\x00",
                       "'; DROP TABLE public.canary; --", "Trần */ --", "  ", "Đòi nợ 🚨"])  # fmt: skip


def _config(rng: random.Random) -> dict:
    groups = []
    for _ in range(rng.randint(0, 3)):
        campaigns = []
        for _ in range(rng.randint(0, 3)):
            campaigns.append({
                "name": _name(rng) if rng.random() < 0.3 else f"C{rng.randint(1, 6)}",
                "priority": rng.choice([1, 2, 3, 10, 0, -1, 2**31, 2**31 - 1, "1", 1.5, None]),
                "conditions": [_condition(rng) for _ in range(rng.randint(0, 4))],
                "contact_rules": [{
                    "rule_priority": rng.choice([1, 2, 3, 2**31]),
                    "conditions": [_condition(rng) for _ in range(rng.randint(0, 2))],
                    "outputs": [{"related_party_type": rng.choice(PARTIES),
                                 "contact_type": rng.choice(CONTACTS)}
                                for _ in range(rng.randint(0, 2))],
                } for _ in range(rng.randint(0, 2))],
            })  # fmt: skip
        groups.append({"name": _name(rng) if rng.random() < 0.3 else f"G{rng.randint(1, 4)}",
                       "campaigns": campaigns})  # fmt: skip
    doc = {"custom_fields": [{"field_name": n, "data_type": t}
                             for n, t in FIELDS["custom_fields"].items()], "groups": groups}  # fmt: skip
    if rng.random() < 0.05:
        doc["unexpected"] = 1
    return doc


def _text(rng: random.Random, doc: dict) -> str:
    """The document as a user might write it: YAML, JSON, or YAML with a duplicated key."""
    plain = json.loads(json.dumps(doc, default=str))
    form = rng.random()
    if form < 0.5:
        return yaml.safe_dump(plain, allow_unicode=True, sort_keys=False)
    if form < 0.9:
        return json.dumps(plain, ensure_ascii=rng.random() < 0.5)
    return yaml.safe_dump(plain, allow_unicode=True, sort_keys=False) + "groups: []\n"


def _scenario(db) -> None:
    s = Scenario()
    for i, name in enumerate(["Trần Văn An", "Nguyễn Thị Ánh", "ĐẶNG QUỐC BẢO", "Lê Ý", "O'Brien"]):
        s.customer(f"C{i}", name=name, segment=["MASS", "VIP"][i % 2])
        if i != 4:  # a customer without loans
            s.loan(f"C{i}", f"L{i}", dpd=15 * i, product_type=["CARD", "AUTO"][i % 2])
            s.custom[f"L{i}"] = [
                {"risk": 80 + i, "tier": "gold"},
                {"risk": "high"},
                {"promise": 5},
                {"disputed": "yes"},
            ][i]  # JSON of the wrong type, on purpose
        s.phone(f"C{i}", i + 1, "mobile", f"+8490000{i}", primary=True)
    s.load(db)
    db.execute("CREATE TABLE public.canary (x int)")
    db.execute("INSERT INTO public.canary VALUES (42)")


def _intact(db) -> None:
    assert db.execute("SELECT x FROM public.canary").fetchall() == [(42,)]
    assert db.execute("SELECT count(*) FROM bank_sync_service.customers").fetchone()[0] == 5
    assert db.execute("SELECT count(*) FROM bank_sync_service.loans").fetchone()[0] == 4


def test_fuzzed_configurations_validate_apply_and_run(db, dsn, tmp_path):
    _scenario(db)
    rng = random.Random(SEED)
    tally = {"invalid": 0, "ran": 0}
    for i in range(CONFIGS):
        text = _text(rng, _config(rng))
        where = f"configuration #{i} (seed {SEED}):\n{text[:2000]}"
        try:
            cfg = files.parse(text, f"fuzz-{i}.yaml")
            api.validate_config(db, cfg)
        except SqlCompilerError:
            tally["invalid"] += 1
            continue
        except Exception as exc:  # anything else would be a traceback for the user
            raise AssertionError(f"validate raised {exc!r} for {where}") from exc
        try:  # valid ⇒ applies ⇒ runs
            api.apply_config(db, cfg, applied_by="fuzz", source_name=f"fuzz-{i}.yaml")
            res = runner.run(dsn, max_drop=100, keep=2)
        except Exception as exc:
            raise AssertionError(f"valid but {type(exc).__name__}: {exc} for {where}") from exc
        assert res.status in ("succeeded", "held"), where
        tally["ran"] += 1
        if i % 60 == 0:  # through the CLI too: exit codes and one-line errors
            path = tmp_path / f"fuzz-{i}.yaml"
            path.write_text(text, encoding="utf-8", errors="surrogatepass")
            out = sqlc("config", "validate", str(path), dsn=dsn)
            assert out.returncode == 0 and "Traceback" not in out.stderr
    _intact(db)
    # the generator must exercise both sides, or the property says nothing
    print(f"fuzz: {tally}")
    assert tally["ran"] >= CONFIGS // 10 and tally["invalid"] >= CONFIGS // 10, tally


def _upload_line(rng: random.Random, i: int, csv_form: bool) -> str:
    account = rng.choice([f"L{rng.randint(0, 3)}", "L9", "", "L" * 60, "L1\x00", " L2 "])
    field = rng.choice(["risk", "tier", "promise", "disputed", "colour"])
    value = _value(rng, FIELDS["custom_fields"].get(field, "string"))
    if csv_form:
        cell = str(value).replace('"', '""')
        return f'{account},"{cell}"' if rng.random() < 0.9 else f"{account},{cell},extra"
    extra = rng.choice(["", ', "deep": ' + "[" * 3000 + "]" * 3000, ", NaN", ', "x": Infinity'])
    return json.dumps({"account_number": account, field: value}, default=str)[:-1] + extra + "}"


def test_fuzzed_uploads_never_break_the_run(db, dsn, tmp_path):
    _scenario(db)
    db.execute("DELETE FROM bank_sync_service.loan_custom_fields")
    registry = [{"field_name": n, "data_type": t} for n, t in FIELDS["custom_fields"].items()]
    api.apply_config(db, files.parse(yaml.safe_dump({"custom_fields": registry, "groups": [{"name": "G", "campaigns": [
        {"name": "risky", "priority": 1, "conditions": [
            {"data_source": "custom_fields", "field_name": "risk", "operator": ">", "field_value": 50}]},
        {"name": "rest", "priority": 2}]}]}), "u.yaml"), applied_by="fuzz")  # fmt: skip
    rng = random.Random(SEED + 1)
    for i in range(UPLOADS):
        csv_form = rng.random() < 0.5
        field = rng.choice(["risk", "tier", "promise", "disputed"])
        lines = [_upload_line(rng, i, csv_form) for _ in range(rng.randint(1, 8))]
        body = ("account_number," + field + "\n" if csv_form else "") + "\n".join(lines) + "\n"
        data = body.encode("utf-8", errors="surrogatepass")
        if rng.random() < 0.1:
            data = b"\xef\xbb\xbf" + data  # BOM
        if rng.random() < 0.05:
            data += b"\xff\xfe bad bytes\n"
        path = tmp_path / f"u{i}.{'csv' if csv_form else 'jsonl'}"
        path.write_bytes(data)
        reject = tmp_path / f"u{i}.rejected" if rng.random() < 0.5 else None
        try:
            custom_fields.upload(
                db, path, source_system="fuzz", uploaded_by="fuzz", reject_file=reject
            )
        except SqlCompilerError:
            pass
        except Exception as exc:
            raise AssertionError(f"upload #{i} raised {exc!r}:\n{data[:500]!r}") from exc
        res = runner.run(dsn, max_drop=100, keep=2)  # whatever was loaded, the run works
        assert res.status == "succeeded"
    _intact(db)


def test_no_output_path_shows_a_password(dsn, tmp_path):
    """Bad DSNs of every shape, through every command family: never the password."""
    shapes = [
        "postgresql://camp:S3cret@[::1/lp", "host=/run/pg user=camp password=Pw S3cret",
        "postgresql://camp:S3 cret@host/lp", "host=127.0.0.1 port=1 password=S3cret connect_timeout=2",
        "password='S3cret", "postgresql://camp:S3cret@localhost:99999/lp",
    ]  # fmt: skip
    commands = [("db", "upgrade"), ("config", "validate", os.devnull), ("compile",), ("run",),
                ("runs",), ("explain", "C1"), ("custom-fields", "list"), ("source", "status")]  # fmt: skip
    probes = [(shape, command, ()) for shape in shapes for command in commands]
    probes += [(shape, command, extra) for shape in shapes for command in (("run",), ("runs",))
               for extra in (("--debug",), ("--log-format", "json"))]  # fmt: skip
    for shape, command, extra in probes:
        out = sqlc("--dsn", shape, *extra, *command)
        assert "S3cret" not in out.stdout + out.stderr, (shape, command, extra)
        assert "S3 cret" not in out.stdout + out.stderr, (shape, command, extra)
        assert out.returncode in (1, 2), (shape, command, extra, out.stderr)
        if not extra:
            assert "Traceback" not in out.stderr
    assert len(probes) == 72
