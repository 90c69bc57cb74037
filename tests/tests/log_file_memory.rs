//! A CloudTrail log file is read one record at a time: a 100 MB file, generated as it is
//! read (never held), goes through the reader while the process's peak resident memory
//! (`VmHWM`) grows by far less than the file. nextest runs each test in a process of its own,
//! so the peak is this test's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Read;
use std::ops::ControlFlow;

use idc_guard_core::intake::records::{Entry, FileShape, read_records};

/// The process's peak resident set, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `{"Records": [r0, r1, ...]}` of about `bytes`, written into the reader's buffer as asked.
struct LogFile {
    record: Vec<u8>,
    records: usize,
    written: usize,
    pending: Vec<u8>,
    closed: bool,
}

impl LogFile {
    fn new(bytes: usize) -> LogFile {
        let record = serde_json::json!({
            "eventVersion": "1.08", "eventTime": "2026-11-27T10:00:00Z",
            "eventSource": "kms.amazonaws.com", "eventName": "Decrypt", "awsRegion": "us-east-1",
            "eventID": "00000000-0000-4000-8000-000000000000",
            "userIdentity": {"type": "AWSService", "invokedBy": "sso.amazonaws.com"},
            "requestParameters": {"encryptionContext": {"aws:sso:instance-arn": "arn:aws:sso:::instance/ssoins-1234567890abcdef"}},
            "resources": [{"ARN": "arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"}]
        })
        .to_string()
        .into_bytes();
        let records = bytes / (record.len() + 1);
        LogFile {
            record,
            records,
            written: 0,
            pending: b"{\"Records\": [".to_vec(),
            closed: false,
        }
    }
}

impl Read for LogFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pending.is_empty() {
            if self.written < self.records {
                if self.written > 0 {
                    self.pending.push(b',');
                }
                self.pending.extend_from_slice(&self.record);
                self.written += 1;
            } else if !self.closed {
                self.pending.extend_from_slice(b"]}");
                self.closed = true;
            } else {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

#[test]
fn a_100_mb_log_file_is_read_in_bounded_memory() {
    let file = LogFile::new(100 * 1024 * 1024);
    let expected = file.records;
    let before = peak_rss_kib();
    let mut count = 0usize;
    let shape = read_records(std::io::BufReader::new(file), |entry| {
        assert!(matches!(entry, Entry::Record { index, .. } if index == count));
        count += 1;
        ControlFlow::Continue(())
    });
    let grown = peak_rss_kib().saturating_sub(before);
    assert_eq!(shape, Ok(FileShape::LogFile));
    assert_eq!(count, expected);
    assert!(expected > 200_000, "{expected} records");
    // Held whole, the file's records would take several times its 100 MB as JSON values.
    assert!(
        grown < 32 * 1024,
        "reading 100 MB grew the peak resident memory by {grown} KiB"
    );
}
