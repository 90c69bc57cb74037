//! `idc-guard evidence verify`: recomputes the SHA-256 of every evidence object under a prefix
//! and compares it with what is stored on the object (S3 `ChecksumSHA256`, metadata `sha256`).
//!
//! Exit 0: every object intact; 1: any object altered, without a checksum, or gone between
//! listing and reading; 2: bad input, or the bucket cannot be read at all.

use std::fmt::Write as _;

use idc_guard_core::aws::load_sdk_config_system_roots;
use idc_guard_core::aws::s3::S3EvidenceStore;
use idc_guard_core::aws::signing::KmsSigningKey;
use idc_guard_core::domain::time::Timestamp;
use idc_guard_core::evidence::html::{ReportHeader, to_html};
use idc_guard_core::evidence::report::{EvidenceRow, Integrity, day_prefixes, to_csv};
use idc_guard_core::evidence::{KEY_PREFIX, Verdict, verify};
use idc_guard_core::finding::CheckId;
use idc_guard_core::ports::{EvidenceStore, PortErrorKind};
use serde_json::json;

use crate::live::runtime;
use crate::{Format, Outcome, UsageError};

/// `evidence verify` arguments.
#[derive(Debug)]
pub struct VerifyArgs<'a> {
    /// The evidence bucket.
    pub bucket: &'a str,
    /// The key prefix (default `evidence/`).
    pub prefix: Option<&'a str>,
    /// The digest chain instead.
    pub chain: &'a ChainArgs,
    /// Endpoint for S3 (a local server).
    pub endpoint_url: Option<&'a str>,
    /// Output format.
    pub format: Format,
}

/// One object's result.
#[derive(Debug, serde::Serialize)]
struct ObjectResult {
    key: String,
    #[serde(flatten)]
    verdict: Checked,
}

#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum Checked {
    Verdict(Verdict),
    Missing { result: &'static str, error: String },
}

/// S3's bucket naming rules (the common subset): 3 to 63 lower-case letters, digits, dots
/// and hyphens, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), UsageError> {
    let ok_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let ends = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if (3..=63).contains(&bucket.len())
        && ok_chars
        && ends(bucket.bytes().next())
        && ends(bucket.bytes().last())
    {
        Ok(())
    } else {
        Err(UsageError(format!(
            "--bucket: \"{bucket}\" is not an S3 bucket name (3-63 lower-case letters, digits, dots, hyphens; no s3://)"
        )))
    }
}

/// The evidence bucket through the standard SDK configuration; a Region must be set.
async fn open_store(
    bucket: &str,
    endpoint_url: Option<&str>,
) -> Result<S3EvidenceStore, UsageError> {
    let sdk = load_sdk_config_system_roots().await;
    if sdk.region().is_none() {
        return Err(UsageError(
            "no AWS Region configured: set AWS_REGION (or a profile's region) to the bucket's Region".to_owned(),
        ));
    }
    Ok(S3EvidenceStore::new(
        &sdk,
        endpoint_url.map(str::to_owned),
        bucket,
    ))
}

/// The digest chain's signing key, for `verify --chain`, `list` and `export`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct SigningArgs {
    /// The chain's signing key ARN: its public key is read with kms:GetPublicKey.
    #[arg(long)]
    pub signing_key: Option<String>,
    /// The chain's public key, DER or PEM (instead of --signing-key: fully offline).
    #[arg(long)]
    pub public_key: Option<String>,
    /// Every object must be under COMPLIANCE retention for this many days (0: not checked).
    #[arg(long, default_value_t = 365)]
    pub retention_days: i64,
}

impl SigningArgs {
    fn given(&self) -> bool {
        self.signing_key.is_some() || self.public_key.is_some()
    }

    /// The public key the chain verifies with.
    async fn verifying_key(
        &self,
        endpoint_url: Option<&str>,
    ) -> Result<p256::ecdsa::VerifyingKey, UsageError> {
        match (&self.public_key, &self.signing_key) {
            (Some(path), _) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| UsageError(format!("{path}: cannot read the public key: {e}")))?;
                crate::chain::public_key(&bytes).map_err(|e| UsageError(format!("{path}: {e}")))
            }
            (None, Some(arn)) => {
                let sdk = load_sdk_config_system_roots().await;
                let der = KmsSigningKey::new(&sdk, endpoint_url.map(str::to_owned), arn)
                    .public_key()
                    .await
                    .map_err(|e| UsageError(format!("--signing-key {arn}: {e}")))?;
                crate::chain::public_key(&der)
                    .map_err(|e| UsageError(format!("--signing-key {arn}: {e}")))
            }
            (None, None) => Err(UsageError(
                "the digest chain needs its signing key: --signing-key ARN or --public-key FILE"
                    .to_owned(),
            )),
        }
    }

    /// Walks the chain of the period with `key` (read once, by [`SigningArgs::verifying_key`]).
    async fn walk(
        &self,
        store: &S3EvidenceStore,
        key: p256::ecdsa::VerifyingKey,
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> Result<crate::chain::ChainReport, UsageError> {
        let expect = crate::chain::Expect {
            key,
            retention_days: self.retention_days,
            from,
            to,
            now,
        };
        crate::chain::walk(store, &expect).await.map_err(|e| {
            UsageError(format!(
                "s3://{}: cannot read the digest chain: {e}",
                store.bucket()
            ))
        })
    }
}

