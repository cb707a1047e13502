"""Which estimator training fits: an import path from the config, its hyperparameters typed and checked.

`training.estimator` is either a scikit-learn-compatible class (`sklearn.ensemble.RandomForestClassifier`,
`xgboost.XGBRegressor`) whose constructor takes the hyperparameters, or a factory
`package.module:function(hyperparameters, problem_type)` that returns one. Hyperparameters arrive as
SageMaker strings; a class's are checked against its own parameters (`get_params()`) and typed by
its defaults, so a typo names the estimator and the names it accepts.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

from containers.contracts.model_artifact import ProblemType

# The kit's default: HistGradientBoosting (multi-threaded, histogram-based; scales to 100k+ rows).
DEFAULT_ESTIMATOR = "containers.training.estimators:hist_gradient_boosting"
# Hyperparameters the trainer reads itself; never passed to the estimator.
RESERVED_HYPERPARAMETERS = ("target", "problem_type", "estimator")
# A fixed seed unless the config sets one: the same data and config give the same model.
DEFAULT_RANDOM_STATE = 0


class EstimatorError(ValueError):
    """An estimator reference that does not import, or hyperparameters it does not accept."""


def is_factory(reference: str) -> bool:
    return ":" in reference


def check_reference_syntax(reference: str) -> None:
    """`package.module.Class` or `package.module:function`, checked without importing anything."""
    module, _, attribute = reference.partition(":") if is_factory(reference) else reference.rpartition(".")
    parts = [*module.split("."), attribute]
    if not module or not all(part.isidentifier() for part in parts):
        raise EstimatorError(
            f"estimator {reference!r}: expected an import path `package.module.Class` or a factory "
            "`package.module:function`"
        )


def import_reference(reference: str) -> Any:
    """The class or factory a reference names; the error says which part does not import."""
    check_reference_syntax(reference)
    module_name, _, attribute = reference.partition(":") if is_factory(reference) else reference.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise EstimatorError(f"estimator {reference!r}: cannot import module {module_name!r} ({error})") from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise EstimatorError(f"estimator {reference!r}: module {module_name!r} has no {attribute!r}") from None


def parse_literal(text: Any) -> Any:
    """A SageMaker hyperparameter string as a Python value: numbers, true/false, null/None, else text."""
    if not isinstance(text, str):
        return text
    if text in ("None", "null"):
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, str | int | float | bool) or value is None else text


def _typed_like(value: Any, default: Any) -> Any:
    # "1" for a parameter whose default is 1.0 means the float: RandomForest's max_features=1 is
    # one feature, max_features=1.0 all of them.
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _accepted_parameters(estimator_class: type) -> dict[str, Any]:
    try:
        return dict(estimator_class().get_params(deep=False))
    except TypeError:
        # A constructor with required arguments: read the names from its signature instead.
        signature = inspect.signature(estimator_class)
        return {
            name: None if parameter.default is inspect.Parameter.empty else parameter.default
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        }


def _takes_keyword_arguments(estimator_class: type) -> bool:
    parameters = inspect.signature(estimator_class).parameters.values()
    return any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters)


def estimator_from(
    estimator_class: type, hyperparameters: Mapping[str, Any], aliases: Mapping[str, str] | None = None
) -> Any:
    """An instance of `estimator_class` with the hyperparameters checked against its parameters and
    typed by their defaults. `aliases` maps an extra accepted name to the parameter it sets."""
    accepted = _accepted_parameters(estimator_class)
    aliases = dict(aliases or {})
    options: dict[str, Any] = {}
    for key, raw in hyperparameters.items():
        name = aliases.get(key, key)
        if name not in accepted:
            names = sorted([*accepted, *aliases])
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if _takes_keyword_arguments(estimator_class):
                hint += "; its library-specific keyword arguments are set from a factory `module:function`"
            raise EstimatorError(
                f"{estimator_class.__name__} has no hyperparameter {key!r}{hint}; accepted: {', '.join(names)}"
            )
        if name in options:
            raise EstimatorError(f"{estimator_class.__name__}: {name!r} is set twice (as {key!r} too)")
        options[name] = _typed_like(parse_literal(raw), accepted[name])
    if "random_state" in accepted and "random_state" not in options:
        options["random_state"] = DEFAULT_RANDOM_STATE
    try:
        estimator = estimator_class(**options)
        # scikit-learn checks values only at fit(); check them now, before any data is read.
        if hasattr(estimator, "_parameter_constraints"):
            estimator._validate_params()
    except (TypeError, ValueError) as error:
        raise EstimatorError(f"{estimator_class.__name__}: {error}") from error
    return estimator


def hist_gradient_boosting(hyperparameters: Mapping[str, Any], problem_type: ProblemType) -> Any:
    """The default: HistGradientBoostingClassifier or -Regressor by problem type. `n_estimators` is
    accepted for `max_iter` (the number of boosting rounds), the name earlier configs used."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    estimator_class = HistGradientBoostingRegressor if problem_type == "Regression" else HistGradientBoostingClassifier
    return estimator_from(estimator_class, hyperparameters, aliases={"n_estimators": "max_iter"})


def _check_fits_problem(reference: str, estimator: Any, problem_type: ProblemType) -> None:
    from sklearn.base import is_classifier, is_regressor

    for method in ("fit", "predict", "get_params"):
        if not callable(getattr(estimator, method, None)):
            raise EstimatorError(f"estimator {reference!r}: a {type(estimator).__name__} has no {method}() method")
    if problem_type == "Regression" and is_classifier(estimator):
        raise EstimatorError(f"estimator {reference!r} is a classifier; problem_type is Regression")
    if problem_type != "Regression":
        if is_regressor(estimator):
            raise EstimatorError(f"estimator {reference!r} is a regressor; problem_type is {problem_type}")
        if not callable(getattr(estimator, "predict_proba", None)):
            raise EstimatorError(f"estimator {reference!r} has no predict_proba(); {problem_type} needs scores")


def build_estimator(reference: str, hyperparameters: Mapping[str, Any], problem_type: ProblemType) -> Any:
    """The unfitted estimator a config names, for one problem type; raises EstimatorError naming the cause."""
    target: Callable[..., Any] = import_reference(reference)
    if is_factory(reference):
        if inspect.isclass(target) or not callable(target):
            raise EstimatorError(f"estimator {reference!r}: `module:function` must name a function, not a class")
        typed = {key: parse_literal(value) for key, value in hyperparameters.items()}
        try:
            estimator = target(typed, problem_type)
        except EstimatorError:
            raise
        except (TypeError, ValueError) as error:
            raise EstimatorError(f"estimator factory {reference!r}: {error}") from error
    else:
        if not inspect.isclass(target):
            raise EstimatorError(f"estimator {reference!r} is not a class; name a factory as `module:function`")
        estimator = estimator_from(target, hyperparameters)
    _check_fits_problem(reference, estimator, problem_type)
    return estimator
