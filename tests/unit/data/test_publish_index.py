"""``datasets.json`` (what HTTP readers list) as ``--publish`` keeps it: a name added once, and a
file that is not a list of names said, naming it, never overwritten (its names would be lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from quant_core.data.publish import Target, _list_dataset
from quant_core.errors import DataError


def _target(root: Path, dataset: str) -> Target:
    # The local file system stands for the bucket: Target's paths are "<bucket>/<prefix>/...".
    return Target(pafs.LocalFileSystem(), f"s3://{root}", dataset)


def test_a_dataset_is_listed_once_beside_the_others(tmp_path: Path) -> None:
    _list_dataset(_target(tmp_path, "b"))
    _list_dataset(_target(tmp_path, "a"))
    _list_dataset(_target(tmp_path, "b"))
    assert json.loads((tmp_path / "datasets.json").read_text()) == ["a", "b"]


@pytest.mark.parametrize("text", ["{not json", '{"a": 1}', '["a", 2]'])
def test_a_datasets_file_that_is_not_a_list_of_names_is_said_not_overwritten(
    tmp_path: Path, text: str
) -> None:
    index = tmp_path / "datasets.json"
    index.write_text(text)
    with pytest.raises(DataError, match=r"datasets\.json: not a list of dataset names"):
        _list_dataset(_target(tmp_path, "c"))
    assert index.read_text() == text
