//! A small, strict DER reader for the parts of an X.509 certificate that SAML metadata checks
//! need: the validity dates and the subject's common name (RFC 5280 section 4.1).
//!
//! Only definite lengths in short form or long form of one to four bytes are read, and they
//! must be minimal (DER). Every length is checked against the bytes left, so truncated or
//! hostile input gives an error, never a panic.

use std::fmt;

use crate::domain::time::Timestamp;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0C;
const TAG_PRINTABLE_STRING: u8 = 0x13;
const TAG_T61_STRING: u8 = 0x14;
const TAG_IA5_STRING: u8 = 0x16;
const TAG_UTC_TIME: u8 = 0x17;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_BMP_STRING: u8 = 0x1E;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_VERSION: u8 = 0xA0;

/// The encoded OID 2.5.4.3 (id-at-commonName).
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// What was read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateFields {
    /// `validity.notBefore`.
    pub(crate) not_before: Timestamp,
    /// `validity.notAfter`.
    pub(crate) not_after: Timestamp,
    /// The subject's last common name, if it has one in a text string type.
    pub(crate) subject_cn: Option<String>,
}

/// Why a certificate could not be read: the field (`validity.notAfter`) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError {
    /// The field, as a dotted path from the certificate.
    pub(crate) field: String,
    /// What was wrong with it.
    pub(crate) message: String,
}

impl fmt::Display for DerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: &str, message: impl Into<String>) -> DerError {
    DerError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// One tag-length-value element.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// A cursor over the elements of one constructed value (or the whole input).
#[derive(Debug, Clone)]
struct Reader<'a> {
    rest: &'a [u8],
    /// Offset of `rest` in the certificate, for messages.
    offset: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], offset: usize) -> Self {
        Reader {
            rest: bytes,
            offset,
        }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next element, whatever its tag; returns it and the offset of its content.
    fn next_any(&mut self, field: &str) -> Result<(Tlv<'a>, usize), DerError> {
        let start = self.offset;
        let (&tag, after_tag) = self
            .rest
            .split_first()
            .ok_or_else(|| err(field, format!("missing: no bytes left at offset {start}")))?;
        if tag & 0x1F == 0x1F {
            return Err(err(
                field,
                format!("multi-byte tag 0x{tag:02X} at offset {start} is not supported"),
            ));
        }
        let (&first, mut after_len) = after_tag.split_first().ok_or_else(|| {
            err(
                field,
                format!("truncated: tag 0x{tag:02X} at offset {start} has no length"),
            )
        })?;
        let length = match first {
            0x00..=0x7F => usize::from(first),
            0x80 => {
                return Err(err(
                    field,
                    format!("indefinite length at offset {start} is not allowed in DER"),
                ));
            }
            0x81..=0x84 => {
                let count = usize::from(first & 0x7F);
                let (len_bytes, after) = after_len.split_at_checked(count).ok_or_else(|| {
                    err(
                        field,
                        format!("truncated: length at offset {start} needs {count} more bytes"),
                    )
                })?;
                after_len = after;
                if len_bytes.first() == Some(&0) {
                    return Err(err(
                        field,
                        format!("length at offset {start} has a leading zero byte (not DER)"),
                    ));
                }
                let value = len_bytes
                    .iter()
                    .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
                if value < 0x80 {
                    return Err(err(
                        field,
                        format!(
                            "length {value} at offset {start} should use the short form (not DER)"
                        ),
                    ));
                }
                usize::try_from(value).map_err(|_| {
                    err(
                        field,
                        format!("length {value} at offset {start} is too large"),
                    )
                })?
            }
            _ => {
                return Err(err(
                    field,
                    format!(
                        "length of {} bytes at offset {start} is not supported (at most 4)",
                        first & 0x7F
                    ),
                ));
            }
        };
        let header = self.rest.len() - after_len.len();
        let (content, rest) = after_len.split_at_checked(length).ok_or_else(|| {
            err(
                field,
                format!(
                    "truncated: length {length} at offset {start} runs past the end ({} bytes left)",
                    after_len.len()
                ),
            )
        })?;
        let content_offset = start + header;
        self.rest = rest;
        self.offset = content_offset + length;
        Ok((Tlv { tag, content }, content_offset))
    }

    /// Reads the next element, which must have tag `tag`.
    fn next(&mut self, field: &str, tag: u8, what: &str) -> Result<(Tlv<'a>, usize), DerError> {
        let start = self.offset;
        let (tlv, at) = self.next_any(field)?;
        if tlv.tag != tag {
            return Err(err(
                field,
                format!(
                    "expected {what} (tag 0x{tag:02X}) at offset {start}, found tag 0x{:02X}",
                    tlv.tag
                ),
            ));
        }
        Ok((tlv, at))
    }

    /// Reads a constructed element with tag `tag` and returns a reader over its content.
    fn enter(&mut self, field: &str, tag: u8, what: &str) -> Result<Reader<'a>, DerError> {
        let (tlv, at) = self.next(field, tag, what)?;
        Ok(Reader::new(tlv.content, at))
    }

    fn finish(&self, field: &str) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(err(
                field,
                format!(
                    "{} unexpected trailing bytes at offset {}",
                    self.rest.len(),
                    self.offset
                ),
            ))
        }
    }
}

