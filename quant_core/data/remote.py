"""A published warehouse read from object storage or HTTP, through DuckDB's httpfs.

``paths.warehouse`` set to ``s3://bucket/prefix`` (AWS S3 or any S3-compatible store: MinIO,
Ceph, R2) or to ``http(s)://host/prefix`` (any web server, read-only) makes every reader of
bars (backtests, sweeps and their workers, walk-forward, the live worker) read the warehouse
there: the manifest first, then only the Parquet files it names, each with DuckDB's
``read_parquet`` over the extension ``httpfs`` (pinned as the PyPI package
``duckdb-extension-httpfs``, loaded from its file: DuckDB never downloads anything). Such a
warehouse is read-only: the local one is written (``run_data_sync.py``) and published
(``run_data_sync.py --publish``, :mod:`quant_core.data.publish`).

S3 credentials come from the reading process's environment, under the names every S3 tool
reads: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``
(or ``AWS_DEFAULT_REGION``), and ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) for a store
other than AWS, which is then addressed path-style. They never travel in a sweep's tasks, and
never appear in a message or a log (:func:`config.redact.remember`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard
from urllib.parse import urlsplit

import duckdb
from typing_extensions import override

from config.redact import carries_credentials, remember
from quant_core.data.store_read import Manifest, StoreReader, check_name, first_line
from quant_core.errors import ConfigError, DataError

SCHEMES = ("s3://", "http://", "https://")
INDEX_FILE = "datasets.json"  # the published datasets' names, for readers that cannot list
_HTTPFS = "duckdb_extension_httpfs"


def is_remote(location: str | Path) -> TypeGuard[str]:
    """Return whether ``location`` is a URL of a published warehouse (not a local folder)."""
    return isinstance(location, str) and location.startswith(SCHEMES)


@dataclass(frozen=True, slots=True)
class S3Settings:
    """How DuckDB reaches S3: the credentials, the region and the endpoint (module docstring)."""

    key_id: str | None = None
    secret: str | None = field(default=None, repr=False)  # never shown, not even by repr()
    token: str | None = field(default=None, repr=False)
    region: str = "us-east-1"
    endpoint: str | None = None  # host[:port] of an S3-compatible store; None: AWS
    use_ssl: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        """Return the settings of ``environ`` (the process's environment by default)."""
        env = os.environ if environ is None else environ
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            if env.get(name):
                remember(env[name])
        if bool(env.get("AWS_ACCESS_KEY_ID")) != bool(env.get("AWS_SECRET_ACCESS_KEY")):
            given = "AWS_ACCESS_KEY_ID" if env.get("AWS_ACCESS_KEY_ID") else "AWS_SECRET_ACCESS_KEY"
            raise ConfigError(
                f"environment variable {given} is set alone: set both AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or neither for a public bucket"
            )
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
        variable = "AWS_ENDPOINT_URL_S3" if env.get("AWS_ENDPOINT_URL_S3") else "AWS_ENDPOINT_URL"
        endpoint, use_ssl = None, True
        if env.get(variable):
            if carries_credentials(env[variable]):
                raise ConfigError(
                    f"environment variable {variable}: an endpoint carries no "
                    "credentials (set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
                )
            parts = urlsplit(env[variable])
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigError(
                    f"environment variable {variable}={env[variable]!r}: expected "
                    "http(s)://host[:port], e.g. http://127.0.0.1:9000"
                )
            endpoint, use_ssl = parts.netloc, parts.scheme == "https"
        return cls(
            key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            secret=env.get("AWS_SECRET_ACCESS_KEY") or None,
            token=env.get("AWS_SESSION_TOKEN") or None,
            region=region,
            endpoint=endpoint,
            use_ssl=use_ssl,
        )

    def apply(self, con: duckdb.DuckDBPyConnection) -> None:
        """Set these on ``con`` (values travel as parameters, never inside SQL text)."""
        values = {
            "s3_access_key_id": self.key_id,
            "s3_secret_access_key": self.secret,
            "s3_session_token": self.token,
            "s3_region": self.region,
            "s3_endpoint": self.endpoint,
            "s3_url_style": "path" if self.endpoint else None,
            "s3_use_ssl": self.use_ssl,
        }
        for name, value in values.items():
            if value is not None:
                con.execute(f"SET GLOBAL {name} = ?", [value])


def httpfs_file() -> Path:
    """Return the httpfs extension file built for the installed DuckDB."""
    wanted = f"pip install duckdb-extension-httpfs=={duckdb.__version__}"
    spec = importlib.util.find_spec(_HTTPFS)
    if spec is None or spec.origin is None:
        raise ConfigError(f"a warehouse URL needs DuckDB's httpfs extension: {wanted}")
    found = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}"
    path = found / "httpfs.duckdb_extension"
    if not path.is_file():
        raise ConfigError(
            f"no httpfs extension for DuckDB {duckdb.__version__} in {found}: {wanted}"
        )
    return path


