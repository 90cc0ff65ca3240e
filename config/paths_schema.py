"""The ``paths`` section: where generated files live, and where the bars are read."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from config.redact import carries_credentials
from config.section import Section

WAREHOUSE_SCHEMES = ("s3://", "http://", "https://")  # paths.warehouse as a URL (read-only)


def warehouse_url(value: str) -> str:
    """Return a warehouse URL without its trailing slash; ``ValueError`` saying what is wrong.

    ``s3://bucket[/prefix]`` or ``http(s)://host[:port][/prefix]``: no credentials (never
    echoed), no query or fragment, no empty path segment.
    """
    if carries_credentials(value):
        # Never echoed: the part before @ would be a user name and a password.
        raise ValueError(
            "a warehouse URL carries no credentials: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY in the environment instead"
        )
    parts = urlsplit(value)
    path = parts.path.rstrip("/")
    if (
        not value.startswith(WAREHOUSE_SCHEMES)
        or not parts.netloc
        or parts.query
        or parts.fragment
        or "//" in path
    ):
        raise ValueError(
            f"{value!r}: a warehouse URL is s3://bucket/prefix or http(s)://host/prefix "
            "(no query, no fragment, no empty path segment)"
        )
    return f"{parts.scheme}://{parts.netloc}{path}"


class PathsConfig(Section):
    """Where generated files live."""

    data_dir: Path = Field(
        default=Path("data"),
        validate_default=True,
        description="Root of the warehouse, backtest results and live files; relative paths "
        "resolve against the project root. Default: data",
    )

    warehouse: str | None = Field(
        default=None,
        description="Where the bars are read and written: a folder (relative paths resolve "
        "against the project root), or the URL of a published warehouse, read-only: "
        "s3://bucket/prefix (S3 or S3-compatible; credentials from the AWS_* environment "
        "variables) or http(s)://host/prefix. Default: <data_dir>/warehouse",
    )

    @field_validator("data_dir")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        root = (info.context or {}).get("root")
        if not value.is_absolute() and root is not None:
            value = Path(root) / value
        return value

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if "://" in value:
            return warehouse_url(value)
        root = (info.context or {}).get("root")
        path = Path(value)
        return str(Path(root) / path if not path.is_absolute() and root is not None else path)

    def warehouse_location(self) -> Path | str:
        """Return the warehouse: its folder, or its URL (``warehouse`` above)."""
        if self.warehouse is None:
            return self.data_dir / "warehouse"
        return self.warehouse if "://" in self.warehouse else Path(self.warehouse)


__all__ = ["WAREHOUSE_SCHEMES", "PathsConfig", "warehouse_url"]
