#!/usr/bin/env python3
"""Prints the EventBridge routing of infra/*.yaml as JSON, for the local demo: one entry per
AWS::Events::Rule that targets one of our functions, with its pattern (parameters resolved to
their defaults), its bus ("default" or "findings") and the function's binary name (from the
target function's CodeUri). The demo wires moto's EventBridge with exactly these patterns, so
the demo routes events the way the deployed stack does.

usage: scripts/event-patterns.py infra/regional.yaml infra/shared.yaml > routes.json
"""
import json
import os
import sys

import yaml


class Tagged:
    """An intrinsic function (!Ref, !GetAtt, !Sub, ...) kept as data."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def construct_any(loader, tag_suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged(tag_suffix, value)


class CfnLoader(yaml.SafeLoader):
    pass


CfnLoader.add_multi_constructor("!", construct_any)


def resolve(value, parameters, where):
    """Replaces !Ref PARAM with the parameter's default; anything else intrinsic is an error."""
    if isinstance(value, Tagged):
        if value.tag == "Ref" and value.value in parameters:
            return parameters[value.value]
        sys.exit(f"event-patterns: {where}: cannot resolve !{value.tag} {value.value!r}")
    if isinstance(value, list):
        return [resolve(v, parameters, where) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, parameters, f"{where}.{k}") for k, v in value.items()}
    return value


def target_function(arn, resources):
    """`!GetAtt Fn.Arn` of one of our functions -> its binary name (CodeUri basename)."""
    if not (isinstance(arn, Tagged) and arn.tag == "GetAtt"):
        return None
    ref = arn.value if isinstance(arn.value, str) else ".".join(arn.value)
    logical = ref.split(".")[0]
    code = resources.get(logical, {}).get("Properties", {}).get("CodeUri")
    if not isinstance(code, str):
        return None
    return os.path.basename(code).removesuffix(".zip")


def routes(path):
    with open(path, encoding="utf-8") as f:
        template = yaml.load(f, Loader=CfnLoader)
    parameters = {
        name: spec.get("Default")
        for name, spec in (template.get("Parameters") or {}).items()
    }
    resources = template.get("Resources") or {}
    out = []
    for logical, resource in resources.items():
        if resource.get("Type") != "AWS::Events::Rule":
            continue
        props = resource.get("Properties") or {}
        bus = props.get("EventBusName")
        bus = "default" if bus is None else "findings"
        for target in props.get("Targets") or []:
            function = target_function(target.get("Arn"), resources)
            if function is None:
                continue
            out.append({
                "template": os.path.basename(path),
                "rule": logical,
                "bus": bus,
                "function": function,
                "pattern": resolve(props.get("EventPattern"), parameters, f"{path}:{logical}.EventPattern"),
            })
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    print(json.dumps([r for p in sys.argv[1:] for r in routes(p)], indent=1))


if __name__ == "__main__":
    main()