class RemoteStore(StoreReader):
    """The datasets of a published warehouse at ``url``, read-only (module docstring)."""

    remote = True

    def __init__(self, url: str) -> None:
        if not is_remote(url):
            raise ConfigError(f"{url!r} is not a warehouse URL ({', '.join(SCHEMES)})")
        self.location = url.rstrip("/")

    @override
    def connect(self) -> duckdb.DuckDBPyConnection:
        """Return a cursor of this process's connection for such URLs (:func:`shared`)."""
        return shared(self.location).cursor()

    @override
    def datasets(self) -> list[str]:
        """Return the published datasets: an S3 listing, or ``datasets.json`` over HTTP.

        ``run_data_sync.py --publish`` keeps ``datasets.json`` (a JSON list of names) beside
        the datasets; HTTP cannot list, so a copy served without it lists nothing (a dataset
        named in the config is still read).
        """
        con = self.connect()
        try:
            if self.location.startswith("s3://"):
                pattern = f"{self.location}/*/manifest.json"
                rows = con.execute("SELECT file FROM glob(?)", [pattern]).fetchall()
                return sorted(str(file).rsplit("/", 2)[-2] for (file,) in rows)
            text = _read_text(con, f"{self.location}/{INDEX_FILE}")
        except duckdb.Error as exc:
            said = first_line(exc)
            raise DataError(f"cannot list the datasets of {self.location}: {said}") from None
        finally:
            con.close()
        return read_index(text, f"{self.location}/{INDEX_FILE}")

    @override
    def exists(self, dataset: str) -> bool:
        return self.manifest_text(dataset) is not None

    @override
    def manifest_text(self, dataset: str) -> str | None:
        url = self.file(dataset, "manifest.json")
        con = self.connect()
        try:
            return _read_text(con, url)
        except duckdb.Error as exc:  # refused, forbidden, a timeout: the store is out of reach
            raise DataError(f"cannot read {url}: {first_line(exc)}") from None
        finally:
            con.close()

    @override
    def file(self, dataset: str, name: str) -> str:
        return f"{self.location}/{check_name(dataset)}/{name}"

    @override
    def folder(self, dataset: str) -> Path:
        raise self._read_only(dataset)

    @override
    @contextmanager
    def lock(self, dataset: str) -> Iterator[None]:
        raise self._read_only(dataset)
        yield  # pragma: no cover - a generator for @contextmanager

    @override
    def commit(self, dataset: str, manifest: Manifest) -> None:
        raise self._read_only(dataset)

    @override
    def remove_orphans(self, dataset: str, manifest: Manifest) -> None:
        raise self._read_only(dataset)

    def _read_only(self, dataset: str) -> DataError:
        return DataError(
            f"the warehouse at {self.location} is read-only here (dataset {dataset!r}): write "
            "to a local warehouse, then publish it with run_data_sync.py --publish URL"
        )


_SHARED: dict[S3Settings | None, duckdb.DuckDBPyConnection] = {}
_SHARED_LOCK = threading.Lock()


def shared(url: str) -> duckdb.DuckDBPyConnection:
    """Return this process's connection for ``url``: httpfs loaded once (80 ms), not per read.

    Keyed by the S3 settings of the environment now (None for HTTP), so a changed credential or
    endpoint gets a connection of its own. Callers take a ``cursor()`` of it per query.
    """
    key = S3Settings.from_env() if url.startswith("s3://") else None
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = open_connection(key)
        return _SHARED[key]


def open_connection(settings: S3Settings | None) -> duckdb.DuckDBPyConnection:
    """Return a DuckDB connection with httpfs loaded, and S3's ``settings`` (None: HTTP)."""
    # Nothing is fetched from the internet: the one extension is loaded from its file.
    config: dict[str, str | bool | int | float | list[str]] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    con = duckdb.connect(config=config)
    try:
        con.load_extension(str(httpfs_file()))
        if settings is not None:
            settings.apply(con)
    except BaseException:
        con.close()
        raise
    return con


def _read_text(con: duckdb.DuckDBPyConnection, url: str) -> str | None:
    """Return the text of the file at ``url``; None when the store answers that it has none."""
    try:
        rows = con.execute("SELECT content FROM read_text(?)", [url]).fetchall()
    except duckdb.HTTPException as exc:
        if getattr(exc, "status_code", None) == 404:
            return None
        raise
    except duckdb.IOException as exc:
        if "No files found" in str(exc):
            return None
        raise
    return str(rows[0][0]) if rows else None


def read_index(text: str | None, where: str) -> list[str]:
    """Return the dataset names of a ``datasets.json`` (none when there is no such file)."""
    if text is None:
        return []
    try:
        names = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not a list of dataset names ({exc.msg})") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(f"{where}: not a list of dataset names")
    return sorted(names)


__all__ = [
    "SCHEMES",
    "RemoteStore",
    "S3Settings",
    "httpfs_file",
    "is_remote",
    "open_connection",
    "read_index",
    "shared",
]
