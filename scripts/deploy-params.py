#!/usr/bin/env python3
"""Parameter files for `sam deploy` of the idc-guard stacks, from the idc-guard configuration.

    scripts/deploy-params.py CONFIG_TOML OUT_DIR

Writes OUT_DIR/shared.yaml and OUT_DIR/regional-<region>.yaml (JSON text, which SAM CLI reads
as YAML through `--parameter-overrides file://...`: a multi-line TOML value survives intact,
which the `Key=Value` command-line form does not), and prints shell assignments for
scripts/deploy.sh: HOME_REGION, REGIONS, PARTITION, ACCOUNT.

Values that are not in the configuration come from the environment (all optional):
  HOME_REGION        the shared stack's Region (default: AWS_REGION, else primary_region)
  REGIONS            space-separated Regions for the regional stack (default: `regions`)
  MODE               dry-run | notify | remediate (default: notify)
  ARCH               arm64 | x86_64 (default: x86_64, what `make package` builds by default)
  BUS_NAME, STATE_TABLE_NAME, EVIDENCE_BUCKET_NAME, SLACK_SECRET_NAME, MIN_SEVERITY,
  EVIDENCE_VENDOR, EVIDENCE_RETENTION_DAYS, SWEEP_SCHEDULE, MEMORY_SIZE, LOG_RETENTION_DAYS,
  SSO_DIRECTORY_EVENT_SOURCE (default [idp] sso_directory_event_source, else aws.sso-directory),
  SAML_METADATA (s3://bucket/key; default [idp] saml_metadata), REPLICA_REGIONS (comma list;
  default policy.supported_regions, or "*"), ALARM_TOPIC_NAME (an SNS topic of that name in
  each Region; empty = alarms without actions).

Refuses (exit 1, one line per problem) what would deploy a broken or unsafe stack: a config
the Lambdas would reject at init for size, a primary Region not deployed, and MODE=remediate
while remediation.guard_role_arns does not list every deployed guard role (loop protection).
"""

import json
import os
import pathlib
import re
import sys
import tomllib

# Lambda allows 4 KB for all environment variables together; the other variables take < 400 B.
MAX_CONFIG_BYTES = 3600
REMEDIATING_GUARDS = ("key-policy-guard", "region-guard")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


def env(name, default=""):
    value = os.environ.get(name, "").strip()
    return value if value else default


def role_arn(partition, account, guard, region):
    """The deterministic role names of infra/regional.yaml."""
    return f"arn:{partition}:iam::{account}:role/idc-guard-{guard}-{region}"


