"""Reading template.yaml outside CloudFormation (the local stack and tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def load_template(path: str | Path) -> dict[str, Any]:
    """The template as plain data; short-form intrinsics (``!Ref x``) become
    ``{"Ref": "x"}``-style mappings instead of failing the YAML parser."""
    import yaml  # dev-only path: PyYAML comes with cfn-lint and aws-sam-cli

    class _Loader(yaml.SafeLoader):
        pass

    def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return {suffix: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {suffix: loader.construct_sequence(node, deep=True)}
        return {suffix: loader.construct_mapping(node, deep=True)}

    _Loader.add_multi_constructor("!", _tag)
    with open(path, encoding="utf-8") as fh:
        template: dict[str, Any] = yaml.load(fh, Loader=_Loader)  # a SafeLoader subclass
    return template
