"""POST /v1/sources/{source}/files, POST /v1/sources/{source}/records, GET /v1/uploads/{id}.

A lender's systems push alternative data here instead of writing their own landing-zone
uploader. The body is streamed to a staging file (never held whole in memory), hashed and
counted on the way; over CREDIT_INGEST_MAX_BYTES it is refused with 413 as soon as the
limit is passed. What is received is checked as the landing sensor would check it and then
moved into `<landing>/<source>/` in one step (`credit_assets.core.ingestion.uploads`).
Bodies are never logged: they carry borrower identifiers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from credit_assets.core.contracts import Contract
from credit_assets.core.ingestion.uploads import (
    CONTENT_TYPES,
    EXTENSIONS,
    Upload,
    UploadRefused,
    find_upload,
    land_upload,
    new_upload_id,
    records_as_jsonl,
    upload_format,
)
from credit_assets.core.platform.apikeys import VerifiedKey
from scoring_api.deps import AUTH_RESPONSES, ServicesDep, VerifiedKeyDep
from scoring_api.errors import ApiError, FieldError
from scoring_api.gate import PARSED_JSON
from scoring_api.schemas import UploadReceipt, UploadRecord
from scoring_api.services import Services
from scoring_api.services.callers import DATA_WRITE, authorize

router = APIRouter(tags=["data"])


async def data_writer(services: ServicesDep, key: VerifiedKeyDep) -> VerifiedKey:
    """A valid key holding `data:write` (401, 403, then 429): the lender's, or a data
    partner's, which may write only the sources granted to it."""
    authorize(key, DATA_WRITE, services.limiter)
    return key


DataWriter = Annotated[VerifiedKey, Depends(data_writer)]
_UNREAD = object()  # no body parsed by the request gate (an empty one, say)


def _may_write(writer: VerifiedKey, source: str) -> None:
    """403 before anything is read when a partner's key names a source not granted to it."""
    if not writer.may_write(source):
        granted = ", ".join(sorted(writer.sources or ()))
        raise ApiError(403, f"this partner key may write only to: {granted}")


def source_param(sources: list[str]) -> Any:
    """The `source` path parameter; its OpenAPI schema lists the sources with a contract
    (another name is answered 404, naming it)."""
    return Path(
        min_length=1,
        max_length=100,
        description="A source the platform has a data contract for (`contracts/<source>.yaml`).",
        json_schema_extra={"enum": sources},
        examples=sources[:1],
    )


UploadId = Annotated[
    str,
    Path(min_length=1, max_length=32, description="`upload_id` as POST returned it."),
]
_BINARY = {"schema": {"type": "string", "format": "binary"}}
FILE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file's bytes; its format is named by Content-Type.",
        "content": {media: _BINARY for media in CONTENT_TYPES},
    }
}
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    404: {"description": "No data contract for this source."},
    413: {
        "description": "The body is larger than CREDIT_INGEST_MAX_BYTES (or, for records, "
        "holds more than CREDIT_API_MAX_RECORDS)."
    },
    415: {"description": "The Content-Type is not a format the source's contract accepts."},
    422: {
        "description": "Unreadable, or a required column is missing; the message names it. "
        "Nothing was written."
    },
    503: {"description": "The landing zone or the database is unavailable; retry later."},
}


def _contract(services: Services, source: str) -> Contract:
    contract = services.contracts.get(source)
    if contract is None:
        raise ApiError(404, f"no data contract for source {source!r}")
    return contract


def _refused(exc: UploadRefused) -> ApiError:
    return (
        FieldError(["body"], exc.reason) if exc.status == 422 else ApiError(exc.status, exc.reason)
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"the body is larger than {limit} bytes (CREDIT_INGEST_MAX_BYTES)")


