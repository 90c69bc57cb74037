//! CloudTrail records from a file, one at a time: an EventBridge event, a bare CloudTrail
//! record, a CloudTrail log file (`{"Records": [...]}`, as CloudTrail delivers to S3) or the
//! output of `aws cloudtrail lookup-events` (`{"Events": [{"CloudTrailEvent": "<JSON>"}]}`).
//!
//! Arrays are streamed: each record is handed to the caller as soon as it is read, so memory
//! holds one record, never the file. A record that is valid JSON but not usable is the
//! caller's to judge (the guards' intake names the bad field); a file that stops being JSON
//! ends the read with the line and column.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What the file was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileShape {
    /// One event: an EventBridge event or a bare record.
    Single,
    /// A CloudTrail log file: `Records`.
    LogFile,
    /// `aws cloudtrail lookup-events` output: `Events[].CloudTrailEvent`.
    LookupEvents,
}

impl fmt::Display for FileShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileShape::Single => "one event",
            FileShape::LogFile => "a CloudTrail log file",
            FileShape::LookupEvents => "lookup-events output",
        })
    }
}

/// One entry of the file, numbered from 0 in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A record (or event) as JSON, still to be read by a guard's intake.
    Record {
        /// Its position.
        index: usize,
        /// The record.
        record: Value,
    },
    /// An entry that holds no record (a `lookup-events` entry without a readable
    /// `CloudTrailEvent`); the read goes on.
    Unreadable {
        /// Its position.
        index: usize,
        /// What is wrong, naming the field.
        error: String,
    },
}

/// Why the file could not be read to its end. Records before the fault were delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message} ({delivered} record(s) read before it)")]
pub struct RecordsError {
    /// 1-based line of the fault (0 when unknown, e.g. a decompression error).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What went wrong.
    pub message: String,
    /// How many entries were handed over before it.
    pub delivered: usize,
}

/// Reads `reader` to its end, calling `each` for every entry in file order. `each` may stop
/// the read early with [`ControlFlow::Break`].
pub fn read_records<R: Read>(
    reader: R,
    mut each: impl FnMut(Entry) -> ControlFlow<()>,
) -> Result<FileShape, RecordsError> {
    let mut state = State {
        each: &mut each,
        delivered: 0,
        stopped: false,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let shape = de
        .deserialize_map(FileVisitor { state: &mut state })
        .and_then(|shape| {
            if state.stopped {
                Ok(shape)
            } else {
                de.end().map(|()| shape)
            }
        });
    let delivered = state.delivered;
    let shape = shape.map_err(|e| RecordsError {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
        delivered,
    })?;
    Ok(shape)
}

struct State<'a> {
    each: &'a mut dyn FnMut(Entry) -> ControlFlow<()>,
    delivered: usize,
    stopped: bool,
}

impl State<'_> {
    fn deliver(&mut self, entry: Entry) {
        self.delivered += 1;
        if (self.each)(entry).is_break() {
            self.stopped = true;
        }
    }
}

struct FileVisitor<'s, 'a> {
    state: &'s mut State<'a>,
}

impl<'de> Visitor<'de> for FileVisitor<'_, '_> {
    type Value = FileShape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object: an event, a CloudTrail record or a CloudTrail log file")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<FileShape, M::Error> {
        let mut single = Map::new();
        let mut shape = None;
        while let Some(key) = map.next_key::<String>()? {
            if self.state.stopped {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match key.as_str() {
                "Records" if shape.is_none() => {
                    map.next_value_seed(Array {
                        state: self.state,
                        lookup: false,
                    })?;
                    shape = Some(FileShape::LogFile);
                }
                "Events" if shape.is_none() => {
                    map.next_value_seed(Array {
                        state: self.state,
                        lookup: true,
                    })?;
                    shape = Some(FileShape::LookupEvents);
                }
                // Beside an array of records, other members are not records.
                _ if shape.is_some() => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => {
                    single.insert(key, map.next_value()?);
                }
            }
        }
        match shape {
            Some(shape) => Ok(shape),
            None => {
                self.state.deliver(Entry::Record {
                    index: 0,
                    record: Value::Object(single),
                });
                Ok(FileShape::Single)
            }
        }
    }
}

/// `Records` or `Events`: streamed element by element.
struct Array<'s, 'a> {
    state: &'s mut State<'a>,
    lookup: bool,
}

impl<'de> DeserializeSeed<'de> for Array<'_, '_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Array<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lookup {
            f.write_str("`Events` to be an array of lookup-events entries")
        } else {
            f.write_str("`Records` to be an array of CloudTrail records")
        }
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut index = 0;
        loop {
            if self.state.stopped {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            let Some(element) = seq.next_element::<Value>()? else {
                return Ok(());
            };
            let entry = if self.lookup {
                lookup_entry(index, &element)
            } else {
                Entry::Record {
                    index,
                    record: element,
                }
            };
            self.state.deliver(entry);
            index = index
                .checked_add(1)
                .ok_or_else(|| S::Error::custom("more records than can be counted"))?;
        }
    }
}

