"""`credit-platform contract check`: every problem of a contract file, not just the first.

YAML errors (with line and column) and keys declared twice; every pydantic error by field
path; a name that does not match the file; features without approved reason text; one
reason code with two texts; label values outside `allowed`; a feature named like a
protected characteristic; and, given a sample file, missing and extra columns and the rows
the contract would quarantine. A problem prefixed `warning: ` is advice, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import yaml
from pydantic import ValidationError

from credit_assets.core.contracts import (
    Contract,
    ContractError,
    Role,
    SourceKind,
    load_contract,
)

# The ingestion rules themselves: a draft typed by anything else could quarantine its own file.
from credit_assets.core.ingestion.files import (
    UnreadableFileError,
    file_format,
    read_delivered,
    validate_records,
)
from credit_assets.core.ingestion.readers import EXTRA_FIELDS
from credit_assets.core.modeling.leakage import screen_leakage
from credit_assets.core.onboarding.inference import (
    REASONED_KINDS,
    WARNING,
    looks_protected,
    pydantic_problems,
    reading_contract,
)


class _DuplicateKeyLoader(yaml.SafeLoader):
    """A safe loader that notes keys declared twice in one mapping (YAML keeps the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            try:
                if key in seen:
                    self.duplicates.append(
                        f"line {key_node.start_mark.line + 1}: {key!r} is declared twice in "
                        "one mapping; YAML silently keeps only the last"
                    )
                seen.add(key)
            except TypeError:  # an unhashable key: the constructor below reports it
                pass
        return super().construct_mapping(node, deep=deep)


def _read_yaml(text: str) -> tuple[Any, list[str]]:
    loader = _DuplicateKeyLoader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]


