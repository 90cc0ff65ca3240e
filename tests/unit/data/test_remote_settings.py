"""The settings of a published warehouse: its URL in the config, S3's environment, httpfs."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from config import load_config
from config.redact import carries_credentials, redact
from quant_core.data.publish import publish
from quant_core.data.remote import S3Settings, httpfs_file, is_remote
from quant_core.data.store import DatasetStore
from quant_core.data.warehouse import Warehouse
from quant_core.errors import ConfigError


def test_s3_settings_come_from_the_standard_aws_variables() -> None:
    settings = S3Settings.from_env(
        {
            "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-example",
            "AWS_DEFAULT_REGION": "eu-west-3",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert settings == S3Settings(
        "AKIDEXAMPLE", "wJalrXUtnFEMI-example", None, "eu-west-3", "127.0.0.1:9000", False
    )
    # The secret is remembered (a log line that would carry it is blanked) and never shown.
    assert "wJalrXUtnFEMI-example" not in repr(settings)
    assert "wJalrXUtnFEMI-example" not in redact("key wJalrXUtnFEMI-example")
    aws = S3Settings.from_env({"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "eu-west-3"})
    assert (aws.region, aws.endpoint, aws.use_ssl, aws.key_id) == ("us-west-2", None, True, None)
    s3_only = S3Settings.from_env(
        {"AWS_ENDPOINT_URL": "http://elsewhere:1", "AWS_ENDPOINT_URL_S3": "https://s3.lan:443"}
    )
    assert (s3_only.endpoint, s3_only.use_ssl) == ("s3.lan:443", True)


def test_an_endpoint_that_is_not_a_url_is_named() -> None:
    with pytest.raises(ConfigError, match=r"AWS_ENDPOINT_URL='127.0.0.1:9000': expected http"):
        S3Settings.from_env({"AWS_ENDPOINT_URL": "127.0.0.1:9000"})


def test_the_httpfs_extension_is_the_pinned_package_and_its_absence_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import duckdb

    path = httpfs_file()
    assert path.is_file()
    assert f"v{duckdb.__version__}" in path.parts
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    wanted = f"pip install duckdb-extension-httpfs=={duckdb.__version__}"
    with pytest.raises(ConfigError, match=f"httpfs extension: {wanted}"):
        httpfs_file()


def test_paths_warehouse_takes_a_folder_or_a_url_and_refuses_credentials_unshown() -> None:
    cfg = load_config("backtest", ["paths.warehouse=s3://bucket/wh/"], environ={})
    assert cfg.paths.warehouse_location() == "s3://bucket/wh"
    assert is_remote(cfg.paths.warehouse_location())
    folder = load_config("backtest", ["paths.warehouse=/srv/wh"], environ={})
    assert folder.paths.warehouse_location() == Path("/srv/wh")
    default = load_config("backtest", [], environ={})
    assert default.paths.warehouse_location() == default.paths.data_dir / "warehouse"
    with pytest.raises(ConfigError, match=r"paths.warehouse = 'ftp://x/y'.*s3://bucket/prefix"):
        load_config("backtest", ["paths.warehouse=ftp://x/y"], environ={})
    with pytest.raises(ConfigError) as caught:
        load_config("backtest", ["paths.warehouse=s3://me:hunter22@bucket/wh"], environ={})
    assert "hunter22" not in str(caught.value)
    assert "carries no credentials" in str(caught.value)
    assert carries_credentials("https://u:p@host/x")
    assert not carries_credentials("s3://bucket/a@b")  # an @ in the path is no credential


def test_publish_takes_an_s3_url_only(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path)
    with pytest.raises(ConfigError, match="an http\\(s\\) warehouse is read-only"):
        publish(store, "d", "https://example.invalid/wh")
    with pytest.raises(ConfigError) as caught:
        publish(store, "d", "s3://key:s3cr3t-value@bucket/wh")
    assert "s3cr3t-value" not in str(caught.value)


def test_a_url_is_a_remote_store_and_a_folder_a_local_one(tmp_path: Path) -> None:
    assert Warehouse("s3://bucket/wh").store.remote
    assert Warehouse("https://host/wh/").location == "https://host/wh"
    local = Warehouse(tmp_path)
    assert not local.store.remote
    assert local.location == str(tmp_path)
    assert not is_remote(tmp_path)
    assert not is_remote(str(tmp_path))


@pytest.mark.parametrize(
    "url", ["s3://", "s3:///", "http://", "s3://bucket//wh", "s3://bucket/wh?v=1", "https://h/w#x"]
)
def test_a_warehouse_url_without_a_bucket_or_with_empty_parts_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="no query, no fragment, no empty path segment"):
        load_config("backtest", [f"paths.warehouse={url}"], environ={})


def test_a_signed_url_is_never_shown() -> None:
    signed = "https://host/wh?X-Amz-Signature=abcdef0123456789"
    assert carries_credentials(signed)
    with pytest.raises(ConfigError) as caught:
        load_config("backtest", [f"paths.warehouse={signed}"], environ={})
    assert "abcdef0123456789" not in str(caught.value)


def test_an_endpoint_with_credentials_is_refused_unshown() -> None:
    with pytest.raises(ConfigError) as caught:
        S3Settings.from_env({"AWS_ENDPOINT_URL": "http://admin:pa55word@127.0.0.1:9000"})
    assert "pa55word" not in str(caught.value)
    assert "AWS_ENDPOINT_URL" in str(caught.value)


def test_a_key_id_without_its_secret_is_refused_not_read_anonymously() -> None:
    with pytest.raises(ConfigError, match="AWS_ACCESS_KEY_ID is set alone: set both"):
        S3Settings.from_env({"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"})
    with pytest.raises(ConfigError, match="AWS_SECRET_ACCESS_KEY is set alone") as caught:
        S3Settings.from_env({"AWS_SECRET_ACCESS_KEY": "only-the-secret-value"})
    assert "only-the-secret-value" not in str(caught.value)
    assert S3Settings.from_env({}).key_id is None  # neither: a public bucket, anonymously
