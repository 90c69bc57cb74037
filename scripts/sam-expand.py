#!/usr/bin/env python3
"""Expands a SAM template (Transform AWS::Serverless-2016-10-31) into plain CloudFormation, offline.

    .venv/bin/python scripts/sam-expand.py TEMPLATE OUTPUT.json

cfn-lint >= 1.54 no longer expands SAM transforms, so a typo inside an AWS::Serverless::Function
(Runtime, Architectures, Timeout, ...) passes it silently. `make lint-infra` therefore expands
each template with aws-sam-translator (the library CloudFormation's own transform is built on)
and runs cfn-lint and cfn-guard on the output as well.

Local code paths (`CodeUri: ../target/lambda/<name>/`) are what `sam deploy` uploads to S3 and
replaces with an `s3://` URI before the transform runs; the translator accepts only the latter,
so this script puts a placeholder `s3://sam-expand-placeholder/<path>` in their place (the code
itself is not needed to check the template).

Offline: the managed-policy loader is a stub (the templates attach no AWS managed policy by
name; a name would fail the expansion here instead of calling IAM), and a Region is set
because the translator asks boto for one to fill the pseudo parameters.
"""

import json
import os
import sys

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from samtranslator.model.exceptions import InvalidDocumentException  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402


class NoManagedPolicies:
    """Stands in for samtranslator's ManagedPolicyLoader, which would call IAM ListPolicies."""

    def load(self):
        return {}


def stand_in_for_uploads(template):
    """What `sam package` does to local CodeUri / ContentUri paths, without uploading."""
    for resource in (template.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for prop in ("CodeUri", "ContentUri"):
            value = properties.get(prop)
            if isinstance(value, str) and not value.startswith("s3://"):
                properties[prop] = "s3://sam-expand-placeholder/" + value.strip("./").strip("/")


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} TEMPLATE OUTPUT.json", file=sys.stderr)
        return 2
    source, target = argv[1], argv[2]
    try:
        with open(source, encoding="utf-8") as f:
            template = yaml_parse(f.read())
    except (OSError, ValueError) as e:
        print(f"{source}: cannot read the template: {e}", file=sys.stderr)
        return 2
    stand_in_for_uploads(template)
    try:
        expanded = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"{source}: {cause.message}", file=sys.stderr)
        return 1
    with open(target, "w", encoding="utf-8") as f:
        json.dump(expanded, f, indent=2, sort_keys=False)
        f.write("\n")
    print(f"{source}: expanded to {target} ({len(expanded.get('Resources', {}))} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
