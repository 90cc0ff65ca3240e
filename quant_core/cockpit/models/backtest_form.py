"""The Strategy Explorer's run form: fields from a params model, validation, run overrides.

Pure, without Streamlit: the form's view (``views/backtest_form_view.py``) turns each
:class:`ParamSpec` into a widget, hands back what was entered, and queues the overrides
:func:`backtest_overrides` builds (the way ``run_backtest.py`` builds them).
"""

from __future__ import annotations

import enum
import json
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union, cast, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from config.redact import is_secret_key
from quant_core.errors import QuantError
from quant_core.portfolio.schedule import Rule

Kind = Literal["int", "float", "bool", "choice", "text", "json"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One form field derived from a params model field.

    Attributes
    ----------
    name
        The field name (the key of ``strategy.params``).
    kind
        Which widget shows it: ``int``/``float`` number input, ``bool`` checkbox, ``choice``
        select, ``text`` text input, ``json`` text input holding JSON (dicts, lists, unions).
    default
        The model's default, as the widget takes it (JSON text for ``json``).
    minimum, maximum
        The widget's inclusive bounds from ``ge``/``gt``/``le``/``lt``, or None. An exclusive
        bound is offered as the limit itself; the model rejects it on validation.
    help
        The field's description.
    options
        The choices of a ``choice`` field.
    optional
        Whether the field takes None (an ``int | None`` or ``float | None`` field): its number
        input may be left blank.
    """

    name: str
    kind: Kind
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    options: tuple[Any, ...] = ()
    optional: bool = False

    @property
    def label(self) -> str:
        """Return the field name for people: ``top_quantile`` -> ``Top quantile``."""
        return self.name.replace("_", " ").capitalize()

    @property
    def step(self) -> float | int:
        """Return the number input's step: 1 for integers, a fitting fraction for floats."""
        if self.kind == "int":
            return 1
        scale = max(abs(float(self.default or 0.0)), abs(self.maximum or 0.0))
        return 0.01 if scale <= 1 else 0.5

    @property
    def number_format(self) -> str:
        """Return the printf format of a number input."""
        return "%d" if self.kind == "int" else "%.3f"


def param_key(strategy: str, name: str) -> str:
    """Return the session-state key of strategy ``strategy``'s parameter ``name``'s widget."""
    return f"bt_param__{strategy}__{name}"


def param_specs(model: type[BaseModel]) -> list[ParamSpec]:
    """Return one form field per field of a params model, in declaration order."""
    return [field_spec(name, info) for name, info in model.model_fields.items()]


def field_spec(name: str, info: FieldInfo) -> ParamSpec:
    """Return the form field of one pydantic field: its widget kind, default, bounds and help."""
    default = info.get_default(call_default_factory=True)
    annotation = info.annotation
    text = info.description or ""
    low, high = _bounds(info)
    number = _optional_number(annotation)
    if number is not None:
        value = None if default is None else number(default)
        kind: Kind = "int" if number is int else "float"
        return ParamSpec(name, kind, value, low, high, text, optional=True)
    if annotation is bool:
        return ParamSpec(name, "bool", bool(default), help=text)
    if annotation is int:
        return ParamSpec(name, "int", int(default), low, high, text)
    if annotation is float:
        return ParamSpec(name, "float", float(default), low, high, text)
    if get_origin(annotation) is Literal:
        return ParamSpec(name, "choice", default, help=text, options=get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(m.value for m in annotation)
        value = default.value if isinstance(default, enum.Enum) else default
        return ParamSpec(name, "choice", value, help=text, options=values)
    if annotation is str:
        return ParamSpec(name, "text", str(default), help=text)
    hint = "JSON, e.g. " + json.dumps(default) if default is not None else "JSON"
    return ParamSpec(name, "json", json.dumps(default), help=f"{text} ({hint})".strip())


def _optional_number(annotation: Any) -> type[int] | type[float] | None:
    # ``int | None`` or ``float | None``: a number input that may stay blank.
    if get_origin(annotation) not in (Union, types.UnionType):
        return None
    inner = [a for a in get_args(annotation) if a is not type(None)]
    if len(inner) == 1 and inner[0] in (int, float):
        number: type[int] | type[float] = inner[0]
        return number
    return None


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    low: float | None = None
    high: float | None = None
    for item in info.metadata:
        if isinstance(item, at.Ge | at.Gt):
            low = float(item.ge if isinstance(item, at.Ge) else item.gt)  # type: ignore[arg-type]
        elif isinstance(item, at.Le | at.Lt):
            high = float(item.le if isinstance(item, at.Le) else item.lt)  # type: ignore[arg-type]
    return low, high


def validate_params(
    model: type[BaseModel], specs: Sequence[ParamSpec], raw: Mapping[str, Any]
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate entered values against the params model.

    Parameters
    ----------
    model
        The strategy's params model.
    specs
        Its form fields (:func:`param_specs`): ``json`` fields arrive as text and are parsed.
    raw
        Field name -> value as the widgets gave it.

    Returns
    -------
    tuple
        ``(params, [])`` with the validated params as plain data, or ``(None, errors)`` where
        every error names its field: ``"top_quantile: Input should be greater than 0 (got 0.0)"``.
    """
    values: dict[str, Any] = {}
    errors: list[str] = []
    for spec in specs:
        value = raw.get(spec.name, spec.default)
        if spec.kind == "json":
            try:
                value = json.loads(str(value))
            except json.JSONDecodeError as exc:
                got = "" if is_secret_key(spec.name) else f" (got {value!r})"
                errors.append(f"{spec.name}: not valid JSON ({exc.msg}){got}")
                continue
        values[spec.name] = value
    if errors:
        return None, errors
    try:
        params = model.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(map(str, err["loc"])) or "parameters"
            shown = err.get("input")
            hidden = isinstance(shown, dict) or any(is_secret_key(str(k)) for k in err["loc"])
            got = "" if hidden else f" (got {shown!r})"  # a credential-like field: never echoed
            errors.append(f"{where}: {err['msg']}{got}")
        return None, errors
    except QuantError as exc:  # a validator that asks the registries (unknown factor names)
        return None, [f"{_culprit(model, specs, values)}: {exc}"]
    return params.model_dump(mode="json"), []


def _culprit(model: type[BaseModel], specs: Sequence[ParamSpec], values: dict[str, Any]) -> str:
    # The field that fails on its own, every other field at its default.
    defaults = {s.name: json.loads(s.default) if s.kind == "json" else s.default for s in specs}
    for name, value in values.items():
        try:
            model.model_validate({**defaults, name: value})
        except (QuantError, ValidationError):
            return name
    return "parameters"


def check_form(
    strategy: str,
    model: type[BaseModel],
    specs: Sequence[ParamSpec],
    raw: Mapping[str, Any],
    start: Any,
    end: Any,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate a run form: the strategy's parameters, then the period.

    Returns
    -------
    tuple
        ``(params, [])``, or ``(None, errors)``: each parameter error is prefixed with
        ``"<strategy> parameter "``, and an end before the start is an error too.
    """
    params, problems = validate_params(model, specs, raw)
    errors = [f"{strategy} parameter {p}" for p in problems]
    if start is not None and end is not None and start > end:
        errors.append(f"end: {end} is before start {start}")
    return (None if errors else params), errors


REBALANCE_MODES = ("every N sessions", "weekly", "monthly")  # the form's choices


def rebalance_rule(mode: str, sessions: int) -> Rule:
    """Return the rule a form's rebalance mode means: every ``sessions`` sessions, or the mode."""
    return int(sessions) if mode == REBALANCE_MODES[0] else cast(Rule, mode)


def backtest_overrides(
    strategy: str,
    params: Mapping[str, Any],
    *,
    dataset: str,
    start: Any,
    end: Any,
    rebalance: Rule,
    cash_buffer: float,
    initial_cash: float,
) -> list[str]:
    """Return the ``--set`` overrides of one run, the way ``run_backtest.py`` builds them.

    The strategy comes first: choosing another one drops the config's params, never these.
    Values are JSON, so numbers, booleans, lists and dicts keep their types.
    """
    out = [f"strategy.name={strategy}"]
    out += [f"strategy.params.{key}={json.dumps(value)}" for key, value in params.items()]
    out += [
        f"data.dataset={dataset}",
        f"strategy.rebalance={rebalance}",
        f"portfolio.cash_buffer={cash_buffer!r}",
        f"backtest.initial_cash={initial_cash!r}",
    ]
    if start is not None:
        out.append(f"backtest.start={start}")
    if end is not None:
        out.append(f"backtest.end={end}")
    return out