/// `evidence verify --chain` arguments.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ChainArgs {
    /// Walk the signed digest chain (digest/) of a period.
    #[arg(long)]
    pub chain: bool,
    /// First day of the period, YYYY-MM-DD (UTC); default 30 days before --to (with --chain).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day, YYYY-MM-DD (UTC); default today (with --chain).
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub signing: SigningArgs,
}

/// `evidence verify`
pub fn verify_command(args: &VerifyArgs<'_>) -> Result<Outcome, UsageError> {
    check_bucket(args.bucket)?;
    if let Some(url) = args.endpoint_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(UsageError(format!(
            "--endpoint-url: \"{url}\" is not an http:// or https:// URL"
        )));
    }
    if args.chain.chain {
        return chain_command(args);
    }
    let prefix = args.prefix.unwrap_or(KEY_PREFIX);
    let results = runtime()?.block_on(async {
        let store = open_store(args.bucket, args.endpoint_url).await?;
        let keys = store.list(prefix).await.map_err(|e| {
            UsageError(format!(
                "s3://{}/{prefix}: cannot list the evidence: {e}",
                args.bucket
            ))
        })?;
        let mut results = Vec::with_capacity(keys.len());
        for key in keys {
            let verdict = match store.get(&key).await {
                Ok(object) => Checked::Verdict(verify(&object)),
                Err(e) if e.kind == PortErrorKind::NotFound => Checked::Missing {
                    result: "missing",
                    error: e.to_string(),
                },
                Err(e) => {
                    return Err(UsageError(format!(
                        "s3://{}/{key}: cannot read the object: {e}",
                        args.bucket
                    )));
                }
            };
            results.push(ObjectResult { key, verdict });
        }
        Ok(results)
    })?;
    let bad: Vec<&ObjectResult> = results
        .iter()
        .filter(|r| !matches!(r.verdict, Checked::Verdict(Verdict::Intact)))
        .collect();
    let intact = results.len() - bad.len();
    let code = if bad.is_empty() { 0 } else { 1 };
    let stdout = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "ok": bad.is_empty(),
                "bucket": args.bucket,
                "prefix": prefix,
                "objects": results.len(),
                "intact": intact,
                "problems": bad,
            }))
            .unwrap_or_default()
        ),
        Format::Text => verify_text(&results, &bad, args.bucket, prefix),
    };
    Ok(Outcome { stdout, code })
}

/// `evidence verify --chain`.
fn chain_command(args: &VerifyArgs<'_>) -> Result<Outcome, UsageError> {
    let c = args.chain;
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let (from, to) = period(c.from.as_deref(), c.to.as_deref(), now)?;
    let report = runtime()?.block_on(async {
        // The key first: a missing or wrong key is bad input before anything is read.
        let key = c.signing.verifying_key(args.endpoint_url).await?;
        let store = open_store(args.bucket, args.endpoint_url).await?;
        c.signing.walk(&store, key, from, to, now).await
    })?;
    let code = u8::from(!report.problems.is_empty());
    let stdout = match args.format {
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(
                &json!({"ok": report.problems.is_empty(), "bucket": args.bucket, "chain": report})
            )
            .unwrap_or_default()
        ),
        Format::Text => crate::chain::text(&report),
    };
    Ok(Outcome { stdout, code })
}

/// The period of `--from` and `--to` (default: the 30 days up to today).
fn period(
    from: Option<&str>,
    to: Option<&str>,
    now: Timestamp,
) -> Result<(Timestamp, Timestamp), UsageError> {
    let to = to.map(|t| day("--to", t)).transpose()?.unwrap_or(now);
    let from = from
        .map(|f| day("--from", f))
        .transpose()?
        .unwrap_or(to.plus(-30 * 86_400));
    day_prefixes(from, to).map_err(|e| UsageError(format!("--from/--to: {e}")))?;
    Ok((from, to))
}