/// Reads the validity and subject common name of a DER-encoded X.509 certificate.
pub(crate) fn read_certificate(der: &[u8]) -> Result<CertificateFields, DerError> {
    let mut top = Reader::new(der, 0);
    let mut cert = top.enter("certificate", TAG_SEQUENCE, "SEQUENCE")?;
    top.finish("certificate")?;

    let mut tbs = cert.enter("tbsCertificate", TAG_SEQUENCE, "SEQUENCE")?;
    cert.next("signatureAlgorithm", TAG_SEQUENCE, "SEQUENCE")?;
    cert.next("signatureValue", TAG_BIT_STRING, "BIT STRING")?;
    cert.finish("certificate")?;

    if tbs.peek_tag() == Some(TAG_VERSION) {
        let mut version = tbs.enter("version", TAG_VERSION, "[0] EXPLICIT version")?;
        version.next("version", TAG_INTEGER, "INTEGER")?;
        version.finish("version")?;
    }
    let (serial, _) = tbs.next("serialNumber", TAG_INTEGER, "INTEGER")?;
    if serial.content.is_empty() {
        return Err(err("serialNumber", "empty INTEGER"));
    }
    tbs.next("signature", TAG_SEQUENCE, "SEQUENCE")?;
    tbs.next("issuer", TAG_SEQUENCE, "SEQUENCE")?;
    let mut validity = tbs.enter("validity", TAG_SEQUENCE, "SEQUENCE")?;
    let not_before = read_time(&mut validity, "validity.notBefore")?;
    let not_after = read_time(&mut validity, "validity.notAfter")?;
    validity.finish("validity")?;
    let subject = tbs.enter("subject", TAG_SEQUENCE, "SEQUENCE")?;
    let subject_cn = read_common_name(subject)?;
    Ok(CertificateFields {
        not_before,
        not_after,
        subject_cn,
    })
}

/// Walks a Name (SEQUENCE OF SET OF SEQUENCE { OID, value }) and returns its last common name.
fn read_common_name(mut name: Reader<'_>) -> Result<Option<String>, DerError> {
    let mut cn = None;
    let mut index = 0usize;
    while !name.is_empty() {
        let field = format!("subject.RDN[{index}]");
        let mut rdn = name.enter(&field, TAG_SET, "SET")?;
        if rdn.is_empty() {
            return Err(err(&field, "empty RelativeDistinguishedName"));
        }
        while !rdn.is_empty() {
            let mut atv = rdn.enter(&field, TAG_SEQUENCE, "SEQUENCE")?;
            let (oid, _) = atv.next(&field, TAG_OID, "OBJECT IDENTIFIER")?;
            let (value, _) = atv.next_any(&field)?;
            atv.finish(&field)?;
            if oid.content == OID_COMMON_NAME {
                cn = text_value(value);
            }
        }
        index += 1;
    }
    Ok(cn)
}

