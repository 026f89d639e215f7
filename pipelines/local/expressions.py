"""The definition's expression language: `Get` (parameters, execution variables, step properties),
`Std:Join`, `Std:JsonGet` and the ConditionStep's conditions, evaluated against one execution's state.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

FUNCTIONS = ("Get", "Std:Join", "Std:JsonGet")
EXECUTION_VARIABLES = ("PipelineExecutionId", "PipelineExecutionArn", "PipelineName", "PipelineArn",
                       "StartDateTime", "CurrentDateTime")
COMPARISONS = {
    "Equals": lambda left, right: left == right,
    "GreaterThan": lambda left, right: left > right,
    "GreaterThanOrEqualTo": lambda left, right: left >= right,
    "LessThan": lambda left, right: left < right,
    "LessThanOrEqualTo": lambda left, right: left <= right,
}
_TOKEN = re.compile(r"\.?([A-Za-z0-9_-]+)|\[(\d+|'[^']*'|\"[^\"]*\")\]")


class ExpressionError(ValueError):
    """An expression that cannot be evaluated (unknown function, missing property, bad JSON path)."""


@dataclass
class Scope:
    """What expressions can see: parameter values, execution variables, finished steps' properties, and a
    reader of property files (step name, property file name) -> parsed JSON."""
    parameters: dict[str, Any]
    execution: dict[str, Any]
    steps: dict[str, dict] = field(default_factory=dict)
    read_property_file: Callable[[str, str], Any] = lambda step, name: None
    read_json_uri: Callable[[str], Any] = lambda uri: None


def split_path(path: str) -> list[str | int]:
    """'Steps.A.Outputs[\\'x\\'].S3Uri' -> ['Steps', 'A', 'Outputs', 'x', 'S3Uri'] (list indexes as int)."""
    tokens, position = [], 0
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise ExpressionError(f"cannot parse path {path!r} at {path[position:]!r}")
        name, index = match.groups()
        tokens.append(name if name is not None else int(index) if index.isdigit() else index[1:-1])
        position = match.end()
    return tokens


def walk(value: Any, path: list[str | int], where: str) -> Any:
    """Follow a property path; a list indexed by a string picks the element whose *Name equals it
    (ProcessingOutputConfig.Outputs['train'] is the output named train)."""
    for token in path:
        if isinstance(value, list) and isinstance(token, str):
            named = [item for item in value if isinstance(item, dict)
                     and any(key.endswith("Name") and item[key] == token for key in item)]
            if not named:
                raise ExpressionError(f"{where}: no element named {token!r}")
            value = named[0]
        elif isinstance(value, list) and isinstance(token, int) and token < len(value):
            value = value[token]
        elif isinstance(value, dict) and token in value:
            value = value[token]
        else:
            raise ExpressionError(f"{where}: no {token!r}")
    return value


def function_of(value: Any) -> str | None:
    """The function name when `value` is an expression ({"Get": ...}, {"Std:Join": ...}), else None."""
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        if key == "Get" or key.startswith("Std:"):
            return key
    return None


def walk_expressions(value: Any):
    """Yield every expression inside a JSON value (outermost first)."""
    if function_of(value):
        yield value
        (argument,) = value.values()
        yield from walk_expressions(argument)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk_expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk_expressions(item)


def referenced_steps(value: Any) -> set[str]:
    """Names of the steps whose properties or property files a JSON value reads."""
    names = set()
    for expression in walk_expressions(value):
        if "Get" in expression and isinstance(expression["Get"], str) and expression["Get"].startswith("Steps."):
            names.add(split_path(expression["Get"])[1])
    return names


def problems(value: Any, parameters: set[str], steps: set[str]) -> list[str]:
    """What this executor cannot evaluate in a JSON value: unknown functions, parameters, steps, variables."""
    found = []
    for expression in walk_expressions(value):
        (function,) = expression
        if function not in FUNCTIONS:
            found.append(f"function {function} is not supported (supported: {', '.join(FUNCTIONS)})")
            continue
        if function != "Get":
            continue
        path = split_path(expression["Get"])
        kind, name = path[0], path[1] if len(path) > 1 else None
        if kind == "Parameters" and name not in parameters:
            found.append(f"unknown parameter {name!r}")
        elif kind == "Steps" and name not in steps:
            found.append(f"unknown step {name!r}")
        elif kind == "Execution" and name not in EXECUTION_VARIABLES:
            found.append(f"execution variable {name!r} is not supported")
        elif kind not in ("Parameters", "Steps", "Execution"):
            found.append(f"cannot Get {expression['Get']!r}")
    return found


def resolve(value: Any, scope: Scope) -> Any:
    """The JSON value with every expression replaced by what it evaluates to."""
    function = function_of(value)
    if function == "Get":
        return _get(value["Get"], scope)
    if function == "Std:Join":
        arguments = value["Std:Join"]
        return str(arguments.get("On", "")).join(_text(resolve(item, scope)) for item in arguments["Values"])
    if function == "Std:JsonGet":
        return _json_get(value["Std:JsonGet"], scope)
    if function:
        raise ExpressionError(f"function {function} is not supported")
    if isinstance(value, dict):
        return {key: resolve(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, scope) for item in value]
    return value


def _get(path: str, scope: Scope) -> Any:
    tokens = split_path(path)
    kind, rest = tokens[0], tokens[1:]
    if kind == "Parameters":
        return scope.parameters[rest[0]]
    if kind == "Execution":
        return scope.execution[rest[0]]
    if kind == "Steps":
        if rest[0] not in scope.steps:
            raise ExpressionError(f"{path}: step {rest[0]} has not run")
        return walk(scope.steps[rest[0]], rest[1:], path)
    raise ExpressionError(f"cannot Get {path!r}")


def _json_get(arguments: dict, scope: Scope) -> Any:
    if "PropertyFile" in arguments:
        reference = arguments["PropertyFile"]
        tokens = split_path(reference["Get"] if isinstance(reference, dict) else reference)
        document = scope.read_property_file(tokens[1], tokens[3])  # Steps.<step>.PropertyFiles.<name>
        where = f"property file {tokens[3]} of step {tokens[1]}"
    else:
        uri = resolve(arguments["S3Uri"], scope)
        document, where = scope.read_json_uri(uri), uri
    return walk(document, split_path(arguments["Path"]), f"JsonGet {arguments['Path']!r} in {where}")


def _text(value: Any) -> str:
    """How Join renders a value: strings as they are, JSON for the rest (true, 0.75, 3)."""
    return value if isinstance(value, str) else json.dumps(value)


def evaluate_condition(condition: dict, scope: Scope) -> bool:
    """Whether one condition of a ConditionStep holds."""
    kind = condition["Type"]
    if kind in COMPARISONS:
        left, right = resolve(condition["LeftValue"], scope), resolve(condition["RightValue"], scope)
        try:
            return COMPARISONS[kind](_comparable(left), _comparable(right))
        except TypeError:
            raise ExpressionError(f"{kind}: cannot compare {left!r} with {right!r}") from None
    if kind == "In":
        return resolve(condition["QueryValue"], scope) in [resolve(item, scope) for item in condition["Values"]]
    if kind == "Not":
        return not evaluate_condition(condition["Condition"], scope)
    if kind == "Or":
        return any(evaluate_condition(item, scope) for item in condition["Conditions"])
    raise ExpressionError(f"condition type {kind} is not supported")


def _comparable(value: Any) -> Any:
    """Numbers stay numbers; numeric strings (a JsonGet of "0.8") compare as numbers too."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value
