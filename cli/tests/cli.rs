//! The CLI contract (README): exit codes, output formats, and one clear line for bad input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
// A test may be a long table of cases.
#![allow(clippy::too_many_lines)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_idc-guard"))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn config() -> String {
    examples()
        .join("config.toml")
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn tmp(name: &str, content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("idc-guard-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_string_lossy().into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn rendered_policy_checks_compliant_and_json_shape() {
    let rendered = run(&["render-policy", "--config", &config()]);
    assert_eq!(rendered.status.code(), Some(0));
    let policy = tmp("rendered.json", &stdout(&rendered));
    let checked = run(&[
        "check-policy",
        "--config",
        &config(),
        "--format",
        "json",
        &policy,
    ]);
    assert_eq!(checked.status.code(), Some(0), "{}", stderr(&checked));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&checked)).unwrap();
    assert_eq!(doc["compliant"], true);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 0);
}

#[test]
fn drift_exits_1_with_findings_naming_region_and_statement() {
    let policy = examples().join("public-decrypt-policy.json");
    let out = run(&[
        "check-policy",
        "--config",
        &config(),
        "--format",
        "json",
        policy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["compliant"], false);
    let findings = doc["findings"].as_array().unwrap();
    let external: Vec<_> = findings
        .iter()
        .filter(|f| f["check"] == "KP-EXTERNAL-ACCESS")
        .collect();
    assert_eq!(external.len(), 3, "one per enabled Region");
    for f in external {
        assert_eq!(f["status"], "fail");
        assert_eq!(f["severity"], "critical");
        assert_eq!(f["statement"], "TemporaryDebugAccess (index 5)");
        assert_eq!(f["fingerprint"].as_str().unwrap().len(), 32);
        assert!(f["resource"].as_str().unwrap().starts_with("arn:aws:kms:"));
    }
}

#[test]
fn policy_as_a_json_string_from_stdin() {
    let rendered = stdout(&run(&["render-policy", "--config", &config()]));
    let as_string = serde_json::to_string(&rendered).unwrap();
    let out = run_stdin(&["check-policy", "--config", &config(), "-"], &as_string);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("COMPLIANT"));
}

#[test]
fn invalid_key_policy_is_a_finding_not_a_usage_error() {
    let policy = tmp(
        "typo.json",
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"X","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Conditon":{}}]}"#,
    );
    let out = run(&[
        "check-policy",
        "--config",
        &config(),
        "--format",
        "json",
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let f = &doc["findings"][0];
    assert_eq!(f["check"], "KP-INVALID");
    assert_eq!(f["statement"], "X (index 0)");
    assert!(f["message"].as_str().unwrap().contains("Conditon"), "{f}");
}

#[test]
fn bad_input_exits_2_with_one_line_naming_file_and_problem() {
    let not_json = tmp("broken.json", "{\"Version\": \n  nope");
    let cases: Vec<(Vec<String>, &str, Option<&str>)> = vec![
        (
            vec![
                "check-policy".into(),
                "--config".into(),
                config(),
                "/nonexistent/p.json".into(),
            ],
            "/nonexistent/p.json: cannot read the policy",
            None,
        ),
        (
            vec![
                "check-policy".into(),
                "--config".into(),
                config(),
                not_json.clone(),
            ],
            "broken.json: line 2, column 4: not JSON",
            None,
        ),
        (
            vec![
                "check-policy".into(),
                "--config".into(),
                "/nonexistent/c.toml".into(),
                not_json.clone(),
            ],
            "/nonexistent/c.toml: cannot read the configuration",
            None,
        ),
        (
            vec![
                "check-policy".into(),
                "--config".into(),
                config(),
                "-".into(),
            ],
            "<stdin>: the policy is empty",
            Some(""),
        ),
        (
            vec![
                "check-policy".into(),
                "--config".into(),
                tmp("bad.toml", "instance_arn = 1\n"),
                not_json.clone(),
            ],
            "bad.toml: line 1, column 16: invalid type",
            None,
        ),
        (
            vec![
                "simulate".into(),
                "--config".into(),
                config(),
                examples()
                    .join("baseline-policy.json")
                    .to_string_lossy()
                    .into(),
                "--principal".into(),
                "bob".into(),
                "--action".into(),
                "kms:Decrypt".into(),
            ],
            "--principal: \"bob\"",
            None,
        ),
        (
            vec![
                "simulate".into(),
                "--config".into(),
                config(),
                examples()
                    .join("baseline-policy.json")
                    .to_string_lossy()
                    .into(),
                "--principal".into(),
                "111122223333".into(),
                "--action".into(),
                "kms:Decrypt".into(),
                "--context".into(),
                "novalue".into(),
            ],
            "--context: \"novalue\" is not KEY=VALUE",
            None,
        ),
    ];
    for (args, want, stdin) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = match stdin {
            Some(input) => run_stdin(&args, input),
            None => run(&args),
        };
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: want {want:?} in {err:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err:?}");
        assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"));
    }
}