/// A directory string as text, or `None` for a string type that is not read.
fn text_value(value: Tlv<'_>) -> Option<String> {
    match value.tag {
        TAG_UTF8_STRING | TAG_PRINTABLE_STRING | TAG_IA5_STRING | TAG_T61_STRING => {
            Some(String::from_utf8_lossy(value.content).into_owned())
        }
        TAG_BMP_STRING => {
            let units = value
                .content
                .chunks(2)
                .map(|c| match *c {
                    [hi, lo] => u16::from_be_bytes([hi, lo]),
                    _ => 0xFFFD,
                })
                .collect::<Vec<_>>();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    }
}

/// Reads a Time (UTCTime or GeneralizedTime, both in the UTC `Z` form RFC 5280 requires).
fn read_time(reader: &mut Reader<'_>, field: &str) -> Result<Timestamp, DerError> {
    let (tlv, _) = reader.next_any(field)?;
    let text = tlv.content;
    let (year, rest) = match tlv.tag {
        TAG_UTC_TIME => {
            if text.len() != 13 {
                return Err(err(
                    field,
                    format!(
                        "UTCTime must be 13 bytes (YYMMDDHHMMSSZ), found {}: {:?}",
                        text.len(),
                        String::from_utf8_lossy(text)
                    ),
                ));
            }
            let yy = digits(text, 0, 2, field)?;
            // RFC 5280 4.1.2.5.1: 50..=99 is 19YY, 00..=49 is 20YY.
            let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
            (year, 2)
        }
        TAG_GENERALIZED_TIME => {
            if text.len() != 15 {
                return Err(err(
                    field,
                    format!(
                        "GeneralizedTime must be 15 bytes (YYYYMMDDHHMMSSZ), found {}: {:?}",
                        text.len(),
                        String::from_utf8_lossy(text)
                    ),
                ));
            }
            (digits(text, 0, 4, field)?, 4)
        }
        other => {
            return Err(err(
                field,
                format!(
                    "expected UTCTime (tag 0x17) or GeneralizedTime (tag 0x18), found tag 0x{other:02X}"
                ),
            ));
        }
    };
    if text.last() != Some(&b'Z') {
        return Err(err(
            field,
            format!(
                "time must end in Z (UTC): {:?}",
                String::from_utf8_lossy(text)
            ),
        ));
    }
    let month = digits(text, rest, 2, field)?;
    let day = digits(text, rest + 2, 2, field)?;
    let hour = digits(text, rest + 4, 2, field)?;
    let minute = digits(text, rest + 6, 2, field)?;
    let second = digits(text, rest + 8, 2, field)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(err(
            field,
            format!(
                "not a valid date and time: {:?}",
                String::from_utf8_lossy(text)
            ),
        ));
    }
    Ok(timestamp_from_civil(year, month, day, hour, minute, second))
}

