"""Publish a local dataset to object storage, where sweep workers on other machines read it.

``run_data_sync.py --publish s3://bucket/prefix`` copies the files the dataset's manifest
names, byte for byte (``pyarrow.fs``), then the manifest last: a reader sees the old version or
the new one, never a mix, and a publish killed at any moment leaves the old version readable;
run again, it copies only what is missing (file names are unique: a file never changes). Files
neither the new nor the previous manifest names are then deleted; the previous version's stay,
so that a reader that took the old manifest a moment ago still finds them.

S3 is addressed as the readers address it (:mod:`quant_core.data.remote`: the ``AWS_*``
environment variables). An ``http(s)://`` warehouse is read-only: copy the folder to the web
server with the tool it takes (the manifest last).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from config.redact import carries_credentials
from quant_core.data.remote import S3Settings
from quant_core.data.store import DatasetStore
from quant_core.data.store_read import Manifest, parse_manifest
from quant_core.errors import ConfigError, DataError
from quant_core.types import ProgressFn

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Published:
    """What one publish did: files copied, files already there, files deleted, bytes sent."""

    url: str
    dataset: str
    version: int
    copied: int
    present: int
    removed: int
    bytes_sent: int


def s3_filesystem(settings: S3Settings) -> pafs.S3FileSystem:
    """Return the S3 file system of ``settings`` (the endpoint of an S3-compatible store)."""
    options: dict[str, Any] = {"region": settings.region}
    if settings.key_id and settings.secret:
        options.update(access_key=settings.key_id, secret_key=settings.secret)
        if settings.token:
            options["session_token"] = settings.token
    else:
        options["anonymous"] = True
    if settings.endpoint:
        scheme = "https" if settings.use_ssl else "http"
        options["endpoint_override"] = f"{scheme}://{settings.endpoint}"
    return pafs.S3FileSystem(**options)


def publish(
    store: DatasetStore,
    dataset: str,
    url: str,
    progress: ProgressFn | None = None,
    filesystem: pafs.FileSystem | None = None,
) -> Published:
    """Copy ``dataset`` of the local ``store`` to the warehouse at ``url`` (module docstring).

    Raises
    ------
    ConfigError
        ``url`` is not an ``s3://bucket/prefix`` URL.
    DataError
        No such local dataset, or the object store refused a read or a write (named).
    """
    if carries_credentials(url):
        raise ConfigError(
            "--publish: a URL carries no credentials (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY in the environment instead)"
        )
    if not url.startswith("s3://") or not url[len("s3://") :].strip("/"):
        raise ConfigError(
            f"--publish {url!r}: publish to s3://bucket/prefix; an http(s) warehouse is "
            "read-only here (copy the folder to the web server, the manifest last)"
        )
    target = url[len("s3://") :].rstrip("/") + f"/{dataset}"
    fs = filesystem if filesystem is not None else s3_filesystem(S3Settings.from_env())
    with store.lock(dataset):
        manifest = store.load(dataset, required=True)
        try:
            return _copy(store, dataset, manifest, fs, target, url, progress)
        except OSError as exc:
            raise DataError(f"publishing {dataset!r} to {url}: {_first_line(exc)}") from None


def _copy(
    store: DatasetStore,
    dataset: str,
    manifest: Manifest,
    fs: pafs.FileSystem,
    target: str,
    url: str,
    progress: ProgressFn | None,
) -> Published:
    previous = _remote_files(fs, f"{target}/manifest.json")
    wanted = sorted(manifest.files())
    folder = store.folder(dataset)
    copied = present = sent = 0
    for done, name in enumerate(wanted, start=1):
        local, remote = folder / name, f"{target}/{name}"
        size = local.stat().st_size
        info = fs.get_file_info(remote)
        if info.type == pafs.FileType.File and info.size == size:
            present += 1
        else:
            pafs.copy_files(str(local), remote, destination_filesystem=fs)
            copied, sent = copied + 1, sent + size
        if progress is not None:
            progress("publish", done, len(wanted))
    body = json.dumps(manifest.to_json(), indent=2, sort_keys=True).encode("utf-8")
    with fs.open_output_stream(f"{target}/manifest.json") as out:
        out.write(body)
    keep = set(wanted) | previous | {"manifest.json"}
    removed = 0
    for info in fs.get_file_info(pafs.FileSelector(target, recursive=True, allow_not_found=True)):
        name = info.path[len(target) + 1 :]
        if info.type == pafs.FileType.File and name not in keep:
            fs.delete_file(info.path)
            removed += 1
    logger.info(
        "Published %s v%d to %s: %d file(s) copied, %d already there, %d removed",
        dataset,
        manifest.version,
        url,
        copied,
        present,
        removed,
    )
    return Published(url, dataset, manifest.version, copied, present, removed, sent)


def _remote_files(fs: pafs.FileSystem, path: str) -> set[str]:
    """Return the files the manifest at ``path`` names (none if there is no manifest yet)."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return set()
    with fs.open_input_stream(path) as handle:
        text = handle.read().decode("utf-8")
    return parse_manifest(text, f"s3://{path}").files()


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


__all__ = ["Published", "publish", "s3_filesystem"]