#[test]
fn unknown_config_key_is_named() {
    let text = std::fs::read_to_string(examples().join("config.toml"))
        .unwrap()
        .replace("[policy]", "colour = \"blue\"\n[policy]");
    let cfg = tmp("unknown.toml", &text);
    let out = run(&["render-policy", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown key `colour`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn simulate_prints_decision_and_deciding_statements() {
    let policy = examples().join("public-decrypt-policy.json");
    let out = run(&[
        "simulate",
        "--config",
        &config(),
        policy.to_str().unwrap(),
        "--principal",
        "arn:aws:iam::999999999999:role/Attacker",
        "--action",
        "kms:Decrypt",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["narrow"]["decision"], "allow");
    assert_eq!(
        doc["narrow"]["statements"][0],
        "TemporaryDebugAccess (index 5)"
    );

    let baseline = examples().join("baseline-policy.json");
    let out = run(&[
        "simulate",
        "--config",
        &config(),
        baseline.to_str().unwrap(),
        "--principal",
        "arn:aws:iam::210987654321:role/App",
        "--action",
        "kms:Decrypt",
        "--region",
        "eu-west-1",
        "--context",
        "aws:PrincipalOrgID=o-a1b2c3d4e5",
        "--context",
        "kms:ViaService=sso.eu-west-1.amazonaws.com",
        "--context",
        "kms:EncryptionContextKeys=aws:sso:instance-arn",
    ]);
    let text = stdout(&out);
    assert!(text.starts_with("decision: ALLOW"), "{text}");
    assert!(
        text.contains("AllowOrgPrincipalsViaIdentityCenterAndIdentityStore (index 3)"),
        "{text}"
    );
    let out = run(&[
        "simulate",
        "--config",
        &config(),
        baseline.to_str().unwrap(),
        "--principal",
        "arn:aws:iam::210987654321:role/App",
        "--action",
        "kms:Decrypt",
    ]);
    assert!(
        stdout(&out).starts_with("decision: DENY (implicit"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn acs_urls_lists_every_enabled_region() {
    let out = run(&["acs-urls", "--config", &config(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let regions = doc["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 3);
    assert_eq!(
        regions[1]["acs_urls"][0],
        "https://eu-west-1.signin.aws/platform/saml/acs/ssoins-1234567890abcdef-tenant"
    );
    assert_eq!(
        regions[1]["acs_urls"][1],
        "https://eu-west-1.sso.signin.aws/platform/saml/acs/ssoins-1234567890abcdef-tenant"
    );
    assert!(regions[0]["legacy_acs_url"].is_string());
    assert!(regions[1].get("legacy_acs_url").is_none());
}

/// Splits a POSIX shell line the way the reproduce lines quote it: spaces separate words,
/// single quotes quote, `\` escapes outside quotes.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    w.push(q);
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(e) = chars.next() {
                    w.push(e);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// Every failing KP finding of every fixture case (on the fixtures' base configuration) prints
/// an `idc-guard simulate` line that names the real files; run as printed, it reproduces the
/// failure: an Allow for a request that must be denied, a Deny for one that must be allowed.
#[test]
fn every_reproduce_line_reproduces_its_finding() {
    let config_path = tmp("fixture-config.toml", idc_guard_tests::BASE_CONFIG);
    let files = idc_guard_tests::key_policy_fixture_files();
    let mut reproduced = 0;
    for path in files {
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let on_base_config = case
            .get("config")
            .is_none_or(|c| c.as_object().is_some_and(serde_json::Map::is_empty));
        let Some(policy) = case.get("policy").filter(|_| on_base_config) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let policy_path = tmp(&name, &serde_json::to_string_pretty(policy).unwrap());
        let out = run(&[
            "check-policy",
            "--config",
            &config_path,
            "--format",
            "json",
            &policy_path,
        ]);
        let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        for finding in report["findings"].as_array().unwrap() {
            let message = finding["message"].as_str().unwrap();
            let Some((_, line)) = message.split_once(" Reproduce: ") else {
                continue;
            };
            let words = shell_words(line);
            assert_eq!(words[..2], ["idc-guard", "simulate"], "{name}: {line}");
            assert!(
                words.contains(&config_path) && words.contains(&policy_path),
                "{name}: the line names the files: {line}"
            );
            let mut args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            args.extend(["--format", "json"]);
            let sim = run(&args);
            assert_eq!(
                sim.status.code(),
                Some(0),
                "{name}: {line}: {}",
                stderr(&sim)
            );
            let doc: serde_json::Value = serde_json::from_str(&stdout(&sim)).unwrap();
            let check = finding["check"].as_str().unwrap();
            let must_deny = matches!(
                check,
                "KP-EXTERNAL-ACCESS" | "KP-UNEXPECTED-ADMIN" | "KP-BROADER-THAN-MODEL"
            );
            if must_deny {
                assert_eq!(doc["broad"]["decision"], "allow", "{name} {check}: {line}");
            } else {
                assert_ne!(doc["narrow"]["decision"], "allow", "{name} {check}: {line}");
            }
            reproduced += 1;
        }
    }
    assert!(reproduced >= 100, "only {reproduced} reproduce lines");
}

/// The text of `check-policy` on the bundled examples, as a person reads it: one paragraph per
/// problem whatever the number of Regions it is in, each naming its Regions.
#[test]
fn check_policy_text_groups_regions_snapshot() {
    let examples = examples();
    let empty = tmp(
        "empty-statements.json",
        r#"{"Version":"2012-10-17","Statement":[]}"#,
    );
    let mut text = String::new();
    for (policy, verbose) in [
        ("drifted-policy.json", false),
        ("public-decrypt-policy.json", false),
        ("public-decrypt-policy.json", true),
    ] {
        let path = format!("examples/{policy}");
        let mut args = vec!["check-policy", "--config", "examples/config.toml", &path];
        if verbose {
            args.push("--verbose");
        }
        // From the repository's root, so the reproduce lines name the files as a user would.
        let out = bin()
            .args(&args)
            .current_dir(examples.parent().unwrap())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        text.push_str(&format!(
            "$ idc-guard {}\n{}\n",
            args.join(" "),
            stdout(&out)
        ));
    }
    let out = run(&["check-policy", "--config", &config(), &empty]);
    text.push_str(&format!(
        "$ idc-guard check-policy --config examples/config.toml empty-statements.json\n{}",
        stdout(&out)
    ));
    for line in text.lines().filter(|l| l.starts_with("FAIL")) {
        assert!(
            line.contains(" in "),
            "every line names its Regions: {line}"
        );
    }
    insta::assert_snapshot!(text);
}
