"""The Models view's fit action: find and read spec files, fit one, store it (no Streamlit).

A spec is a YAML file with a top-level ``model:`` key (:mod:`quant_core.research.spec`); the
view offers ``research/*.yaml`` of the project folder, or any path typed in (relative paths
resolve against the project folder). :func:`read_spec` never raises: a file that is missing,
not YAML, not a spec or invalid comes back with the error naming the file and the field
(``research.cli_fit.load_spec``'s words), and its text is shown only when it is a spec, so a
typed path cannot put an unrelated file (a secrets file) on the page. :func:`fit` fits a
valid spec on a dataset's bars and stores the model and its composite factor exactly as
``run_factor_computation.py --fit`` does (``research.cli_fit.fit_and_store``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from config import PROJECT_ROOT
from config.schema import AppConfig
from quant_core.data.warehouse import Warehouse
from quant_core.errors import QuantError
from quant_core.research.cli_fit import Fitted, fit_and_store, load_spec
from quant_core.research.pipeline import fit_model
from quant_core.research.spec import ModelSpec
from quant_core.research.store import ModelStore
from quant_core.types import ProgressFn

SPEC_FOLDER = "research"
SUFFIXES = (".yaml", ".yml")
MAX_SPEC_BYTES = 64 * 1024  # a spec is a few lines; anything larger is not one


@dataclass(frozen=True, slots=True)
class SpecFile:
    """A spec file as read: its text (None unless it is a spec), the spec or the error."""

    path: Path
    text: str | None
    spec: ModelSpec | None
    error: str | None


def models_dir(cfg: AppConfig) -> Path:
    """Return the stored models' folder, ``<paths.data_dir>/models``."""
    return cfg.paths.data_dir / "models"


def spec_files(root: Path = PROJECT_ROOT) -> list[str]:
    """Return the model spec files of ``<root>/research``, relative to ``root``, sorted.

    The sweep files beside them (a top-level ``sweep:``, ``run_backtest.py --sweep``) are not
    model specs and are left out; a file that cannot be read is listed (opening it says why).
    """
    folder = root / SPEC_FOLDER
    found = [p for p in folder.glob("*") if p.is_file() and p.suffix in SUFFIXES and not _sweep(p)]
    return sorted(p.relative_to(root).as_posix() for p in found)


def _sweep(path: Path) -> bool:
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(document, dict) and "sweep" in document and "model" not in document


def resolve(text: str, root: Path = PROJECT_ROOT) -> Path:
    """Return the path ``text`` names: as is when absolute, else under ``root``."""
    path = Path(text.strip()).expanduser()
    return path if path.is_absolute() else root / path


def read_spec(path: Path) -> SpecFile:
    """Read and check the spec in ``path``; the error, if any, names the file and the field."""
    if path.suffix not in SUFFIXES:
        return SpecFile(path, None, None, f"{path}: a spec is a .yaml or .yml file")
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            return SpecFile(path, None, None, f"{path}: larger than {MAX_SPEC_BYTES:,} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None  # load_spec says what is wrong with it
    shown = text if text is not None and _is_spec(text) else None
    try:
        return SpecFile(path, shown, load_spec(path), None)
    except QuantError as exc:
        return SpecFile(path, shown, None, str(exc))


def _is_spec(text: str) -> bool:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(document, Mapping) and isinstance(document.get("model"), Mapping)


def fit(
    spec: ModelSpec,
    warehouse: Warehouse,
    dataset: str,
    store: ModelStore,
    progress: ProgressFn | None = None,
) -> Fitted:
    """Fit ``spec`` on every bar of ``dataset``; store the model and its composite factor.

    Raises
    ------
    QuantError
        The fit or the store refused (no such dataset, too few names, ...).
    """
    return fit_and_store(fit_model, spec, warehouse, dataset, store, progress)


def fitted_line(fitted: Fitted) -> str:
    """Return the page's one line about a model just fitted and stored."""
    r = fitted.result
    return (
        f"Stored model {fitted.model_id} ({r.status}): out-of-sample rank IC "
        f"{r.oos_rank_ic:.4f}, Newey-West t {r.oos_t:.2f}; composite factor "
        f"`{fitted.composite_factor}` on {fitted.dataset}; {fitted.seconds:.1f} s."
    )
