"""For any contract and any file, ingestion either reads the file, every row accepted or
quarantined with a reason, or refuses it whole with a named reason (UnreadableFileError);
never another exception, never a row lost."""

import codecs
import gzip

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credit_assets.core.contracts import Contract, ContractError
from credit_assets.core.ingestion.files import (
    UnreadableFileError,
    inspect_landing_file,
)
from credit_assets.core.ingestion.stream import ingest_file
from credit_assets.core.onboarding.inference import infer_contract

TYPES = ["string", "int", "float", "bool", "date", "datetime", "category"]
FORMATS = {
    "date": [None, "%d/%m/%Y", "%y%m%d", "excel_serial"],
    "datetime": [None, "%Y-%m-%d %H:%M"],
}
VALUES = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["", " ", "NA", "1.169,94", "01/02/2024", "240105", "45296", "TRUE", "€", "\x00"]
    ),
)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    names = draw(
        st.lists(
            st.sampled_from(["a", "b", "c", "amount", "when", "kind"]),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    columns = {}
    for name in names:
        kind = draw(st.sampled_from(TYPES))
        spec: dict = {"type": kind, "role": "feature", "nullable": draw(st.booleans())}
        if kind in FORMATS:
            spec["format"] = draw(st.sampled_from(FORMATS[kind]))
        if kind in ("int", "float") and draw(st.booleans()):
            spec["min"], spec["max"] = -1000, 1000
        if kind == "category" and draw(st.booleans()):
            spec["allowed"] = ["x", "y"]
        columns[name] = spec
    csv = {
        "delimiter": draw(st.sampled_from([",", ";", "\t", "|"])),
        "decimal": draw(st.sampled_from([".", ","])),
        "encoding": draw(st.sampled_from(["utf-8", "cp1252", "utf-16", "latin-1"])),
        "skip_rows": draw(st.integers(0, 2)),
    }
    if csv["decimal"] == "," and csv["delimiter"] == ",":
        csv["delimiter"] = ";"
    keys = [names[0]] if draw(st.booleans()) else []
    try:
        return Contract.model_validate(
            {"name": "lender", "kind": "applications", "keys": keys, "csv": csv, "columns": columns}
        )
    except (ValueError, ContractError):  # an invalid draw: the plain contract instead
        return Contract.model_validate(
            {"name": "lender", "kind": "applications", "columns": columns}
        )


@st.composite
def files(draw: st.DrawFn, contract: Contract) -> tuple[str, bytes]:
    header = list(contract.columns) + draw(
        st.lists(st.sampled_from(["", "a", "extra"]), max_size=2)
    )
    if draw(st.booleans()):
        header = header[: draw(st.integers(0, len(header)))]
    rows = draw(st.lists(st.lists(VALUES, min_size=0, max_size=len(header) + 1), max_size=12))
    sep = draw(st.sampled_from([contract.csv.delimiter, ",", ";"]))
    lines = [*(["Export banner"] * draw(st.integers(0, 2))), sep.join(header)]
    lines += [sep.join(f'"{v}"' if sep in v else v for v in row) for row in rows]
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines) + "\n" * draw(st.integers(0, 3))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # a truncated transfer
    suffix = draw(
        st.sampled_from([".csv", ".csv.gz", ".tsv", ".txt", ".xlsx", ".parquet", ".docx"])
    )
    if suffix == ".csv.gz":
        data = gzip.compress(data)
    return suffix, data


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_contract_and_file_is_read_or_refused_by_name(data, tmp_path_factory):
    contract = data.draw(contracts())
    suffix, content = data.draw(files(contract))
    path = tmp_path_factory.mktemp("never") / f"lender{suffix}"
    path.write_bytes(content)
    try:
        inspect_landing_file(path, contract)
        result = ingest_file(path, contract)
    except UnreadableFileError as refused:
        assert refused.reason and path.name in str(refused)
        return
    assert result.accepted.height + result.rejected.height == result.rows_read
    assert result.rejected["reason"].null_count() == 0
    assert set(result.accepted.columns) >= set(contract.columns)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_infer_drafts_or_refuses_any_file_by_name(data, tmp_path_factory):
    contract = data.draw(contracts())
    suffix, content = data.draw(files(contract))
    path = tmp_path_factory.mktemp("infer") / f"lender{suffix}"
    path.write_bytes(content)
    try:
        draft = infer_contract(path, "lender")
    except UnreadableFileError as refused:
        assert refused.reason
        return
    except ValueError as refused:  # a draft that is not a valid contract, named
        assert "lender" in str(refused) or "label" in str(refused)
        return
    # What infer drafted, ingestion reads: never refused for how the file is written.
    result = ingest_file(path, draft.contract)
    assert result.accepted.height + result.rejected.height == result.rows_read


def test_a_gzip_bomb_like_truncation_is_refused_by_name(tmp_path):
    path = tmp_path / "lender.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,2\n" * 1000)[:50])
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "columns": {"a": {"type": "int", "role": "feature"}},
        }
    )
    try:
        ingest_file(path, contract)
    except UnreadableFileError as refused:
        assert "gzip" in refused.reason or "parse" in refused.reason
    else:  # a truncated stream may still hold whole rows: then they are read, none invented
        assert ingest_file(path, contract).accepted["a"].to_list() == [1] * len(
            ingest_file(path, contract).accepted
        )


def test_utf16_without_a_declared_encoding_reads_by_its_mark(tmp_path):
    path = tmp_path / "lender.csv"
    path.write_bytes(codecs.BOM_UTF16_LE + "a;b\n1;2\n".encode("utf-16-le"))
    contract = Contract.model_validate(
        {
            "name": "lender",
            "kind": "applications",
            "csv": {"delimiter": ";"},
            "columns": {"a": {"type": "int", "role": "feature"}},
        }
    )
    assert ingest_file(path, contract).accepted["a"].to_list() == [1]
    assert pl.DataFrame  # the frame library the results are in