/// `evidence verify` in text: a line per object with a problem, then the verdict.
fn verify_text(
    results: &[ObjectResult],
    bad: &[&ObjectResult],
    bucket: &str,
    prefix: &str,
) -> String {
    let intact = results.len() - bad.len();
    let mut out = String::new();
    for r in bad {
        let _ = match &r.verdict {
            Checked::Verdict(Verdict::Altered { actual, mismatches }) => {
                let stored: Vec<String> = mismatches
                    .iter()
                    .map(|(what, value)| format!("{what} {value}"))
                    .collect();
                writeln!(
                    out,
                    "ALTERED {}: body sha256 {actual}, stored {}",
                    r.key,
                    stored.join(", ")
                )
            }
            Checked::Verdict(Verdict::MissingChecksum { actual }) => writeln!(
                out,
                "NO-CHECKSUM {}: body sha256 {actual}, nothing stored to compare with",
                r.key
            ),
            Checked::Missing { error, .. } => {
                writeln!(out, "MISSING {}: {error}", r.key)
            }
            Checked::Verdict(Verdict::Intact) => Ok(()),
        };
    }
    let _ = writeln!(
        out,
        "{}: {} object(s) under s3://{}/{prefix}: {intact} intact, {} with problems",
        if bad.is_empty() { "OK" } else { "NOT OK" },
        results.len(),
        bucket,
        bad.len()
    );
    out
}

/// What `evidence list` and `evidence export` print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// One line per record.
    Text,
    /// The rows as JSON.
    Json,
    /// RFC 4180 CSV.
    Csv,
    /// One self-contained HTML page.
    Html,
}

/// `evidence list` / `evidence export` arguments.
#[derive(Debug)]
pub struct ReportArgs<'a> {
    /// The evidence bucket.
    pub bucket: &'a str,
    /// First day (YYYY-MM-DD, UTC); default 30 days before `to`.
    pub from: Option<&'a str>,
    /// Last day (YYYY-MM-DD, UTC); default today.
    pub to: Option<&'a str>,
    /// Endpoint for S3 (a local server).
    pub endpoint_url: Option<&'a str>,
    /// Output format.
    pub format: ReportFormat,
    /// Which records.
    pub filters: &'a Filters,
    /// The digest chain's key: when given, the chain of the period is walked too.
    pub signing: &'a SigningArgs,
}

/// Which records `list` and `export` show. A record that does not verify is shown whatever
/// the filters: what it says about its check, Region or status cannot be trusted.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Filters {
    /// Only this check (e.g. KP-ADMIN).
    #[arg(long)]
    pub check: Option<String>,
    /// Only this Region.
    #[arg(long)]
    pub region: Option<String>,
    /// Only this status: pass, fail, warn or error.
    #[arg(long)]
    pub status: Option<String>,
}

impl Filters {
    fn validate(&self) -> Result<(), UsageError> {
        if let Some(c) = &self.check
            && CheckId::from_id(c).is_none()
        {
            return Err(UsageError(format!(
                "--check: \"{c}\" is not a check (docs/checks.md lists them)"
            )));
        }
        if let Some(s) = &self.status
            && !["pass", "fail", "warn", "error"].contains(&s.as_str())
        {
            return Err(UsageError(format!(
                "--status: \"{s}\" is not pass, fail, warn or error"
            )));
        }
        Ok(())
    }

    fn keeps(&self, r: &EvidenceRow) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        !r.verified()
            || (is(&self.check, &r.check)
                && is(&self.region, &r.region)
                && is(&self.status, &r.status))
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("check", &self.check),
            ("Region", &self.region),
            ("status", &self.status),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.as_ref().map(|v| format!("{name} {v}")))
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(
                "; only {} (and every record that does not verify)",
                parts.join(", ")
            )
        }
    }
}

fn day(flag: &str, text: &str) -> Result<Timestamp, UsageError> {
    let ok = text.len() == 10 && text.bytes().filter(|b| *b == b'-').count() == 2;
    ok.then(|| Timestamp::parse(text))
        .flatten()
        .ok_or_else(|| UsageError(format!("{flag}: \"{text}\" is not a date (YYYY-MM-DD)")))
}

