"""Publish a local dataset to object storage, where sweep workers on other machines read it.

``run_data_sync.py --publish s3://bucket/prefix`` copies the files the dataset's manifest
names, byte for byte (``pyarrow.fs``), then the manifest last: a reader sees the old version or
the new one, never a mix, and a publish killed at any moment leaves the old version readable;
run again, it copies only what is missing (file names are unique: a file never changes). Files
neither the new nor the previous manifest names are then deleted; the previous version's stay,
so that a reader that took the old manifest a moment ago still finds them. The warehouse's
``datasets.json`` lists what was published, for readers that cannot list (HTTP).

A published copy at a higher version than the local dataset, or at the same version with other
files (another warehouse's), is refused unless ``--force``: what readers keep is keyed by the
version, which must never go back or mean other bars.

S3 is addressed as the readers address it (:mod:`quant_core.data.remote`: the ``AWS_*``
environment variables). An ``http(s)://`` warehouse is read-only: copy the folder to the web
server with the tool it takes (the manifest last).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from config.schema import warehouse_url
from quant_core.data.remote import INDEX_FILE, S3Settings, read_index
from quant_core.data.store import DatasetStore
from quant_core.data.store_read import Manifest, first_line, parse_manifest
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
    *,
    force: bool = False,
    filesystem: pafs.FileSystem | None = None,
) -> Published:
    """Copy ``dataset`` of the local ``store`` to the warehouse at ``url`` (module docstring).

    A published copy newer than the local dataset (a higher version), or of the same version
    with other files (another warehouse's), is refused unless ``force``: readers key what they
    keep (a sweep's results, a worker's panels) by the version, which must not go back.

    Raises
    ------
    ConfigError
        ``url`` is not an ``s3://bucket/prefix`` URL.
    DataError
        No such local dataset, a published copy it would go back on, or the object store
        refused a read or a write (named).
    """
    try:
        url = warehouse_url(url)
    except ValueError as exc:
        raise ConfigError(f"--publish: {exc}") from None
    if not url.startswith("s3://"):
        raise ConfigError(
            f"--publish {url!r}: publish to s3://bucket/prefix; an http(s) warehouse is "
            "read-only here (copy the folder to the web server, the manifest last)"
        )
    store.load(dataset, required=True)  # before the lock, which would make the folder
    fs = filesystem if filesystem is not None else s3_filesystem(S3Settings.from_env())
    target = Target(fs, url, dataset)
    with store.lock(dataset):
        manifest = store.load(dataset, required=True)
        try:
            return _publish(store, manifest, target, progress, force)
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"publishing {dataset!r} to {url}: {first_line(exc)}") from None


@dataclass(frozen=True, slots=True)
class Target:
    """Where a dataset is published: the file system, the warehouse URL, the dataset."""

    fs: pafs.FileSystem
    url: str
    dataset: str

    @property
    def root(self) -> str:
        """Return the warehouse's path in the file system (``bucket/prefix``)."""
        return self.url[len("s3://") :]

    def path(self, name: str) -> str:
        """Return the path of the dataset's file ``name``."""
        return f"{self.root}/{self.dataset}/{name}"

    def read(self, path: str) -> str | None:
        """Return the text of the file at ``path``; None if there is none."""
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(path) as handle:
            return bytes(handle.read()).decode("utf-8")

    def write(self, path: str, text: str) -> None:
        """Write ``text`` to ``path`` (one PUT: the object changes at once)."""
        with self.fs.open_output_stream(path) as out:
            out.write(text.encode("utf-8"))


def _publish(
    store: DatasetStore,
    manifest: Manifest,
    target: Target,
    progress: ProgressFn | None,
    force: bool,
) -> Published:
    text = target.read(target.path("manifest.json"))
    before = None if text is None else parse_manifest(text, target.url + "/manifest.json")
    _check_forward(manifest, before, target, force)
    wanted = sorted(manifest.files())
    folder = store.folder(target.dataset)
    copied = present = sent = 0
    for done, name in enumerate(wanted, start=1):
        local, remote = folder / name, target.path(name)
        size = local.stat().st_size
        info = target.fs.get_file_info(remote)
        if info.type == pafs.FileType.File and info.size == size:
            present += 1
        else:
            pafs.copy_files(str(local), remote, destination_filesystem=target.fs)
            copied, sent = copied + 1, sent + size
        if progress is not None:
            progress("publish", done, len(wanted))
    removed = 0
    same = before is not None and before.to_json() == manifest.to_json()
    if not same:  # the same manifest again (a publish run twice): its files were repaired only
        body = json.dumps(manifest.to_json(), indent=2, sort_keys=True)
        target.write(target.path("manifest.json"), body)
        keep = set(wanted) | (before.files() if before else set()) | {"manifest.json"}
        removed = _remove_others(target, keep)
    _list_dataset(target)
    logger.info(
        "Published %s v%d to %s: %d file(s) copied, %d already there, %d removed",
        target.dataset,
        manifest.version,
        target.url,
        copied,
        present,
        removed,
    )
    return Published(target.url, target.dataset, manifest.version, copied, present, removed, sent)


def _check_forward(
    manifest: Manifest, before: Manifest | None, target: Target, force: bool
) -> None:
    """Refuse a publish that takes the published copy back (unless ``force``)."""
    if before is None or force:
        return
    where = f"{target.url}/{target.dataset}"
    if before.version > manifest.version:
        raise DataError(
            f"{where} is at version {before.version}, newer than the local {manifest.version} "
            "(another warehouse published it?): --force replaces it"
        )
    if before.version == manifest.version and before.files() != manifest.files():
        raise DataError(
            f"{where} is at version {manifest.version} with other files than the local "
            "dataset's (another warehouse published it): --force replaces it"
        )


def _remove_others(target: Target, keep: set[str]) -> int:
    """Delete the dataset's published files ``keep`` does not name; return how many."""
    folder = f"{target.root}/{target.dataset}"
    removed = 0
    selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
    for info in target.fs.get_file_info(selector):
        name = info.path[len(folder) + 1 :]
        if info.type == pafs.FileType.File and name not in keep:
            target.fs.delete_file(info.path)
            removed += 1
    return removed


def _list_dataset(target: Target) -> None:
    """Add the dataset to the warehouse's ``datasets.json`` (what HTTP readers list)."""
    path = f"{target.root}/{INDEX_FILE}"
    # A file that is not a list of names is said (naming it), not overwritten: its names are
    # datasets an HTTP reader would lose.
    names = set(read_index(target.read(path), f"{target.url}/{INDEX_FILE}"))
    if target.dataset not in names:
        target.write(path, json.dumps(sorted(names | {target.dataset})))


__all__ = ["Published", "Target", "publish", "s3_filesystem"]
