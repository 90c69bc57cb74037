//! Reading the user's files: every failure becomes one line naming the file, the place and
//! the problem.

use std::io::Read;

use idc_guard_core::config::Config;
use idc_guard_policy::document::unwrap_policy_text;

use crate::UsageError;

/// Files larger than this are refused before reading them whole (a key policy is at most
/// 32 KB; the margin leaves room to report an over-size policy as a finding).
const MAX_INPUT_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a file, or standard input for `-`.
pub fn read_text(path: &str, what: &str) -> Result<String, UsageError> {
    let name = display_name(path);
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes))
    };
    read.map_err(|e| UsageError(format!("{name}: cannot read the {what}: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(UsageError(format!(
            "{name}: the {what} is larger than {MAX_INPUT_BYTES} bytes"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        UsageError(format!(
            "{name}: byte {}: the {what} is not UTF-8 text",
            e.utf8_error().valid_up_to()
        ))
    })?;
    if text.trim().is_empty() {
        return Err(UsageError(format!("{name}: the {what} is empty")));
    }
    Ok(text)
}

/// The name of an input in messages.
pub fn display_name(path: &str) -> &str {
    if path == "-" { "<stdin>" } else { path }
}

/// Reads and validates the configuration.
pub fn read_config(path: &str) -> Result<Config, UsageError> {
    let text = read_text(path, "configuration")?;
    Config::from_toml(&text, display_name(path))
        .map_err(|e| UsageError(e.to_string().replace('\n', "\nidc-guard: ")))
}

/// Reads a policy file: JSON, either the document or a string containing it. Not JSON at all
/// is a usage error; JSON that is no valid key policy is for the checks to report.
pub fn read_policy(path: &str) -> Result<String, UsageError> {
    let text = read_text(path, "policy")?;
    unwrap_policy_text(&text).map_err(|e| {
        UsageError(format!(
            "{}: line {}, column {}: not JSON: {}",
            display_name(path),
            e.line(),
            e.column(),
            strip_position(&e.to_string())
        ))
    })
}

fn strip_position(message: &str) -> &str {
    message.split(" at line ").next().unwrap_or(message)
}
