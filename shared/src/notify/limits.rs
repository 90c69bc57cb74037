//! Slack's Block Kit limits, and truncation that says so.

use serde_json::{Value, json};

/// At most this many blocks per message.
pub const MAX_BLOCKS: usize = 50;
/// At most this many characters in a section's text (and a context element's text).
pub const MAX_SECTION_TEXT: usize = 3000;
/// At most this many characters in a header's text.
pub const MAX_HEADER_TEXT: usize = 150;
/// At most this many characters in one section field.
pub const MAX_FIELD_TEXT: usize = 2000;
/// At most this many fields in one section.
pub const MAX_FIELDS: usize = 10;
/// What a cut text ends with.
pub const TRUNCATED: &str = "… (truncated)";

/// `text` cut to at most `max` characters (Slack counts characters, not bytes), ending with
/// [`TRUNCATED`] when cut. A cut never leaves half an HTML entity (`&amp;`) behind.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(TRUNCATED.chars().count());
    let mut kept: String = text.chars().take(keep).collect();
    // An entity cut in the middle ("&am") would show as garbage: drop it whole.
    if let Some(amp) = kept.rfind('&')
        && kept
            .get(amp + 1..)
            .is_some_and(|tail| tail.len() <= 3 && tail.chars().all(|c| c.is_ascii_alphabetic()))
    {
        kept.truncate(amp);
    }
    let mut out = kept.trim_end().to_owned();
    out.push_str(TRUNCATED);
    // `max` smaller than the note itself: the note alone, cut (never over the limit).
    out.chars().take(max).collect()
}

/// Escapes the three characters Slack's mrkdwn treats as control characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Keeps at most [`MAX_BLOCKS`] blocks; when there are more, the last kept one is a context
/// block saying how many were left out.
pub fn fit_blocks(mut blocks: Vec<Value>) -> Vec<Value> {
    if blocks.len() <= MAX_BLOCKS {
        return blocks;
    }
    let dropped = blocks.len() - (MAX_BLOCKS - 1);
    blocks.truncate(MAX_BLOCKS - 1);
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("{dropped} more block(s) left out {TRUNCATED}")}],
    }));
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_is_cut_visibly() {
        assert_eq!(truncate("abc", 3), "abc");
        let long = "é".repeat(4000);
        let cut = truncate(&long, MAX_SECTION_TEXT);
        assert_eq!(cut.chars().count(), MAX_SECTION_TEXT);
        assert!(cut.ends_with(TRUNCATED));
        assert!(cut.starts_with("éé"));
        assert_eq!(truncate("abcdef", 3).chars().count(), 3);
    }

    #[test]
    fn a_cut_never_leaves_half_an_entity() {
        let text = format!("{}&amp;{}", "a".repeat(20), "t".repeat(50));
        let cut = truncate(&text, 20 + 3 + TRUNCATED.chars().count());
        assert!(!cut.contains('&'), "{cut}");
        assert!(cut.ends_with(TRUNCATED));
        // A whole entity before the cut stays.
        let cut = truncate(&format!("a&amp;{}", "b".repeat(50)), 30);
        assert!(cut.starts_with("a&amp;b"), "{cut}");
        // A plain ampersand is text, not an entity.
        let cut = truncate(&format!("A & B {}", "c".repeat(50)), 30);
        assert!(cut.starts_with("A & B ccc"), "{cut}");
    }

    #[test]
    fn escapes_mrkdwn_control_characters() {
        assert_eq!(escape("a <b> & c"), "a &lt;b&gt; &amp; c");
    }

    #[test]
    fn blocks_over_the_limit_end_with_a_note() {
        let blocks: Vec<Value> = (0..60).map(|i| json!({"n": i})).collect();
        let fitted = fit_blocks(blocks);
        assert_eq!(fitted.len(), MAX_BLOCKS);
        assert_eq!(fitted[48]["n"], 48);
        let note = fitted[49]["elements"][0]["text"].as_str().unwrap();
        assert!(note.starts_with("11 more block(s)"), "{note}");
        assert!(note.ends_with(TRUNCATED));
        let few: Vec<Value> = (0..50).map(|i| json!({"n": i})).collect();
        assert_eq!(fit_blocks(few.clone()), few);
    }
}