def role_key(arn):
    """How the guard compares roles (loop protection): account and role name, case-insensitive,
    path and partition ignored (docs/key-policy-guard.md)."""
    m = re.match(r"^arn:[^:]+:iam::(\d{12}):role/(?:.*/)?([^/]+)$", arn)
    return (m.group(1), m.group(2).lower()) if m else None


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} CONFIG_TOML OUT_DIR", file=sys.stderr)
        return 2
    config_path, out_dir = pathlib.Path(argv[1]), pathlib.Path(argv[2])
    try:
        text = config_path.read_text(encoding="utf-8")
        config = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        print(f"{config_path}: cannot read the configuration: {e}", file=sys.stderr)
        return 2

    problems = []

    def need(key):
        value = config.get(key)
        if not value:
            problems.append(f"{config_path}: {key}: missing")
        return value

    key_arn = need("key_arn") or ""
    instance_arn = need("instance_arn") or ""
    primary = need("primary_region") or ""
    regions_in_config = need("regions") or []
    key = re.match(r"^arn:([^:]+):kms:[^:]+:(\d{12}):key/(.+)$", key_arn)
    instance = re.match(r"^arn:[^:]+:sso:::instance/(ssoins-[A-Za-z0-9]{16})$", instance_arn)
    if key_arn and not key:
        problems.append(f"{config_path}: key_arn: {key_arn!r} is not a key ARN")
    if instance_arn and not instance:
        problems.append(f"{config_path}: instance_arn: {instance_arn!r} is not an instance ARN")
    partition, account, key_id = key.groups() if key else ("aws", "000000000000", "")

    home = env("HOME_REGION", env("AWS_REGION", primary))
    regions = env("REGIONS").split() or list(regions_in_config)
    for r in [home, *regions]:
        if not REGION.match(r or ""):
            problems.append(f"Region {r!r} is not a Region code")
    if primary and primary not in regions:
        problems.append(
            f"REGIONS ({' '.join(regions)}) must include the primary Region {primary}: "
            "idp-guard runs there"
        )
    mode = env("MODE", "notify")
    if mode not in ("dry-run", "notify", "remediate"):
        problems.append(f"MODE: {mode!r} is not dry-run, notify or remediate")
    arch = env("ARCH", "x86_64")
    if arch not in ("arm64", "x86_64"):
        problems.append(f"ARCH: {arch!r} is not arm64 or x86_64")
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        problems.append(
            f"{config_path}: {len(text.encode('utf-8'))} bytes; the Lambdas take it in an "
            f"environment variable (4 KB for all of them): keep it under {MAX_CONFIG_BYTES} bytes "
            "(drop comments)"
        )

    if mode == "remediate":
        listed = {role_key(a) for a in config.get("remediation", {}).get("guard_role_arns", [])}
        missing = [
            role_arn(partition, account, guard, r)
            for r in regions
            for guard in REMEDIATING_GUARDS
            if role_key(role_arn(partition, account, guard, r)) not in listed
        ]
        if missing:
            problems.append(
                "MODE=remediate but remediation.guard_role_arns does not list these guard roles "
                "(without them a guard would re-remediate its own changes): "
                + ", ".join(missing)
            )

    idp = config.get("idp") or {}
    saml = env("SAML_METADATA")
    configured = idp.get("saml_metadata")
    # A local file ([idp] saml_metadata = "path") needs no S3 permission.
    if not saml and isinstance(configured, str) and configured.startswith("s3://"):
        saml = configured
    saml_bucket = saml_key = ""
    if saml:
        m = re.match(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$", saml)
        if not m:
            problems.append(f"SAML_METADATA: {saml!r} is not s3://bucket/key")
        else:
            saml_bucket, saml_key = m.groups()

    # The IdP application's credentials: the shared stack creates the secret (empty); the
    # regional stacks let idp-guard read it by ARN, which exists once the shared stack does.
    application = idp.get("application") or {}
    secret_name = env(
        "IDP_CREDENTIALS_SECRET_NAME", "idc-guard/idp-credentials" if application else ""
    )
    secret_arn = str(application.get("credentials_secret", ""))
    if application and not secret_arn.startswith("arn:"):
        print(
            "note: idp.application.credentials_secret is not an ARN: the regional stacks grant "
            "idp-guard no read on it. Deploy the shared stack, set the value of its "
            "IdpCredentialsSecretArn output, put that ARN in the configuration, then deploy the "
            "Regions (docs/idp-guard.md).",
            file=sys.stderr,
        )
        secret_arn = ""

    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        return 1

    common = {
        "GuardConfig": text,
        "InstanceId": instance.group(1),
        "KeyId": key_id,
        "KeyAccountId": account,
        "BusName": env("BUS_NAME", "idc-guard"),
        "StateTableName": env("STATE_TABLE_NAME", "idc-guard-state"),
        "Architecture": arch,
        "MemorySize": env("MEMORY_SIZE", "256"),
        "LogRetentionDays": env("LOG_RETENTION_DAYS", "90"),
    }
    shared = dict(
        common,
        EvidenceBucketName=env("EVIDENCE_BUCKET_NAME"),
        SlackSecretName=env("SLACK_SECRET_NAME", "idc-guard/slack-webhook"),
        MinSeverity=env("MIN_SEVERITY", "medium"),
        EvidenceVendor=env("EVIDENCE_VENDOR"),
        EvidenceRetentionDays=env("EVIDENCE_RETENTION_DAYS", "365"),
        SweepSchedule=env("SWEEP_SCHEDULE", "rate(6 hours)"),
        SamlMetadataBucket=saml_bucket,
        SamlMetadataKey=saml_key,
        EnableSecurityHub=env("ENABLE_SECURITY_HUB", "false"),
        IdpCredentialsSecretName=secret_name,
    )
    supported = config.get("policy", {}).get("supported_regions", [])
    replica_regions = env("REPLICA_REGIONS", ",".join(supported) or "*")
    alarm_topic = env("ALARM_TOPIC_NAME")

    def alarm_topic_arn(region):
        return f"arn:{partition}:sns:{region}:{account}:{alarm_topic}" if alarm_topic else ""

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"shared.yaml": dict(shared, AlarmTopicArn=alarm_topic_arn(home))}
    for r in regions:
        files[f"regional-{r}.yaml"] = dict(
            common,
            HomeRegion=home,
            PrimaryRegion=primary,
            Mode=mode,
            ReplicaRegions=replica_regions,
            SsoDirectoryEventSource=env(
                "SSO_DIRECTORY_EVENT_SOURCE",
                idp.get("sso_directory_event_source") or "aws.sso-directory",
            ),
            SamlMetadataBucket=saml_bucket,
            SamlMetadataKey=saml_key,
            IdpCredentialsSecretArn=secret_arn,
            AlarmTopicArn=alarm_topic_arn(r),
        )
    for name, params in files.items():
        (out_dir / name).write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")

    print(f"HOME_REGION={home}")
    print(f"REGIONS='{' '.join(regions)}'")
    print(f"PARTITION={partition}")
    print(f"ACCOUNT={account}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
