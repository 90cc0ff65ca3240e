"""Adversarial review of ``run_factor_computation.py --fit`` and ``--models``, on sp500-2010.

Every test here failed on the code as it was reviewed; each says what the defect was. A bad
spec must exit 2 with one message naming the file, the field and the value, print nothing on
stdout (``--json``) and store nothing.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from quant_core.data.sources.sample import SampleSource
from quant_core.data.sync import sync
from quant_core.data.warehouse import Warehouse
from quant_core.research.store import ModelStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "run_factor_computation.py"
SHORT = ROOT / "research" / "value_mom_short.yaml"
DATASET = "sp500-2010"
WALK = "validation: {scheme: walk_forward, train: 40, test: 20, embargo: 5}"


def run(data_dir: Path, *args: str, limit_memory: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QC__PATHS__DATA_DIR": str(data_dir), "OPENBLAS_NUM_THREADS": "1"}

    def cap() -> None:  # a runaway process fails with MemoryError, not the machine
        resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))  # 1.5 GiB

    return subprocess.run(
        [sys.executable, str(SCRIPT), "--dataset", DATASET, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        preexec_fn=cap if limit_memory else None,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, calendar) -> Path:
    root = tmp_path_factory.mktemp("fit_adversarial")
    sync(SampleSource(DATASET), Warehouse(root / "warehouse"), calendar, DATASET, "repair")
    return root


def stored(data_dir: Path) -> set[str]:
    models = data_dir / "models"
    return {p.name for p in models.iterdir()} if models.is_dir() else set()


def factors(data_dir: Path) -> set[str]:
    return set(Warehouse(data_dir / "warehouse").factor_store.names(DATASET))


def spec_with(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = SHORT.read_text()
    assert old in text, old
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


# (case, text replaced, replacement, field named, value shown) -- each was ACCEPTED (exit 0, a
# model stored) or crashed with a traceback (exit 3) before the fix.
BAD_SPECS = [
    # Defect: pydantic's lax mode read YAML booleans as numbers: `seed: true` ran with seed 1,
    # `bootstrap: false` silently switched the bootstrap off, `alpha: true` was ridge alpha 1.
    ("bool_seed", "seed: 7", "seed: true", "model.seed", "True"),
    ("bool_bootstrap", "bootstrap: 200", "bootstrap: false", "model.bootstrap", "False"),
    ("bool_alpha", "alpha: 1.0", "alpha: true", "model.alpha", "True"),
    (
        "bool_floor",
        "min_oos_rank_ic: 0.02",
        "min_oos_rank_ic: true",
        "model.min_oos_rank_ic",
        "True",
    ),
    # Defect: strings and fractional-looking numbers were coerced: expanding: 'yes' (any
    # non-empty word...) became True, train: '40' became 40, test: 20.0 became 20.
    (
        "word_expanding",
        "embargo: 5}",
        "embargo: 5, expanding: 'yes'}",
        "model.validation.expanding",
        "'yes'",
    ),
    ("string_train", "train: 40", "train: '40'", "model.validation.train", "'40'"),
    ("float_test", "test: 20", "test: 20.0", "model.validation.test", "20.0"),
    # Defect: a NaN floor was accepted and stored (every model then "rejected"), and the stored
    # model.json held min_oos_rank_ic: null, so loading the model later said it was damaged.
    ("nan_floor", "min_oos_rank_ic: 0.02", "min_oos_rank_ic: .nan", "model.min_oos_rank_ic", "nan"),
    # Defect: an infinite floor was accepted (+inf: never accepted; -inf: any score accepted).
    ("inf_floor", "min_oos_rank_ic: 0.02", "min_oos_rank_ic: .inf", "model.min_oos_rank_ic", "inf"),
    (
        "minus_inf_floor",
        "min_oos_rank_ic: 0.02",
        "min_oos_rank_ic: -.inf",
        "model.min_oos_rank_ic",
        "-inf",
    ),
    # Defect: a rank IC floor of 5 (a rank IC is at most 1) was accepted: a model that can
    # never be accepted, fitted and stored (a typo for 0.05).
    (
        "floor_above_one",
        "min_oos_rank_ic: 0.02",
        "min_oos_rank_ic: 5",
        "model.min_oos_rank_ic",
        "5",
    ),
    # Defect: alpha: .inf passed `ge=0` and crashed in scikit-learn's Ridge (exit 3, traceback).
    ("inf_alpha", "alpha: 1.0", "alpha: .inf", "model.alpha", "inf"),
    # Defect: a negative seed crashed numpy's SeedSequence (exit 3, traceback); one above
    # 2**32 - 1 was accepted and would crash gbr's random_state.
    ("negative_seed", "seed: 7", "seed: -1", "model.seed", "-1"),
    ("huge_seed", "seed: 7", "seed: 4294967296", "model.seed", "4294967296"),
    # Defect: two spellings of one factor (momentum_0126 is momentum_126) passed the
    # "named twice" check and crashed the fit with KeyError 'momentum_0126' (exit 3).
    (
        "factor_twice",
        "reversal_5,",
        "momentum_0126,",
        "model.factors",
        "'momentum_0126'",
    ),
    # Defect: a value that does not fit its YAML type (a date that does not exist) raised a
    # bare ValueError out of load_spec: traceback, exit 3. Now the line is named.
    ("impossible_date", "seed: 7", "seed: 2020-13-45", "not valid YAML", "line 20"),
    ("int_tag_on_word", "seed: 7", "seed: !!int seven", "not valid YAML", "line 20"),
]


@pytest.mark.parametrize(
    ("old", "new", "field", "value"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_a_bad_spec_exits_2_naming_file_field_and_value_and_stores_nothing(
    data_dir: Path, tmp_path: Path, old: str, new: str, field: str, value: str
) -> None:
    path = spec_with(tmp_path, "bad", old, new)
    models_before, factors_before = stored(data_dir), factors(data_dir)

    result = run(data_dir, "--fit", str(path), "--json")

    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    assert field in result.stderr
    assert value in result.stderr
    assert result.stdout == ""
    assert stored(data_dir) == models_before
    assert factors(data_dir) == factors_before


# Defect: a spec whose value is a YAML alias bomb (nine levels of ten aliases: 10**9 leaves in
# a few hundred bytes) made load_spec repr() the whole value for its error message (and str()
# each non-string factor): it never finished, eating memory (the cockpit's Models view reads
# specs through the same load_spec). Now the value is shown bounded and the spec refused at once.
@pytest.mark.parametrize(
    ("key", "field"), [("factors", "model.factors[0]"), ("junk", "model.junk")]
)
def test_a_yaml_alias_bomb_is_refused_at_once(
    data_dir: Path, tmp_path: Path, key: str, field: str
) -> None:
    # [&a0 [x, ...10], &a1 [*a0, ...10], ..., &a8 [*a7, ...10]]: a8 alone has 10**9 leaves
    levels = ["&a0 [" + ", ".join(["x"] * 10) + "]"]
    levels += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = "[" + ", ".join(levels) + "]"
    if key == "factors":  # one item, the whole bomb: str() of it was the hang
        bomb, factors = f"[{bomb}]", ""
    else:
        factors = "  factors: [momentum_20]\n"
    path = tmp_path / "bomb.yaml"
    path.write_text(f"model:\n  name: bomb\n{factors}  {key}: {bomb}\n")

    result = run(data_dir, "--fit", str(path), "--json", limit_memory=True)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    assert field in result.stderr
    assert len(result.stderr) < 20_000
    assert result.stdout == ""


# Defect: a factor spelled otherwise than the library spells it (reversal_05, a valid name of
# reversal_5) passed the spec's check, but the fit keyed the factor panels by the library's
# name and crashed with KeyError 'reversal_05' (exit 3, traceback). The spec now stores the
# library's spelling, which the stored model, its composite and `fitted` all use.
def test_a_factor_spelled_with_a_leading_zero_fits_under_its_library_name(
    data_dir: Path, tmp_path: Path
) -> None:
    path = spec_with(tmp_path, "zero", "reversal_5,", "reversal_05,")

    result = run(data_dir, "--fit", str(path), "--json")

    assert result.returncode == 0, result.stderr[-2000:]
    fitted = json.loads(result.stdout)
    assert fitted["factors"] == ["momentum_126", "reversal_5", "volatility_20"]
    model = ModelStore(data_dir / "models").load(fitted["model_id"]).model
    assert model.factors == ("momentum_126", "reversal_5", "volatility_20")
    assert fitted["composite_factor"] in factors(data_dir)


# Defect: `--models` printed each text field of model.json through rich markup: a hand-edited
# or damaged model.json holding "[/x]" (here its dataset) crashed the listing with a
# MarkupError traceback (exit 3), hiding every model; an unreadable status, target or date
# showed as "nan" or "None" where the README promises an empty cell ("-" like the scores).
def test_models_lists_a_model_json_with_markup_and_unreadable_fields(
    data_dir: Path, tmp_path: Path
) -> None:
    fit = run(data_dir, "--fit", str(SHORT), "--json")
    assert fit.returncode == 0, fit.stderr[-2000:]
    model_id = json.loads(fit.stdout)["model_id"]
    folder = data_dir / "models" / model_id
    edited = folder.with_name(model_id[:-4] + "beef")
    shutil.copytree(folder, edited)
    meta: dict[str, Any] = json.loads((edited / "model.json").read_text())
    meta |= {"dataset": "[/x]", "status": None, "target": 5, "data_through": "2010-13-45"}
    (edited / "model.json").write_text(json.dumps(meta))
    try:
        table = run(data_dir, "--models")
        listed = run(data_dir, "--models", "--json")
    finally:
        shutil.rmtree(edited)

    assert table.returncode == 0, table.stderr[-2000:]
    assert "Traceback" not in table.stderr
    row = next(line for line in table.stdout.splitlines() if edited.name in line)
    cells = [cell.strip() for cell in row.strip("│ ").split("│")]
    assert cells[1:4] == ["-", "-", "ridge"]  # status, target, estimator
    assert cells[7:9] == ["[/x]", "-"]  # dataset shown as text, data through empty
    assert model_id in table.stdout
    assert listed.returncode == 0, listed.stderr[-2000:]
    rows = {r["model_id"]: r for r in json.loads(listed.stdout)}
    assert rows[edited.name]["dataset"] == "[/x]"
    assert rows[edited.name]["status"] is None