async def _stream_to(request: Request, staged: FilePath, limit: int) -> tuple[str, int]:
    """(sha256, size) of the body, written to `staged` chunk by chunk; 413 past `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    digest = hashlib.sha256()
    size = 0
    with staged.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise FieldError(["body"], "the body is empty")
    return digest.hexdigest(), size


def _receipt(upload: Upload, new: bool) -> JSONResponse:
    receipt = UploadReceipt(
        upload_id=upload.upload_id,
        status=upload.status,  # type: ignore[arg-type]
        source=upload.source,
        bytes=upload.bytes,
        sha256=upload.sha256,
        duplicate=not new,
    )
    return JSONResponse(receipt.model_dump(), status_code=202)


async def _land(
    services: Services,
    contract: Contract,
    lender: str,
    staged: FilePath,
    given_name: str | None,
    fmt: str,
    sha256: str,
    size: int,
    upload_id: str,
) -> JSONResponse:
    try:
        upload, new = await run_in_threadpool(
            land_upload,
            services.engine,
            services.landing,
            contract,
            lender=lender,
            staged=staged,
            given_name=given_name,
            fmt=fmt,
            sha256=sha256,
            size=size,
            upload_id=upload_id,
        )
    except UploadRefused as exc:
        raise _refused(exc) from exc
    except OSError as exc:  # the landing folder or the S3 endpoint
        raise ApiError(
            503, f"the landing zone is unavailable ({type(exc).__name__}); retry later"
        ) from exc
    return _receipt(upload, new)


def _records_openapi(max_records: int) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "array",
                        "items": {"type": "object"},
                        "minItems": 1,
                        "maxItems": max_records,
                    }
                }
            },
        }
    }


def _parse_records(data: bytes, max_records: int) -> list[Any]:
    try:
        records = json.loads(data)
    except json.JSONDecodeError as exc:
        raise FieldError(["body"], f"not JSON: {exc.msg} at character {exc.pos}") from exc
    except ValueError as exc:  # not UTF-8
        raise FieldError(["body"], f"not JSON: {exc}") from exc
    return _checked_records(records, max_records)


def _checked_records(records: Any, max_records: int) -> list[Any]:
    if not isinstance(records, list) or not records:
        raise FieldError(["body"], "expected a non-empty JSON array of records")
    if len(records) > max_records:
        raise ApiError(
            413,
            f"{len(records)} records; at most {max_records} per request (CREDIT_API_MAX_RECORDS)",
        )
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise FieldError(["body", index], "a record must be a JSON object")
    return records


def _records_file(records: list[Any], staged: FilePath, contract: Contract) -> bytes:
    """The checked records written to `staged` as the JSON-lines file they land as."""
    try:
        body = records_as_jsonl(records, contract)
    except UploadRefused as exc:
        raise _refused(exc) from exc
    staged.write_bytes(body)
    return body


def data_router(sources: list[str], max_records: int) -> APIRouter:
    """POST /v1/sources/{source}/files and /records for these sources, with the records
    count bound (CREDIT_API_MAX_RECORDS) in the OpenAPI document."""
    routes = APIRouter(tags=["data"])

    @routes.post(
        "/v1/sources/{source}/files",
        status_code=202,
        response_model=UploadReceipt,
        summary="Upload a file of a source",
        responses=UPLOAD_RESPONSES,
        openapi_extra=FILE_OPENAPI,
    )
    async def upload_file(
        request: Request,
        writer: DataWriter,
        services: ServicesDep,
        source: str = source_param(sources),
        filename: Annotated[
            str | None,
            Query(
                max_length=255,
                description="A name to recognise the file by; only letters, digits, '_' and '-' "
                "of its last component are kept, in the landing file's name.",
            ),
        ] = None,
    ) -> JSONResponse:
        """A CSV, JSON-lines (or nested JSON, for a contract with `from:` paths) or Parquet file,
        as the raw body, with its format as Content-Type. Needs the `data:write` scope. The
        file is checked on receipt (format, encoding, required columns) and landed for the
        landing sensor to ingest; identical content sent again returns the same upload. Follow
        it with GET /v1/uploads/{upload_id}. A data partner's key writes only its sources."""
        return await _upload_file(request, writer, services, source, filename)

    @routes.post(
        "/v1/sources/{source}/records",
        status_code=202,
        response_model=UploadReceipt,
        summary="Push records of a source",
        responses=UPLOAD_RESPONSES,
        openapi_extra=_records_openapi(max_records),
    )
    async def push_records(
        request: Request,
        writer: DataWriter,
        services: ServicesDep,
        source: str = source_param(sources),
    ) -> JSONResponse:
        """A JSON array of records (objects in the contract's columns, or in the shape its
        `from:` paths read, such as an aggregator's transaction objects), landed as one
        JSON-lines file. Needs the `data:write` scope. The same rules as a file upload
        apply; identical records sent again return the same upload. A data partner's key
        writes only its sources."""
        return await _push_records(request, writer, services, source, max_records)

    return routes


