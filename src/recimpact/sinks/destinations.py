"""Report and data locations: ``s3://bucket/prefix`` (boto3, against the configured S3 endpoint or AWS) and
``file:///absolute/dir`` (a local folder, the embedded default).

One small interface serves the import jobs (list and fetch input files), the reports (write a new file) and the
attribution's destination check (AWS "places and validates a small amount of data" when an attribution is made).
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from recimpact.domain.arns import DEFAULT_REGION
from recimpact.domain.errors import InvalidInputException

PROBE_NAME = ".recimpact-write-check"


class DestinationError(Exception):
    """A location that cannot be read or written, with a message that names it."""


@dataclass(frozen=True)
class S3Config:
    endpoint_url: str | None = None
    region: str = DEFAULT_REGION

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region)


@dataclass(frozen=True)
class Location:
    scheme: str  # "s3" or "file"
    bucket: str  # empty for file://
    key: str  # the object key or absolute path (a trailing "/" marks a folder)

    @property
    def is_folder(self) -> bool:
        return self.key.endswith("/") or self.key == ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}" if self.scheme == "s3" else f"file://{self.key}"


def parse_location(text: str) -> Location:
    parsed = urllib.parse.urlparse(text)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidInputException(f"Invalid S3 location {text!r}: no bucket")
        return Location("s3", parsed.netloc, parsed.path.lstrip("/"))
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc not in ("", "localhost") or not path.startswith("/"):
            raise InvalidInputException(f"Invalid file location {text!r}: use file:///absolute/path")
        return Location("file", "", path)
    raise InvalidInputException(
        f"Unsupported location {text!r}: use s3://bucket/prefix/ or file:///absolute/dir/"
    )


def _join(folder: Location, name: str) -> Location:
    base = folder.key if folder.is_folder else folder.key + "/"
    return Location(folder.scheme, folder.bucket, base + name)


def write_file(
    location: Location, name: str, data: bytes, s3: S3Config, kms_key_arn: str | None = None
) -> str:
    """Write ``name`` into the folder ``location``; returns the written file's URL. Local writes go through a
    temporary file and a rename, so a reader never sees half a report."""
    target = _join(location, name)
    try:
        if target.scheme == "file":
            path = Path(target.key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        else:
            extra: dict[str, Any] = {}
            if kms_key_arn:
                extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
            s3.client().put_object(Bucket=target.bucket, Key=target.key, Body=data, **extra)
    except (OSError, BotoCoreError, ClientError) as exc:
        raise DestinationError(f"cannot write {target}: {exc}") from exc
    return str(target)


def exists(location: Location, name: str, s3: S3Config) -> bool:
    target = _join(location, name)
    if target.scheme == "file":
        return Path(target.key).exists()
    try:
        s3.client().head_object(Bucket=target.bucket, Key=target.key)
    except ClientError:
        return False
    return True


def check_writable(location: Location, s3: S3Config, kms_key_arn: str | None = None) -> None:
    """Write and remove a small probe file, as AWS validates a destination when an attribution is created."""
    write_file(location, PROBE_NAME, b"recimpact write check\n", s3, kms_key_arn)
    remove_file(_join(location, PROBE_NAME), s3)


def remove_file(target: Location, s3: S3Config) -> None:
    """Remove one file (a written report that must not outlive its failed job, a probe); gone already is fine."""
    try:
        if target.scheme == "file":
            Path(target.key).unlink(missing_ok=True)
        else:
            s3.client().delete_object(Bucket=target.bucket, Key=target.key)
    except (OSError, BotoCoreError, ClientError) as exc:
        raise DestinationError(f"cannot remove {target}: {exc}") from exc


def list_files(location: Location, s3: S3Config) -> list[Location]:
    """The files a ``dataLocation`` names: the file itself, or every file under a folder prefix (sorted)."""
    try:
        if location.scheme == "file":
            path = Path(location.key)
            if path.is_file():
                return [location]
            if path.is_dir():
                return [
                    Location("file", "", str(p))
                    for p in sorted(path.rglob("*"))
                    if p.is_file() and not p.name.startswith(".")
                ]
            raise DestinationError(f"no such file or folder: {location}")
        client = s3.client()
        if not location.is_folder:
            client.head_object(Bucket=location.bucket, Key=location.key)
            return [location]
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=location.bucket, Prefix=location.key
        ):
            keys += [obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]
        return [Location("s3", location.bucket, key) for key in sorted(keys)]
    except (BotoCoreError, ClientError) as exc:
        raise DestinationError(f"cannot read {location}: {exc}") from exc


def fetch(location: Location, folder: Path, s3: S3Config) -> Path:
    """A local path for the file: itself for file://, a streamed download into ``folder`` for s3://."""
    if location.scheme == "file":
        return Path(location.key)
    target = folder / f"{uuid.uuid4().hex}-{Path(location.key).name}"
    try:
        s3.client().download_file(location.bucket, location.key, str(target))
    except (BotoCoreError, ClientError) as exc:
        raise DestinationError(f"cannot read {location}: {exc}") from exc
    return target


@dataclass(frozen=True)
class FileInfo:
    name: str
    size: int
    modified: float  # epoch seconds


def list_folder(location: Location, s3: S3Config, prefix: str = "") -> list[FileInfo]:
    """Files directly in a folder (not below it) whose names start with ``prefix``."""
    folder = (
        location if location.is_folder else Location(location.scheme, location.bucket, location.key + "/")
    )
    try:
        if folder.scheme == "file":
            path = Path(folder.key)
            if not path.is_dir():
                return []
            return [
                FileInfo(p.name, p.stat().st_size, p.stat().st_mtime)
                for p in sorted(path.iterdir())
                if p.is_file() and p.name.startswith(prefix)
            ]
        found: list[FileInfo] = []
        paginator = s3.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=folder.bucket, Prefix=folder.key + prefix, Delimiter="/"):
            for obj in page.get("Contents", []):
                found.append(
                    FileInfo(obj["Key"][len(folder.key) :], int(obj["Size"]), obj["LastModified"].timestamp())
                )
        return found
    except (OSError, BotoCoreError, ClientError) as exc:
        raise DestinationError(f"cannot list {folder}: {exc}") from exc


def read_file(location: Location, name: str, s3: S3Config) -> bytes:
    target = _join(location, name)
    try:
        if target.scheme == "file":
            return Path(target.key).read_bytes()
        body: bytes = s3.client().get_object(Bucket=target.bucket, Key=target.key)["Body"].read()
        return body
    except (OSError, BotoCoreError, ClientError) as exc:
        raise DestinationError(f"cannot read {target}: {exc}") from exc