def check_contract(path: Path, sample: Path | None = None) -> list[str]:
    """Every problem of a contract file, each naming the field at fault; [] for a good one.

    Covers what `load_contract` refuses (YAML, every pydantic error, a name that is not
    the file name), what would hurt later (a key declared twice, a feature without the
    reason code and text the promotion gate needs, one reason code with two texts, label
    values that are not allowed, a feature named like a protected characteristic) and,
    prefixed "warning: ", an applications source with no label here or in an outcomes
    contract beside it. With `sample`, also the file's missing and extra columns and,
    per column, how many rows ingestion would quarantine and the first of them.
    """
    try:
        raw, problems = _read_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return [f"cannot read the contract: {exc}"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return [f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(raw, dict):
        return [*problems, f"a contract is a YAML mapping, got {type(raw).__name__}"]
    columns: dict[Any, Any] = raw["columns"] if isinstance(raw.get("columns"), dict) else {}
    specs = {str(n): s for n, s in columns.items() if isinstance(s, dict)}
    problems += [
        f"columns.{n}: must be a mapping with type and role, got {s!r}"
        for n, s in columns.items()
        if not isinstance(s, dict)
    ]
    contract, validation = _validate(raw, specs)
    problems += validation
    if raw.get("name") is not None and raw.get("name") != path.stem:
        problems.append(f"name: {raw.get('name')!r} must match the file name ({path.name})")
    problems += _column_problems(specs, raw.get("kind"))
    unlabelled = raw.get("kind") == SourceKind.APPLICATIONS.value and not any(
        s.get("role") == Role.LABEL.value for s in specs.values()
    )
    if unlabelled and not _outcomes_label_beside(path):
        problems.append(
            f"{WARNING}no label column, and no outcomes contract beside this one declares "
            "one: the source can be scored, but no model can be trained on it"
        )
    if sample is not None:
        if contract is None:
            problems.append(f"sample {sample.name} not checked: fix the contract first")
        else:
            problems += sample_problems(contract, sample)
    return problems


def _validate(raw: dict[str, Any], specs: dict[str, Any]) -> tuple[Contract | None, list[str]]:
    """The contract if valid, and every pydantic error.

    Pydantic checks the whole contract (keys, timestamp, label count) only once every
    column is valid, so after column errors the contract is checked again without the
    faulty columns to report its own problems too.
    """
    if isinstance(raw.get("columns"), dict):
        raw = {**raw, "columns": specs}  # columns that are not mappings are reported apart
    try:
        return Contract.model_validate(raw), []
    except ValidationError as exc:
        problems = pydantic_problems(exc)
        faulty = {str(e["loc"][1]) for e in exc.errors() if e["loc"][:1] == ("columns",)}
        faulty &= set(specs)
    if faulty:
        kept = {n: s for n, s in specs.items() if n not in faulty}
        rest = {**raw, "columns": kept}
        if isinstance(raw.get("keys"), list):
            rest["keys"] = [k for k in raw["keys"] if k not in faulty]
        if raw.get("timestamp") in faulty:
            rest["timestamp"] = None
        try:
            Contract.model_validate(rest)
        except ValidationError as again:
            problems += [p for p in pydantic_problems(again) if p not in problems]
    return None, problems


def _column_problems(specs: dict[str, dict[str, Any]], kind: Any) -> list[str]:
    problems = []
    texts_of_code: dict[str, dict[str, list[str]]] = {}
    for name, spec in specs.items():
        role, column_type = spec.get("role"), spec.get("type")
        code, text = spec.get("reason_code"), spec.get("reason_text")
        if role == Role.FEATURE.value and column_type not in ("date", "datetime"):
            missing = [
                field
                for field, value in (("reason_code", code), ("reason_text", text))
                if not str(value or "").strip()
            ]
            if missing and kind in [k.value for k in REASONED_KINDS]:
                problems.append(
                    f"columns.{name}: a feature needs {' and '.join(missing)}; the promotion "
                    "gate holds back any model that uses a feature without them"
                )
            if looks_protected(name):
                problems.append(
                    f"columns.{name}: named like a protected characteristic but its role is "
                    "feature; protected columns never reach a model (make it protected, or "
                    "rename it if it is not one)"
                )
        if code is not None and text is not None:
            texts_of_code.setdefault(str(code), {}).setdefault(str(text).strip(), []).append(name)
        labels, allowed = spec.get("labels"), spec.get("allowed")
        if isinstance(labels, dict) and isinstance(allowed, list):
            for which, value in labels.items():
                if value not in allowed and str(value) not in [str(a) for a in allowed]:
                    problems.append(
                        f"columns.{name}.labels.{which}: {value!r} is not among allowed {allowed}"
                    )
    for code, texts in texts_of_code.items():
        if len(texts) > 1:
            uses = "; ".join(f"{', '.join(cols)}: {text!r}" for text, cols in texts.items())
            problems.append(f"reason_code {code} has {len(texts)} different texts ({uses})")
    return problems


def _outcomes_label_beside(path: Path) -> bool:
    """Whether a valid outcomes contract with a label sits in the same folder."""
    for other in sorted(path.parent.glob("*.y*ml")):
        if other == path:
            continue
        try:
            contract = load_contract(other)
        except ContractError:
            continue
        if contract.kind is SourceKind.OUTCOMES and contract.label_column is not None:
            return True
    return False


def sample_problems(contract: Contract, sample: Path) -> list[str]:
    """What ingesting `sample` with `contract` would refuse or quarantine, per column.

    The sample is read with the contract's own `csv:`/`excel:` options and its rows are
    judged by ingestion's own `validate_records`, so check and ingestion never disagree.
    """
    where = f"sample {sample.name}"
    try:
        fmt = file_format(sample, contract)
        delivered = read_delivered(sample, reading_contract(contract.name, like=contract))
    except UnreadableFileError as exc:
        return [f"{where}: {exc.reason}"]
    problems = [f"{WARNING}{where}: {note}" for note in delivered.header_notes]
    frame = delivered.frame.rename(
        {h: n for h, n in contract.header_renames.items() if h in delivered.frame.columns}
    )
    in_file = [c for c in frame.columns if c not in ("_row_number", "_malformed", EXTRA_FIELDS)]
    problems += _column_set_problems(contract, in_file, where)
    if "_malformed" in frame.columns:
        lines = frame.get_column("_malformed").is_not_null().sum()
        problems.append(f"{where}: {lines} line(s) are not JSON objects (quarantined)")
    judged = _judged_contract(contract, in_file)
    try:
        accepted, rejected = validate_records(
            frame,
            judged,
            source_file=sample.name,
            sha256="",
            numbers=contract.csv if fmt.format == "csv" else None,
        )
    except pl.exceptions.PolarsError as exc:
        return [*problems, f"{where}: the contract makes ingestion fail: {exc}"]
    problems += leakage_problems(contract, accepted, where)
    return problems + _quarantine_problems(contract, rejected, where)


def _column_set_problems(contract: Contract, in_file: list[str], where: str) -> list[str]:
    """The contract's required columns the file lacks, and the file's columns it does not know."""
    problems = []
    for name, spec in contract.columns.items():
        if name not in in_file and spec.required:
            shown = f"{name!r}" + (f" (header {spec.header!r})" if spec.header else "")
            problems.append(f"{where}: column {shown} is missing (the file would be refused)")
    problems += [
        f"{where}: column {name!r} is not in the contract (ingestion drops it)"
        for name in in_file
        if name not in contract.columns
    ]
    return problems


def _judged_contract(contract: Contract, in_file: list[str]) -> Contract:
    """The contract narrowed to the columns the file has (and its keys, if all are there)."""
    # The columns the file has are judged as ingestion judges them; a missing one is
    # reported once by `_column_set_problems`, not once per row.
    present = {
        name: spec
        for name, spec in contract.columns.items()
        if name in in_file and (spec.sign_from is None or spec.sign_from.column in in_file)
    }
    keys = contract.keys if all(k in present for k in contract.keys) else []
    return contract.model_copy(update={"columns": present, "keys": keys})


def _quarantine_problems(contract: Contract, rejected: pl.DataFrame, where: str) -> list[str]:
    """Per column, how many rows ingestion would quarantine and the first of them."""
    by_column: dict[str, tuple[int, int, str]] = {}
    for row, reasons in rejected.select("row_number", "reason").iter_rows():
        for reason in str(reasons).split("; "):
            column = reason.split(":", 1)[0] if ":" in reason else reason
            count, first_row, first = by_column.get(column, (0, row, reason))
            by_column[column] = (count + 1, first_row, first)
    problems = []
    for column, (count, row, first) in by_column.items():
        if column.startswith("duplicate key"):
            problems.append(
                f"{where}: {count} row(s) repeat a key ({', '.join(contract.keys)}) seen "
                f"earlier in the file (quarantined); first, row {row}"
            )
        elif column in contract.columns:
            problems.append(
                f"{where}: {count} row(s) would be quarantined for column {column!r}; "
                f"first, row {row}: {first}"
            )
        else:
            problems.append(
                f"{where}: {count} row(s) would be quarantined; first, row {row}: {first}"
            )
    return problems


def leakage_problems(contract: Contract, accepted: pl.DataFrame, where: str) -> list[str]:
    """The leakage screen the `no_target_leakage` gate will run, on the sample's valid rows:
    a feature that alone nearly separates the label, unless declared known at decision."""
    label = contract.label_column
    if label is None or label.labels is None or label.name not in accepted.columns:
        return []
    bad = str(label.labels["bad"])
    frame = accepted.with_columns(
        (pl.col(label.name).cast(pl.String) == bad).cast(pl.Int8).alias("_bad_outcome")
    )
    features = [
        c.name
        for c in contract.columns.values()
        if c.role is Role.FEATURE and not c.known_at_decision
    ]
    screen = screen_leakage(frame, "_bad_outcome", features)
    return [
        f"{where}: target leakage suspected: {finding.detail}; if {finding.feature} is known "
        "when the decision is made, say `known_at_decision: true` on it, else drop it "
        "(the no_target_leakage gate would hold the model back)"
        for finding in screen.findings
    ]


def role_summary(contract: Contract) -> str:
    """`1 label, 2 protected, 7 feature`: the columns of a contract by role."""
    counts = {role: len(contract.columns_with(role)) for role in Role}
    return ", ".join(f"{n} {role.value}" for role, n in counts.items() if n)