async def _upload_file(
    request: Request,
    writer: VerifiedKey,
    services: Services,
    source: str,
    filename: str | None,
) -> JSONResponse:
    """The body, in the format its Content-Type names, streamed to a staging file and landed."""
    _may_write(writer, source)
    contract = _contract(services, source)
    try:
        fmt = upload_format(request.headers.get("content-type"), contract)
    except UploadRefused as exc:
        raise _refused(exc) from exc
    upload_id = new_upload_id()
    staged = services.landing.staging_dir(source) / f"{upload_id}{EXTENSIONS[fmt]}"
    limit = services.settings.ingest_max_bytes
    try:
        sha256, size = await _stream_to(request, staged, limit)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return await _land(
        services, contract, writer.furnisher, staged, filename, fmt, sha256, size, upload_id
    )


async def _push_records(
    request: Request,
    writer: VerifiedKey,
    services: Services,
    source: str,
    max_records: int,
) -> JSONResponse:
    """The body's JSON records, checked, written as one JSON-lines staging file and landed."""
    _may_write(writer, source)
    contract = _contract(services, source)
    _check_records_accepted(request, contract, source)
    limit = services.settings.ingest_max_bytes
    upload_id = new_upload_id()
    received = services.landing.staging_dir(source) / f"{upload_id}.json.part"
    staged = received.with_name(f"{upload_id}.jsonl")
    body = await _stage_records(request, received, staged, contract, limit, max_records)
    sha256 = hashlib.sha256(body).hexdigest()
    return await _land(
        services,
        contract,
        writer.furnisher,
        staged,
        "records",
        "jsonl",
        sha256,
        len(body),
        upload_id,
    )


def _check_records_accepted(request: Request, contract: Contract, source: str) -> None:
    """415 unless the body is JSON and the source's contract accepts JSON lines."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, f"send the records as application/json, not {media or '(none)'}")
    if "jsonl" not in contract.formats:
        raise ApiError(415, f"source {source} accepts {', '.join(contract.formats)}, not JSON")


async def _stage_records(
    request: Request,
    received: FilePath,
    staged: FilePath,
    contract: Contract,
    limit: int,
    max_records: int,
) -> bytes:
    """The records as the JSON-lines file written to `staged`: from the body the request gate
    parsed, else from the body streamed to `received` (removed afterwards). Nothing is left
    staged when they are refused."""
    try:
        parsed = request.scope.get(PARSED_JSON, _UNREAD)
        if parsed is not _UNREAD:  # the request gate read, bounded and checked the body
            records = _checked_records(parsed, max_records)
        else:
            await _stream_to(request, received, limit)
            records = await run_in_threadpool(
                lambda: _parse_records(received.read_bytes(), max_records)
            )
        # Writing out up to CREDIT_API_MAX_RECORDS records: off the event loop.
        return await run_in_threadpool(_records_file, records, staged, contract)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    finally:
        received.unlink(missing_ok=True)


@router.get(
    "/v1/uploads/{upload_id}",
    response_model=UploadRecord,
    summary="An upload and its ingestion",
    responses={
        **AUTH_RESPONSES,
        404: {"description": "No upload with this id for your lender."},
        503: {"description": "The database is unavailable; retry later."},
    },
)
def get_upload(writer: DataWriter, services: ServicesDep, upload_id: UploadId) -> UploadRecord:
    """`received` -> `ingesting` -> `ingested` (with the valid and quarantined row counts and
    the Dagster run id), or `rejected` / `failed` with the reason, as ingestion recorded it
    in the platform database. Needs the `data:write` scope; only the lender that uploaded it
    can read it (any other id is 404, whether it exists or not)."""
    upload = find_upload(services.engine, writer.furnisher, upload_id)
    if upload is None:
        raise ApiError(404, "no upload with this id for your lender")
    return UploadRecord.model_validate(
        {k: v for k, v in upload.as_dict().items() if k in UploadRecord.model_fields}
    )