/// A `lookup-events` entry: its `CloudTrailEvent` is the record, as a JSON string.
fn lookup_entry(index: usize, element: &Value) -> Entry {
    let unreadable = |error: String| Entry::Unreadable { index, error };
    let Some(text) = element.get("CloudTrailEvent") else {
        return unreadable(format!("Events[{index}].CloudTrailEvent: missing"));
    };
    let Some(text) = text.as_str() else {
        return unreadable(format!("Events[{index}].CloudTrailEvent: not a string"));
    };
    match serde_json::from_str(text) {
        Ok(record) => Entry::Record { index, record },
        Err(e) => unreadable(format!(
            "Events[{index}].CloudTrailEvent: not JSON (line {}, column {}): {e}",
            e.line(),
            e.column()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(text: &str) -> (Result<FileShape, RecordsError>, Vec<Entry>) {
        let mut entries = Vec::new();
        let shape = read_records(text.as_bytes(), |e| {
            entries.push(e);
            ControlFlow::Continue(())
        });
        (shape, entries)
    }

    fn record(index: usize, record: Value) -> Entry {
        Entry::Record { index, record }
    }

    #[test]
    fn a_single_event_is_one_record() {
        let event = json!({"id": "e", "detail": {"eventName": "PutKeyPolicy"}});
        let (shape, entries) = read(&event.to_string());
        assert_eq!(shape, Ok(FileShape::Single));
        assert_eq!(entries, [record(0, event)]);
    }

    #[test]
    fn a_log_file_yields_its_records_in_order_whatever_they_hold() {
        let (shape, entries) =
            read(r#"{"Records": [{"eventName": "A"}, 7, {"eventName": "B", "new": {"x": 1}}]}"#);
        assert_eq!(shape, Ok(FileShape::LogFile));
        assert_eq!(
            entries,
            [
                record(0, json!({"eventName": "A"})),
                record(1, json!(7)),
                record(2, json!({"eventName": "B", "new": {"x": 1}})),
            ]
        );
    }

    #[test]
    fn lookup_events_output_is_unwrapped_and_a_bad_entry_does_not_stop_the_read() {
        let (shape, entries) = read(
            r#"{"Events": [{"CloudTrailEvent": "{\"eventName\": \"A\"}"},
                           {"EventId": "x"}, {"CloudTrailEvent": "{nope"},
                           {"CloudTrailEvent": "{\"eventName\": \"B\"}"}], "NextToken": "t"}"#,
        );
        assert_eq!(shape, Ok(FileShape::LookupEvents));
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[0], record(0, json!({"eventName": "A"})));
        assert!(
            matches!(&entries[1], Entry::Unreadable { index: 1, error } if error.contains("Events[1].CloudTrailEvent: missing"))
        );
        assert!(
            matches!(&entries[2], Entry::Unreadable { index: 2, error } if error.contains("not JSON"))
        );
        assert_eq!(entries[3], record(3, json!({"eventName": "B"})));
    }

    #[test]
    fn records_that_are_not_an_array_are_refused_by_name() {
        let (shape, entries) = read(r#"{"Records": {"eventName": "A"}}"#);
        let e = shape.unwrap_err();
        assert!(e.message.contains("`Records` to be an array"), "{e}");
        assert!(entries.is_empty());
    }

    #[test]
    fn a_truncated_file_keeps_the_records_before_the_fault() {
        let (shape, entries) = read("{\"Records\": [{\"eventName\": \"A\"},\n {\"eventName\": \"B");
        let e = shape.unwrap_err();
        assert_eq!((e.line, e.delivered), (2, 1), "{e}");
        assert_eq!(entries, [record(0, json!({"eventName": "A"}))]);
    }

    #[test]
    fn trailing_text_and_non_objects_are_refused() {
        assert!(read(r#"{"eventName": "A"} x"#).0.is_err());
        let e = read("[1, 2]").0.unwrap_err();
        assert!(e.message.contains("a JSON object"), "{e}");
    }

    #[test]
    fn the_caller_can_stop_the_read() {
        let mut seen = 0;
        let shape = read_records(
            r#"{"Records": [{"a": 1}, {"a": 2}, {"a": 3}]}"#.as_bytes(),
            |_| {
                seen += 1;
                ControlFlow::Break(())
            },
        );
        assert_eq!(shape, Ok(FileShape::LogFile));
        assert_eq!(seen, 1);
    }
}
