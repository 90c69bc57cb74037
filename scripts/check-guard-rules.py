#!/usr/bin/env python3
"""Runs the policy-as-code rules (infra/rules/*.guard) and proves they are not vacuous.

    scripts/check-guard-rules.py CFN_GUARD RULES_DIR FIXTURES_DIR EXPANDED_TEMPLATE...

1. Every rule passes on the real (SAM-expanded) templates: cfn-guard exits 0 for each.
2. Every rule PASSes (not merely SKIPs) on at least one of them, so it checks something there.
3. Every fixture infra/rules/tests/<rule>.<case>.json makes cfn-guard exit 19 (its exit code
   for a failed rule) with <rule> among the failed rules. Every rule has at least one fixture,
   so no rule can silently pass everything.

Exit 0 when all of this holds, 1 otherwise (each problem on one line), 2 on bad usage.
"""

import json
import pathlib
import re
import subprocess
import sys

CFN_GUARD_RULE_FAILED = 19
RULE = re.compile(r"^rule\s+([A-Za-z0-9_]+)\s*(?:when\b|\{)", re.MULTILINE)


def named_rules(rules_dir):
    """Top-level rule names per file (parameterized helper rules, `rule x(args)`, excluded)."""
    rules = {}
    for path in sorted(rules_dir.glob("*.guard")):
        for name in RULE.findall(path.read_text(encoding="utf-8")):
            if name in rules:
                raise SystemExit(f"{path}: rule {name} is also defined in {rules[name]}")
            rules[name] = path
    return rules


def guard(cfn_guard, rules, data):
    """cfn-guard's exit code, and the rule names it reported as failed and as passed."""
    run = subprocess.run(
        [cfn_guard, "validate", "-r", str(rules), "-d", str(data), "-o", "json", "-S", "none"],
        capture_output=True,
        text=True,
        check=False,
    )
    failed, passed = set(), set()
    decoder, text, at = json.JSONDecoder(), run.stdout, 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        try:
            report, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            return run.returncode, None, None, (run.stdout + run.stderr).strip()
        for entry in report.get("not_compliant", []):
            name = entry.get("Rule", {}).get("name") if isinstance(entry, dict) else entry
            failed.add(name)
        passed.update(report.get("compliant", []))
    return run.returncode, failed, passed, run.stderr.strip()


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    cfn_guard = argv[1]
    rules_dir, fixtures_dir = pathlib.Path(argv[2]), pathlib.Path(argv[3])
    templates = [pathlib.Path(t) for t in argv[4:]]
    rules = named_rules(rules_dir)
    problems = []

    ever_passed = set()
    for template in templates:
        code, failed, passed, err = guard(cfn_guard, rules_dir, template)
        ever_passed |= passed or set()
        if failed is None or code != 0:
            detail = ", ".join(sorted(failed)) if failed else err
            problems.append(f"{template}: cfn-guard exit {code}: {detail}")
            # The human-readable report says which resource and property, and why.
            report = subprocess.run(
                [cfn_guard, "validate", "-r", str(rules_dir), "-d", str(template), "-S", "fail"],
                capture_output=True, text=True, check=False,
            )
            print("\n".join((report.stdout + report.stderr).splitlines()[:120]), file=sys.stderr)
            continue
        print(f"cfn-guard PASS  {template} ({len(passed)} rules pass, the rest do not apply)")
    for name in sorted(set(rules) - ever_passed):
        problems.append(f"rule {name} ({rules[name].name}) passes on no template, it only SKIPs: it checks nothing there")

    fixtures = sorted(fixtures_dir.glob("*.json")) + sorted(fixtures_dir.glob("*.yaml"))
    covered = set()
    for fixture in fixtures:
        name = fixture.name.split(".", 1)[0]
        if name not in rules:
            problems.append(f"{fixture}: no rule named {name} (fixtures are <rule>.<case>.json)")
            continue
        code, failed, _, err = guard(cfn_guard, rules[name], fixture)
        if code == CFN_GUARD_RULE_FAILED and failed and name in failed:
            covered.add(name)
            print(f"cfn-guard FAIL  {fixture} (as it must: {name}, exit {code})")
        else:
            detail = f"failed rules: {', '.join(sorted(failed))}" if failed else err or "no rule failed"
            problems.append(f"{fixture}: rule {name} did not fail (cfn-guard exit {code}; {detail})")
    for name in sorted(set(rules) - covered):
        if not any(f.name.startswith(name + ".") for f in fixtures):
            problems.append(f"rule {name} ({rules[name].name}) has no failing fixture in {fixtures_dir}")

    for problem in problems:
        print(f"ERROR {problem}", file=sys.stderr)
    if problems:
        return 1
    print(
        f"cfn-guard: {len(rules)} rules pass on {len(templates)} expanded templates; "
        f"{len(fixtures)} bad fixtures each fail their rule (exit {CFN_GUARD_RULE_FAILED})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