/// `evidence list` and `evidence export`: every record of the period, each read back and its
/// checksum verified. Exit 0, or 1 when any record's checksum does not match.
pub fn report_command(args: &ReportArgs<'_>) -> Result<Outcome, UsageError> {
    check_bucket(args.bucket)?;
    args.filters.validate()?;
    let now = Timestamp::from_system_time(std::time::SystemTime::now());
    let (from, to) = period(args.from, args.to, now)?;
    let (mut rows, chain) = runtime()?.block_on(async {
        // The key first: a wrong key is bad input before anything is read.
        let key = if args.signing.given() {
            Some(args.signing.verifying_key(args.endpoint_url).await?)
        } else {
            None
        };
        let store = open_store(args.bucket, args.endpoint_url).await?;
        let rows = read_rows(&store, from, to).await?;
        let chain = match key {
            Some(key) => Some(args.signing.walk(&store, key, from, to, now).await?),
            None => None,
        };
        Ok::<_, UsageError>((rows, chain))
    })?;
    if let Some(chain) = &chain {
        mark_chain_problems(&mut rows, chain);
    }
    rows.retain(|r| args.filters.keeps(r));
    // In time order everywhere, as the timeline reads (keys order by fingerprint within a day).
    rows.sort_by(|a, b| (&a.time, &a.key).cmp(&(&b.time, &b.key)));
    let chain_ok = chain.as_ref().is_none_or(|c| c.problems.is_empty());
    let code = u8::from(!(chain_ok && rows.iter().all(EvidenceRow::verified)));
    let text = format!(
        "{} to {}",
        from.to_string().get(..10).unwrap_or_default(),
        to.to_string().get(..10).unwrap_or_default()
    );
    let stdout = report_output(
        &rows,
        args,
        &Period {
            text,
            from,
            to,
            chain,
        },
        now,
    );
    Ok(Outcome { stdout, code })
}

/// Every object of the period's days, read back, its checksums verified; never one left out.
async fn read_rows(
    store: &S3EvidenceStore,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<EvidenceRow>, UsageError> {
    let bucket = store.bucket();
    let mut rows = Vec::new();
    for prefix in day_prefixes(from, to).unwrap_or_default() {
        let keys = store.list(&prefix).await.map_err(|e| {
            UsageError(format!(
                "s3://{bucket}/{prefix}: cannot list the evidence: {e}"
            ))
        })?;
        for key in keys {
            let object = store.get(&key).await.map_err(|e| {
                UsageError(format!("s3://{bucket}/{key}: cannot read the object: {e}"))
            })?;
            let integrity = Integrity::of(&verify(&object));
            // An object that is not an evidence record is listed as such, never left out.
            rows.push(EvidenceRow::from_body(&key, &object.body, integrity).with_object(&object));
        }
    }
    Ok(rows)
}

/// A record the chain finds altered or lists nowhere is not verified, whatever its checksums.
fn mark_chain_problems(rows: &mut [EvidenceRow], chain: &crate::chain::ChainReport) {
    use crate::chain::Kind;
    for r in rows.iter_mut().filter(|r| r.intact()) {
        if chain
            .problems
            .iter()
            .any(|p| p.object == r.key && matches!(p.kind, Kind::Altered | Kind::Unlisted))
        {
            r.integrity = Integrity::NotInChain;
        }
    }
}

/// The period of a report: in words, its first and last day, and the chain's verdict.
struct Period {
    text: String,
    from: Timestamp,
    to: Timestamp,
    chain: Option<crate::chain::ChainReport>,
}

/// The rows in the format asked for.
fn report_output(
    rows: &[EvidenceRow],
    args: &ReportArgs<'_>,
    period: &Period,
    now: Timestamp,
) -> String {
    let filters = args.filters.describe();
    let period_text = &period.text;
    match args.format {
        ReportFormat::Csv => to_csv(rows),
        ReportFormat::Html => to_html(
            rows,
            &ReportHeader {
                title: format!("idc-guard evidence, s3://{}, {period_text}", args.bucket),
                scope: format!(
                    "s3://{}, evidence/ keys of the days {period_text}{filters}",
                    args.bucket
                ),
                from: period.from,
                to: period.to,
                generated: now,
                version: env!("CARGO_PKG_VERSION").to_owned(),
                chain: period.chain.as_ref().map(crate::chain::statement),
            },
        ),
        ReportFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(
                &json!({"bucket": args.bucket, "period": period_text, "filters": filters.trim_start_matches("; "), "records": rows, "chain": period.chain})
            )
            .unwrap_or_default()
        ),
        ReportFormat::Text => {
            let mut out = String::new();
            for r in rows {
                let _ = writeln!(
                    out,
                    "{} {:<6} {:<22} {:<15} {:<8} {}{}",
                    r.time,
                    r.status.to_uppercase(),
                    r.check,
                    r.region,
                    r.outcome,
                    r.key,
                    match r.integrity {
                        Integrity::Verified => String::new(),
                        other => format!("  {}", other.label()),
                    }
                );
            }
            let _ = writeln!(out, "{} record(s), {period_text}{filters}", rows.len());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(day("--from", "2026-11-01").is_ok());
        assert!(day("--from", "2026-11-01T00:00:00Z").is_err());
        assert!(day("--from", "yesterday").is_err());
    }

    #[test]
    fn bucket_names() {
        assert!(check_bucket("idc-guard-evidence-111122223333").is_ok());
        assert!(check_bucket("s3://x").is_err());
        assert!(check_bucket("ab").is_err());
        assert!(check_bucket("Upper").is_err());
        assert!(check_bucket("-dash").is_err());
    }
}