/// The decimal number in `text[at..at + len]`, all ASCII digits.
fn digits(text: &[u8], at: usize, len: usize, field: &str) -> Result<i64, DerError> {
    let part = text
        .get(at..at.saturating_add(len))
        .filter(|p| p.iter().all(u8::is_ascii_digit))
        .ok_or_else(|| {
            err(
                field,
                format!(
                    "expected digits at byte {at} of {:?}",
                    String::from_utf8_lossy(text)
                ),
            )
        })?;
    Ok(part
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// Howard Hinnant's `days_from_civil`: a proleptic Gregorian date to days since 1970-01-01.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The instant of a UTC calendar date and time of day (fields as written, month 1..=12).
pub(crate) fn timestamp_from_civil(
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
) -> Timestamp {
    Timestamp(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes one element with a minimal DER length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = (len as u32).to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (4 - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(content);
        out
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    fn name(cns: &[(u8, &[u8])]) -> Vec<u8> {
        let rdns: Vec<Vec<u8>> = cns
            .iter()
            .map(|(tag, value)| {
                tlv(
                    TAG_SET,
                    &tlv(
                        TAG_SEQUENCE,
                        &cat(&[tlv(TAG_OID, OID_COMMON_NAME), tlv(*tag, value)]),
                    ),
                )
            })
            .collect();
        tlv(TAG_SEQUENCE, &rdns.concat())
    }

    /// A minimal certificate with the given validity element contents and subject.
    fn certificate(validity: &[u8], subject: &[u8], pad: usize) -> Vec<u8> {
        let tbs = tlv(
            TAG_SEQUENCE,
            &cat(&[
                tlv(TAG_VERSION, &tlv(TAG_INTEGER, &[2])),
                tlv(TAG_INTEGER, &[1]),
                tlv(TAG_SEQUENCE, &tlv(TAG_OID, &[0x2A, 0x03])),
                tlv(TAG_SEQUENCE, &[]),
                tlv(TAG_SEQUENCE, validity),
                subject.to_vec(),
                tlv(0x30, &vec![0x05; pad]),
            ]),
        );
        tlv(
            TAG_SEQUENCE,
            &cat(&[
                tbs,
                tlv(TAG_SEQUENCE, &tlv(TAG_OID, &[0x2A, 0x03])),
                tlv(TAG_BIT_STRING, &[0, 1, 2]),
            ]),
        )
    }

    fn validity(a: (u8, &[u8]), b: (u8, &[u8])) -> Vec<u8> {
        cat(&[tlv(a.0, a.1), tlv(b.0, b.1)])
    }

    #[test]
    fn days_from_civil_matches_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(
            timestamp_from_civil(2026, 11, 27, 10, 15, 30),
            Timestamp::parse("2026-11-27T10:15:30Z").unwrap()
        );
    }

    #[test]
    fn reads_utc_and_generalized_times_with_all_length_forms() {
        // pad sizes give the tbsCertificate a short, 0x81, 0x82 and 0x83 length.
        for pad in [0usize, 100, 300, 70_000] {
            let der = certificate(
                &validity(
                    (TAG_UTC_TIME, b"991231235959Z"),
                    (TAG_GENERALIZED_TIME, b"20500101000000Z"),
                ),
                &name(&[
                    (TAG_PRINTABLE_STRING, b"a"),
                    (TAG_UTF8_STRING, b"last.example"),
                ]),
                pad,
            );
            let fields = read_certificate(&der).unwrap();
            assert_eq!(
                fields.not_before,
                timestamp_from_civil(1999, 12, 31, 23, 59, 59)
            );
            assert_eq!(fields.not_after, timestamp_from_civil(2050, 1, 1, 0, 0, 0));
            assert_eq!(fields.subject_cn.as_deref(), Some("last.example"));
        }
    }

    #[test]
    fn utc_time_pivots_at_1950() {
        let der = certificate(
            &validity(
                (TAG_UTC_TIME, b"500101000000Z"),
                (TAG_UTC_TIME, b"491231235959Z"),
            ),
            &name(&[]),
            0,
        );
        let fields = read_certificate(&der).unwrap();
        assert_eq!(fields.not_before, timestamp_from_civil(1950, 1, 1, 0, 0, 0));
        assert_eq!(
            fields.not_after,
            timestamp_from_civil(2049, 12, 31, 23, 59, 59)
        );
        assert_eq!(fields.subject_cn, None);
    }

    #[test]
    fn reads_each_text_string_type() {
        for tag in [
            TAG_UTF8_STRING,
            TAG_PRINTABLE_STRING,
            TAG_IA5_STRING,
            TAG_T61_STRING,
        ] {
            let der = certificate(
                &validity(
                    (TAG_UTC_TIME, b"200101000000Z"),
                    (TAG_UTC_TIME, b"300101000000Z"),
                ),
                &name(&[(tag, b"idp.example.com")]),
                0,
            );
            assert_eq!(
                read_certificate(&der).unwrap().subject_cn.as_deref(),
                Some("idp.example.com")
            );
        }
        let der = certificate(
            &validity(
                (TAG_UTC_TIME, b"200101000000Z"),
                (TAG_UTC_TIME, b"300101000000Z"),
            ),
            &name(&[(TAG_BMP_STRING, &[0, b'h', 0, b'i'])]),
            0,
        );
        assert_eq!(
            read_certificate(&der).unwrap().subject_cn.as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn rejects_bad_times_naming_the_field() {
        let cases: [(&[u8], u8, &str); 6] = [
            (b"20500101000000Z", TAG_UTC_TIME, "UTCTime must be 13 bytes"),
            (
                b"500101000000Z",
                TAG_GENERALIZED_TIME,
                "GeneralizedTime must be 15 bytes",
            ),
            (b"500101000000+", TAG_UTC_TIME, "must end in Z"),
            (b"5001a1000000Z", TAG_UTC_TIME, "expected digits"),
            (b"230229000000Z", TAG_UTC_TIME, "not a valid date"),
            (b"500101000000Z", TAG_INTEGER, "expected UTCTime"),
        ];
        for (text, tag, message) in cases {
            let der = certificate(
                &validity((TAG_UTC_TIME, b"200101000000Z"), (tag, text)),
                &name(&[]),
                0,
            );
            let e = read_certificate(&der).unwrap_err();
            assert_eq!(e.field, "validity.notAfter", "{e}");
            assert!(e.message.contains(message), "{e}");
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let good = certificate(
            &validity(
                (TAG_UTC_TIME, b"200101000000Z"),
                (TAG_UTC_TIME, b"300101000000Z"),
            ),
            &name(&[]),
            300,
        );
        // Indefinite length on the outer SEQUENCE.
        let mut indefinite = good.clone();
        indefinite[1] = 0x80;
        let e = read_certificate(&indefinite).unwrap_err();
        assert_eq!(e.field, "certificate");
        assert!(e.message.contains("indefinite length"), "{e}");
        // Five length bytes.
        let e = read_certificate(&[0x30, 0x85, 1, 0, 0, 0, 0]).unwrap_err();
        assert!(e.message.contains("not supported"), "{e}");
        // Non-minimal long forms.
        let e = read_certificate(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]).unwrap_err();
        assert!(e.message.contains("short form"), "{e}");
        let e = read_certificate(&[0x30, 0x82, 0x00, 0x85]).unwrap_err();
        assert!(e.message.contains("leading zero"), "{e}");
        // Every truncation is an error, never a panic.
        for len in 0..good.len() {
            assert!(read_certificate(&good[..len]).is_err(), "length {len}");
        }
        // Trailing bytes after the certificate.
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(
            read_certificate(&trailing)
                .unwrap_err()
                .message
                .contains("trailing")
        );
    }

    #[test]
    fn version_is_optional() {
        // A v1 certificate: no [0] version.
        let tbs = tlv(
            TAG_SEQUENCE,
            &cat(&[
                tlv(TAG_INTEGER, &[1]),
                tlv(TAG_SEQUENCE, &[]),
                tlv(TAG_SEQUENCE, &[]),
                tlv(
                    TAG_SEQUENCE,
                    &validity(
                        (TAG_UTC_TIME, b"200101000000Z"),
                        (TAG_UTC_TIME, b"300101000000Z"),
                    ),
                ),
                name(&[(TAG_IA5_STRING, b"v1")]),
            ]),
        );
        let der = tlv(
            TAG_SEQUENCE,
            &cat(&[tbs, tlv(TAG_SEQUENCE, &[]), tlv(TAG_BIT_STRING, &[0])]),
        );
        assert_eq!(
            read_certificate(&der).unwrap().subject_cn.as_deref(),
            Some("v1")
        );
    }

    proptest! {
        #[test]
        /// Any bytes give the certificate's fields or an error naming the field and the
        /// problem; a validity read from them is in calendar order's range.
        fn reads_any_bytes_or_names_the_field(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            match read_certificate(&bytes) {
                Ok(c) => {
                    prop_assert!(c.not_before.to_string().len() >= 20);
                    prop_assert!(c.not_after.to_string().len() >= 20);
                }
                Err(e) => {
                    prop_assert!(!e.field.is_empty() && !e.message.is_empty(), "{e:?}");
                }
            }
        }

        #[test]
        fn civil_round_trips_through_display(days in -719_468i64..2_932_896) {
            let t = Timestamp(days * 86_400);
            let text = t.to_string();
            let y: i64 = text[0..4].parse().unwrap();
            let m: i64 = text[5..7].parse().unwrap();
            let d: i64 = text[8..10].parse().unwrap();
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
