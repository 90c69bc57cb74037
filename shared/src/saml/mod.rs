//! SAML 2.0 metadata reading: entity IDs, the IdP's signing certificates (with their validity
//! and subject common name) and the SP's assertion consumer service URLs.
//!
//! Pure: bytes in, [`SamlMetadata`] out; no I/O and no clock (pass `now` to
//! [`SigningCertificate::days_left`]). Elements are matched by local name, whatever their
//! namespace prefix (`md:`, `ds:`, `saml2md:` or none). Input over [`MAX_METADATA_BYTES`] and
//! any `<!DOCTYPE` are refused, so no entity can be defined, let alone expanded. Certificates are
//! read by a small strict DER reader (`der`): every malformed input gives a [`SamlError`] naming
//! the element, never a panic.

mod certificate;

use std::collections::HashSet;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use quick_xml::Reader;
use quick_xml::encoding::Decoder;
use quick_xml::events::{BytesRef, BytesStart, Event};
use sha2::{Digest, Sha256};

use crate::domain::time::Timestamp;

/// The largest metadata document read, in bytes (1 MiB). Real metadata is a few kilobytes;
/// federation aggregates that are larger are not what this reader is for.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// What was read from a metadata document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SamlMetadata {
    /// Every `EntityDescriptor`'s `entityID`, in document order.
    pub entity_ids: Vec<String>,
    /// The certificates of every `IDPSSODescriptor` `KeyDescriptor` whose `use` is `signing`
    /// or absent (`use="encryption"` is left out), in document order; a certificate listed
    /// more than once (same SHA-256) is kept once.
    pub signing_certificates: Vec<SigningCertificate>,
    /// Every `SPSSODescriptor` `AssertionConsumerService` `Location`, in document order,
    /// each URL once.
    pub acs_urls: Vec<String>,
}

/// One IdP signing certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningCertificate {
    /// The start of its validity.
    pub not_before: Timestamp,
    /// The end of its validity.
    pub not_after: Timestamp,
    /// The subject's common name (the last CN, if there are several); `None` when the subject
    /// has no CN in a text string type.
    pub subject: Option<String>,
    /// Lowercase hex SHA-256 of the DER encoding, to identify the certificate in findings.
    pub sha256_fingerprint: String,
}

impl SigningCertificate {
    /// Whole days from `now` until `not_after`, rounded down: 0 on its last day, negative
    /// once it has expired (-1 for up to a day after `not_after`).
    pub fn days_left(&self, now: Timestamp) -> i64 {
        now.days_until(self.not_after)
    }
}

/// Why a metadata document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct SamlError {
    /// Where: `document`, or an element path such as
    /// `EntityDescriptor[0].IDPSSODescriptor.KeyDescriptor[1].X509Certificate` (indexes count
    /// from 0: entities across the document, key descriptors within their role descriptor).
    pub place: String,
    /// What was wrong.
    pub message: String,
}

fn error(place: impl Into<String>, message: impl Into<String>) -> SamlError {
    SamlError {
        place: place.into(),
        message: message.into(),
    }
}

/// Base64 as found in `X509Certificate` (whitespace removed first); padding may be omitted.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Reads a SAML 2.0 metadata document (an `EntityDescriptor`, or an `EntitiesDescriptor`
/// holding several).
///
/// Errors when the input is over [`MAX_METADATA_BYTES`], is not well-formed XML, has a
/// `DOCTYPE`, has no `EntityDescriptor`, or when a required attribute or an IdP signing
/// certificate (base64 or DER) is malformed.
pub fn read_metadata(xml: &[u8]) -> Result<SamlMetadata, SamlError> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err(error(
            DOCUMENT,
            format!(
                "metadata is {} bytes; at most {MAX_METADATA_BYTES} (1 MiB) are read",
                xml.len()
            ),
        ));
    }
    let mut reader = Reader::from_reader(xml);
    let mut state = State::default();
    loop {
        let event = reader.read_event().map_err(|e| {
            error(
                state.place(),
                format!("malformed XML at byte {}: {e}", reader.error_position()),
            )
        })?;
        let decoder = reader.decoder();
        match event {
            Event::Start(e) => state.open(&e, decoder)?,
            Event::Empty(e) => {
                state.open(&e, decoder)?;
                state.close()?;
            }
            Event::End(_) => state.close()?,
            Event::Text(t) => {
                if state.in_cert() {
                    let part = t.decode().map_err(|e| {
                        error(state.place(), format!("certificate text is not UTF-8: {e}"))
                    })?;
                    state.push_cert_text(&part);
                }
            }
            Event::CData(t) => {
                if state.in_cert() {
                    let part = t.decode().map_err(|e| {
                        error(state.place(), format!("certificate text is not UTF-8: {e}"))
                    })?;
                    state.push_cert_text(&part);
                }
            }
            Event::GeneralRef(r) => {
                if state.in_cert() {
                    let c =
                        resolve_reference(&r).map_err(|e| error(state.place(), e.to_string()))?;
                    state.push_cert_text(c.encode_utf8(&mut [0; 4]));
                }
            }
            Event::DocType(_) => {
                return Err(error(
                    DOCUMENT,
                    "DOCTYPE declarations are refused: they can define entities, and SAML \
                     metadata needs none",
                ));
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(name) = state.names.last() {
        return Err(error(
            state.place(),
            format!("document ends before <{name}> is closed"),
        ));
    }
    if state.metadata.entity_ids.is_empty() {
        return Err(error(
            DOCUMENT,
            "no EntityDescriptor: this is not SAML metadata",
        ));
    }
    Ok(state.metadata)
}

const DOCUMENT: &str = "document";

/// What an open element means to the reader.
#[derive(Debug)]
enum Ctx {
    /// `EntityDescriptor[index]`.
    Entity { index: usize },
    /// An `IDPSSODescriptor` child of an entity; `keys` counts its `KeyDescriptor`s so far.
    Idp { keys: usize },
    /// An `SPSSODescriptor` child of an entity; `services` counts its ACS elements so far.
    Sp { services: usize },
    /// `KeyDescriptor[index]` of an IdP; `signing` unless `use="encryption"`.
    Key {
        index: usize,
        signing: bool,
        certs: usize,
    },
    /// The `index`th `X509Certificate` of a signing key, its text so far.
    Cert { index: usize, text: String },
    /// `AssertionConsumerService[index]` of an SP.
    Acs { index: usize },
    /// Anything else (`EntitiesDescriptor`, `KeyInfo`, `X509Data`, extensions, ...).
    Other,
}

impl Ctx {
    fn label(&self) -> Option<String> {
        match self {
            Ctx::Entity { index } => Some(format!("EntityDescriptor[{index}]")),
            Ctx::Idp { .. } => Some("IDPSSODescriptor".to_owned()),
            Ctx::Sp { .. } => Some("SPSSODescriptor".to_owned()),
            Ctx::Key { index, .. } => Some(format!("KeyDescriptor[{index}]")),
            Ctx::Cert { index: 0, .. } => Some("X509Certificate".to_owned()),
            Ctx::Cert { index, .. } => Some(format!("X509Certificate[{index}]")),
            Ctx::Acs { index } => Some(format!("AssertionConsumerService[{index}]")),
            Ctx::Other => None,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// What each open element means, the outermost first.
    stack: Vec<Ctx>,
    /// The qualified name of each open element, in step with `stack`.
    names: Vec<String>,
    metadata: SamlMetadata,
    seen_urls: HashSet<String>,
    seen_certs: HashSet<String>,
}

impl State {
    /// The element path of the innermost element that has a label, or `document`.
    fn place(&self) -> String {
        let labels: Vec<String> = self.stack.iter().filter_map(Ctx::label).collect();
        if labels.is_empty() {
            DOCUMENT.to_owned()
        } else {
            labels.join(".")
        }
    }

    /// Whether the innermost element is a signing `X509Certificate` whose text is collected.
    fn in_cert(&self) -> bool {
        matches!(self.stack.last(), Some(Ctx::Cert { .. }))
    }

    fn push_cert_text(&mut self, part: &str) {
        if let Some(Ctx::Cert { text, .. }) = self.stack.last_mut() {
            text.push_str(part);
        }
    }

    /// Opens an element: reads what it means from its local name and its parent.
    fn open(&mut self, e: &BytesStart<'_>, decoder: Decoder) -> Result<(), SamlError> {
        let ctx = self.classify(e, decoder)?;
        self.stack.push(ctx);
        self.names
            .push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
        Ok(())
    }

    #[expect(
        clippy::too_many_lines,
        reason = "one arm per SAML metadata element the reader knows (entities, role descriptors, key descriptors, certificates, ACS endpoints), each with its own place in the error: the match is the grammar"
    )]
    fn classify(&mut self, e: &BytesStart<'_>, decoder: Decoder) -> Result<Ctx, SamlError> {
        let local = e.local_name();
        let local = local.as_ref();
        let place = self.place();
        if self.in_cert() {
            return Err(error(
                place,
                format!(
                    "unexpected element <{}> inside X509Certificate",
                    String::from_utf8_lossy(e.name().as_ref())
                ),
            ));
        }
        let ctx = match (local, self.stack.last_mut()) {
            (b"EntityDescriptor", _) => {
                if self.stack.iter().any(|c| matches!(c, Ctx::Entity { .. })) {
                    return Err(error(
                        place,
                        "EntityDescriptor nested inside EntityDescriptor",
                    ));
                }
                let index = self.metadata.entity_ids.len();
                let place = format!("{}EntityDescriptor[{index}]", prefix(&place));
                let id = required_attribute(e, b"entityID", decoder, &place)?;
                self.metadata.entity_ids.push(id);
                Ctx::Entity { index }
            }
            (b"IDPSSODescriptor", Some(Ctx::Entity { .. })) => Ctx::Idp { keys: 0 },
            (b"SPSSODescriptor", Some(Ctx::Entity { .. })) => Ctx::Sp { services: 0 },
            (b"KeyDescriptor", Some(Ctx::Idp { keys })) => {
                let index = *keys;
                *keys += 1;
                let place = format!("{place}.KeyDescriptor[{index}]");
                let signing = match attribute(e, b"use", decoder, &place)?.as_deref() {
                    None | Some("signing") => true,
                    Some("encryption") => false,
                    Some(other) => {
                        return Err(error(
                            place,
                            format!("use must be \"signing\" or \"encryption\", found {other:?}"),
                        ));
                    }
                };
                Ctx::Key {
                    index,
                    signing,
                    certs: 0,
                }
            }
            (b"AssertionConsumerService", Some(Ctx::Sp { services })) => {
                let index = *services;
                *services += 1;
                let place = format!("{place}.AssertionConsumerService[{index}]");
                let url = required_attribute(e, b"Location", decoder, &place)?;
                if self.seen_urls.insert(url.clone()) {
                    self.metadata.acs_urls.push(url);
                }
                Ctx::Acs { index }
            }
            (b"X509Certificate", _) => {
                let key = self.stack.iter_mut().rev().find_map(|c| match c {
                    Ctx::Key {
                        signing: true,
                        certs,
                        ..
                    } => Some(certs),
                    _ => None,
                });
                match key {
                    Some(certs) => {
                        let index = *certs;
                        *certs += 1;
                        Ctx::Cert {
                            index,
                            text: String::new(),
                        }
                    }
                    None => Ctx::Other,
                }
            }
            _ => Ctx::Other,
        };
        Ok(ctx)
    }

    /// Closes the innermost element, reading its certificate if it is one.
    fn close(&mut self) -> Result<(), SamlError> {
        let place = self.place();
        self.names.pop();
        match self.stack.pop() {
            Some(Ctx::Cert { text, .. }) => {
                let cert = read_certificate_text(&text, &place)?;
                if self.seen_certs.insert(cert.sha256_fingerprint.clone()) {
                    self.metadata.signing_certificates.push(cert);
                }
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(error(place, "end tag without a start tag")),
        }
    }
}

/// `place.` to put before a child's label, or nothing at the document level.
fn prefix(place: &str) -> String {
    if place == DOCUMENT {
        String::new()
    } else {
        format!("{place}.")
    }
}

/// The unescaped value of the unprefixed attribute `name`, if present.
fn attribute(
    e: &BytesStart<'_>,
    name: &[u8],
    decoder: Decoder,
    place: &str,
) -> Result<Option<String>, SamlError> {
    let label = String::from_utf8_lossy(name);
    let mut found = None;
    // Every attribute is read, so that a malformed or repeated one anywhere is an error.
    for attr in e.attributes() {
        let attr = attr.map_err(|err| error(place, format!("malformed attribute: {err}")))?;
        if attr.key.as_ref() == name {
            let value = attr
                .decode_and_unescape_value(decoder)
                .map_err(|err| error(place, format!("attribute {label}: {err}")))?;
            found = Some(value.into_owned());
        }
    }
    Ok(found)
}

/// Like [`attribute`], but missing or blank is an error.
fn required_attribute(
    e: &BytesStart<'_>,
    name: &[u8],
    decoder: Decoder,
    place: &str,
) -> Result<String, SamlError> {
    let label = String::from_utf8_lossy(name);
    match attribute(e, name, decoder, place)? {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(error(place, format!("attribute {label} is empty"))),
        None => Err(error(place, format!("missing attribute {label}"))),
    }
}

/// Why a reference in certificate text cannot be read.
#[derive(Debug, thiserror::Error)]
enum ReferenceError {
    #[error("reference is not UTF-8: {0}")]
    NotUtf8(String),
    #[error("bad character reference &{name};: {reason}")]
    BadCharacter { name: String, reason: String },
    #[error("undefined entity &{0}; (entities are not expanded)")]
    Undefined(String),
}

/// A character or predefined entity reference inside certificate text (`&#13;` is common).
fn resolve_reference(r: &BytesRef<'_>) -> Result<char, ReferenceError> {
    let name = r
        .decode()
        .map_err(|e| ReferenceError::NotUtf8(e.to_string()))?;
    if let Some(c) = r
        .resolve_char_ref()
        .map_err(|e| ReferenceError::BadCharacter {
            name: name.to_string(),
            reason: e.to_string(),
        })?
    {
        return Ok(c);
    }
    match name.as_ref() {
        "amp" => Ok('&'),
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        _ => Err(ReferenceError::Undefined(name.to_string())),
    }
}

/// Decodes the base64 text of an `X509Certificate` and reads the certificate.
fn read_certificate_text(text: &str, place: &str) -> Result<SigningCertificate, SamlError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(error(place, "X509Certificate is empty"));
    }
    let der = BASE64
        .decode(compact.as_bytes())
        .map_err(|e| error(place, format!("certificate base64: {e}")))?;
    let fields = certificate::read_certificate(&der)
        .map_err(|e| error(place, format!("certificate DER: {e}")))?;
    Ok(SigningCertificate {
        not_before: fields.not_before,
        not_after: fields.not_after,
        subject: fields.subject_cn,
        sha256_fingerprint: hex::encode(Sha256::digest(&der)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(super) const OKTA: &str = include_str!("../../tests/fixtures/saml/okta_idp.xml");
    const ENTRA_ADFS: &str = include_str!("../../tests/fixtures/saml/entra_adfs_entities.xml");
    const AWS_SP: &str = include_str!("../../tests/fixtures/saml/aws_sp.xml");
    const LEGACY: &[u8] = include_bytes!("../../tests/fixtures/saml/shibboleth_legacy_idp.xml");

    // SHA-256 fingerprints as `openssl x509 -noout -fingerprint -sha256` printed them.
    const OKTA_SHA256: &str = "b47cc083771cf22d3f43361357c68cc792b1322dc119fabe9b09e6b2fd007779";
    const ADFS_SIGNING_SHA256: &str =
        "dea38119865aad6596ed4c0cdb1448ea82e8b6c940f5336d75b84a1849a128c2";
    const ADFS_ENCRYPTION_SHA256: &str =
        "73e2670854668cc0cdd39d0a524bd65ab1bc7e3a11aac8d04c62b3ec9bfd4334";
    const ENTRA_SHA256: &str = "19862559f4bf37d9e8e1e679989910b9db6c484220d6bb3e15d02ee7a00bfcea";
    const NO_CN_SHA256: &str = "d4b915c7d1d2662ff96f0fc02f470cf23c65260596af86763687ad2dbbea7374";
    const LEGACY_SHA256: &str = "aeeb161d885313f2f4fc46b77868df9b138ad5c350009c8dca4f7cb5c44ecea3";

    const OKTA_CERT: &str = "EntityDescriptor[0].IDPSSODescriptor.KeyDescriptor[0].X509Certificate";

    fn ts(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Timestamp {
        Timestamp::parse(&format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")).unwrap()
    }

    /// The byte range of the text of the `n`th `X509Certificate` element in `xml`.
    fn cert_range(xml: &str, n: usize) -> std::ops::Range<usize> {
        let hits: Vec<usize> = xml
            .match_indices("X509Certificate>")
            .map(|(i, _)| i)
            .collect();
        let open_end = hits[2 * n] + "X509Certificate>".len();
        let close_start = xml[..hits[2 * n + 1]].rfind('<').unwrap();
        open_end..close_start
    }

    /// The DER of the `n`th certificate in `xml`.
    pub(super) fn cert_der(xml: &str, n: usize) -> Vec<u8> {
        let text: String = xml[cert_range(xml, n)]
            .replace("&#13;", "")
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        BASE64.decode(text).unwrap()
    }

    /// `xml` with the text of its `n`th certificate replaced by `text`.
    fn with_cert_text(xml: &str, n: usize, text: &str) -> Vec<u8> {
        let mut out = xml.to_owned();
        out.replace_range(cert_range(xml, n), text);
        out.into_bytes()
    }

    /// `xml` with the DER of its `n`th certificate changed by `change`.
    fn with_cert_der(xml: &str, n: usize, change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut der = cert_der(xml, n);
        change(&mut der);
        with_cert_text(xml, n, &BASE64.encode(der))
    }

    fn read_err(xml: &[u8]) -> SamlError {
        read_metadata(xml).unwrap_err()
    }

    #[test]
    fn reads_okta_style_idp_metadata() {
        let m = read_metadata(OKTA.as_bytes()).unwrap();
        assert_eq!(m.entity_ids, ["http://www.okta.com/exk1a2b3c4d5e6f7g8h9"]);
        assert_eq!(
            m.signing_certificates,
            [SigningCertificate {
                // openssl: notBefore=Nov 27 14:43:58 2026 GMT, notAfter=Nov 24 14:43:58 2036 GMT
                not_before: ts(2026, 11, 27, 14, 43, 58),
                not_after: ts(2036, 11, 24, 14, 43, 58),
                subject: Some("idp.example.com".to_owned()),
                sha256_fingerprint: OKTA_SHA256.to_owned(),
            }]
        );
        assert!(m.acs_urls.is_empty());
    }

    #[test]
    fn reads_unprefixed_entities_descriptor_and_skips_encryption_keys() {
        let m = read_metadata(ENTRA_ADFS.as_bytes()).unwrap();
        assert_eq!(
            m.entity_ids,
            [
                "http://adfs.example.net/adfs/services/trust",
                "https://sts.windows.net/00000000-1111-2222-3333-444444444444/",
            ]
        );
        assert_eq!(
            m.signing_certificates,
            [
                SigningCertificate {
                    // openssl: notBefore=Nov 27 14:43:59 2026 GMT, notAfter=Nov 26 14:43:59 2028 GMT
                    not_before: ts(2026, 11, 27, 14, 43, 59),
                    not_after: ts(2028, 11, 26, 14, 43, 59),
                    subject: Some("adfs-signing.example.net".to_owned()),
                    sha256_fingerprint: ADFS_SIGNING_SHA256.to_owned(),
                },
                SigningCertificate {
                    // No `use` attribute: signing. notAfter is a GeneralizedTime past 2049.
                    // openssl: notBefore=Nov 27 14:43:59 2026 GMT, notAfter=Jun  3 14:43:59 2136 GMT
                    not_before: ts(2026, 11, 27, 14, 43, 59),
                    not_after: ts(2136, 6, 3, 14, 43, 59),
                    subject: Some("Microsoft Azure Federated SSO Certificate".to_owned()),
                    sha256_fingerprint: ENTRA_SHA256.to_owned(),
                },
            ]
        );
        // The encryption key and the WS-Federation RoleDescriptor's key are not read.
        let fingerprints: Vec<&str> = m
            .signing_certificates
            .iter()
            .map(|c| c.sha256_fingerprint.as_str())
            .collect();
        assert!(!fingerprints.contains(&ADFS_ENCRYPTION_SHA256));
        assert!(!fingerprints.contains(&NO_CN_SHA256));
        assert!(m.acs_urls.is_empty());
    }

    #[test]
    fn reads_sp_acs_urls_in_order_once_each() {
        let m = read_metadata(AWS_SP.as_bytes()).unwrap();
        assert_eq!(
            m.entity_ids,
            ["https://us-east-1.signin.aws/platform/saml/d-1234567890"]
        );
        assert_eq!(
            m.acs_urls,
            [
                "https://us-east-1.signin.aws/platform/saml/acs/abc-123",
                "https://eu-west-1.signin.aws/platform/saml/acs/abc-123",
                "https://us-east-1.signin.aws/platform/saml/acs/abc-123?region=us-east-1&tenant=abc-123",
            ]
        );
        // The SP's own signing key is not an IdP signing certificate.
        assert!(m.signing_certificates.is_empty());
    }

    #[test]
    fn reads_v1_certificate_from_1999_with_crlf_and_char_refs() {
        let m = read_metadata(LEGACY).unwrap();
        assert_eq!(
            m.entity_ids,
            ["https://shib.legacy.example.edu/idp/shibboleth"]
        );
        let [cert] = m.signing_certificates.as_slice() else {
            panic!("one certificate expected: {m:?}");
        };
        // openssl: notBefore=Jun 15 08:30:00 1999 GMT (UTCTime 99...), notAfter=Jun 15 08:30:00 2019 GMT
        assert_eq!(cert.not_before, ts(1999, 6, 15, 8, 30, 0));
        assert_eq!(cert.not_after, ts(2019, 6, 15, 8, 30, 0));
        assert_eq!(cert.subject.as_deref(), Some("shib.legacy.example.edu"));
        assert_eq!(cert.sha256_fingerprint, LEGACY_SHA256);
        assert_eq!(cert.days_left(ts(2026, 11, 27, 0, 0, 0)), -2722);
    }

    #[test]
    fn subject_without_cn_is_none() {
        // The RoleDescriptor's certificate (O=..., C=GB) moved into the IdP's signing key.
        let der = cert_der(ENTRA_ADFS, 0);
        let xml = with_cert_text(ENTRA_ADFS, 2, &BASE64.encode(der));
        let m = read_metadata(&xml).unwrap();
        assert_eq!(m.signing_certificates[0].subject, None);
        assert_eq!(m.signing_certificates[0].sha256_fingerprint, NO_CN_SHA256);
    }

    #[test]
    fn days_left_rounds_down_and_goes_negative_after_expiry() {
        let cert = &read_metadata(OKTA.as_bytes()).unwrap().signing_certificates[0];
        let end = cert.not_after;
        assert_eq!(cert.days_left(cert.not_before), 3650);
        assert_eq!(cert.days_left(end.plus(-86_400)), 1);
        assert_eq!(cert.days_left(end.plus(-86_399)), 0);
        assert_eq!(cert.days_left(end), 0);
        assert_eq!(cert.days_left(end.plus(1)), -1);
        assert_eq!(cert.days_left(end.plus(86_400)), -1);
        assert_eq!(cert.days_left(end.plus(86_401)), -2);
        assert_eq!(cert.days_left(ts(2026, 11, 27, 0, 0, 0)), 3650);
        assert!(cert.days_left(Timestamp(i64::MIN)) > 0);
        assert!(cert.days_left(Timestamp(i64::MAX)) < 0);
    }

    #[test]
    fn duplicate_certificates_are_listed_once() {
        let xml = format!(
            "<EntitiesDescriptor>{}{}</EntitiesDescriptor>",
            OKTA.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", ""),
            OKTA.replace("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", "")
                .replace("exk1a2b3c4d5e6f7g8h9\"", "other\"")
        );
        let m = read_metadata(xml.as_bytes()).unwrap();
        assert_eq!(m.entity_ids.len(), 2);
        assert_eq!(m.signing_certificates.len(), 1);
    }

    #[test]
    fn truncated_der_names_the_certificate() {
        let e = read_err(&with_cert_der(OKTA, 0, |der| der.truncate(500)));
        assert_eq!(e.place, OKTA_CERT);
        assert!(
            e.message
                .starts_with("certificate DER: ASN.1 DER message is incomplete")
                && e.message.ends_with("at DER byte 500"),
            "{e}"
        );
    }

    #[test]
    fn bad_validity_names_the_key_and_field() {
        // Break notAfter (the second UTCTime) of the AD FS signing key, KeyDescriptor[1].
        let xml = with_cert_der(ENTRA_ADFS, 2, |der| {
            let at = der
                .windows(2)
                .enumerate()
                .filter(|(_, w)| *w == [0x17, 0x0D])
                .nth(1)
                .unwrap()
                .0;
            der[at] = 0x02;
        });
        let e = read_err(&xml);
        assert_eq!(
            e.place,
            "EntityDescriptor[0].IDPSSODescriptor.KeyDescriptor[1].X509Certificate"
        );
        assert!(
            e.message
                .starts_with("certificate DER: unexpected ASN.1 DER tag: got INTEGER at DER byte"),
            "{e}"
        );
        assert_eq!(e.to_string(), format!("{}: {}", e.place, e.message));
        // In the second entity.
        let e = read_err(&with_cert_der(ENTRA_ADFS, 3, |der| der.truncate(100)));
        assert_eq!(
            e.place,
            "EntityDescriptor[1].IDPSSODescriptor.KeyDescriptor[0].X509Certificate"
        );
    }

    #[test]
    fn indefinite_length_is_refused() {
        let e = read_err(&with_cert_der(OKTA, 0, |der| {
            der[1] = 0x80;
        }));
        assert_eq!(e.place, OKTA_CERT);
        assert!(
            e.message
                .starts_with("certificate DER: indefinite length disallowed"),
            "{e}"
        );
    }

    #[test]
    fn bad_base64_names_the_certificate() {
        let e = read_err(&with_cert_text(OKTA, 0, "MIIC!not base64"));
        assert_eq!(e.place, OKTA_CERT);
        assert!(e.message.starts_with("certificate base64:"), "{e}");
        let e = read_err(&with_cert_text(OKTA, 0, " \n\t "));
        assert_eq!(e.place, OKTA_CERT);
        assert_eq!(e.message, "X509Certificate is empty");
        let e = read_err(&with_cert_text(OKTA, 0, "MIIC&foo;"));
        assert_eq!(e.place, OKTA_CERT);
        assert!(e.message.contains("undefined entity &foo;"), "{e}");
        let e = read_err(&with_cert_text(OKTA, 0, "MIIC<ds:b/>"));
        assert_eq!(e.place, OKTA_CERT);
        assert!(e.message.contains("unexpected element <ds:b>"), "{e}");
    }

    #[test]
    fn undecodable_encryption_certificates_are_not_read() {
        let xml = with_cert_text(ENTRA_ADFS, 1, "not a certificate");
        assert_eq!(read_metadata(&xml).unwrap().signing_certificates.len(), 2);
    }

    #[test]
    fn doctype_is_refused() {
        let laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE md [<!ENTITY lol \"lol\">\
            <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n\
            <md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"&lol2;\"/>";
        let e = read_err(laughs.as_bytes());
        assert_eq!(e.place, "document");
        assert!(e.message.contains("DOCTYPE"), "{e}");
        // Without a DOCTYPE an entity reference is undefined and not expanded.
        let e = read_err(b"<EntityDescriptor entityID=\"&lol2;\"/>");
        assert_eq!(e.place, "EntityDescriptor[0]");
        assert!(e.message.starts_with("attribute entityID:"), "{e}");
    }

    #[test]
    fn documents_without_entity_descriptor_are_refused() {
        for xml in [
            &b"<html><body><p>Sign in</p></body></html>"[..],
            b"",
            b"   ",
            b"not xml at all",
            b"<?xml version=\"1.0\"?><EntitiesDescriptor/>",
        ] {
            let e = read_err(xml);
            assert_eq!(e.place, "document", "{e}");
            assert!(e.message.starts_with("no EntityDescriptor"), "{e}");
        }
    }

    #[test]
    fn oversized_input_is_refused() {
        let mut xml = OKTA.as_bytes().to_vec();
        xml.resize(MAX_METADATA_BYTES, b'\n');
        assert!(read_metadata(&xml).is_ok());
        xml.push(b'\n');
        let e = read_err(&xml);
        assert_eq!(e.place, "document");
        assert!(e.message.contains("1048577 bytes"), "{e}");
        assert!(e.message.contains("1 MiB"), "{e}");
    }

    #[test]
    fn malformed_xml_names_the_element() {
        let cut = OKTA.find("</ds:X509Data>").unwrap();
        let e = read_err(&OKTA.as_bytes()[..cut]);
        assert_eq!(
            e.place,
            "EntityDescriptor[0].IDPSSODescriptor.KeyDescriptor[0]"
        );
        assert_eq!(e.message, "document ends before <ds:X509Data> is closed");

        let e = read_err(OKTA.replace("</md:KeyDescriptor>", "</md:Key>").as_bytes());
        assert_eq!(
            e.place,
            "EntityDescriptor[0].IDPSSODescriptor.KeyDescriptor[0]"
        );
        assert!(e.message.starts_with("malformed XML at byte"), "{e}");

        let e = read_err(b"<EntityDescriptor entityID=\"a\" entityID=\"b\"/>");
        assert_eq!(e.place, "EntityDescriptor[0]");

        let e = read_err(b"<EntityDescriptor entityID=\"a&b\"/>");
        assert_eq!(e.place, "EntityDescriptor[0]");
    }

    #[test]
    fn missing_and_bad_attributes_are_errors() {
        let e = read_err(b"<md:EntityDescriptor xmlns:md=\"x\"/>");
        assert_eq!(e.place, "EntityDescriptor[0]");
        assert_eq!(e.message, "missing attribute entityID");

        let e = read_err(b"<EntityDescriptor entityID=\"  \"/>");
        assert_eq!(e.message, "attribute entityID is empty");

        let e = read_err(
            b"<EntityDescriptor entityID=\"sp\"><SPSSODescriptor>\
              <AssertionConsumerService Location=\"https://a\"/>\
              <AssertionConsumerService Binding=\"x\"/></SPSSODescriptor></EntityDescriptor>",
        );
        assert_eq!(
            e.place,
            "EntityDescriptor[0].SPSSODescriptor.AssertionConsumerService[1]"
        );
        assert_eq!(e.message, "missing attribute Location");

        let e = read_err(OKTA.replace("use=\"signing\"", "use=\"sign\"").as_bytes());
        assert_eq!(
            e.place,
            "EntityDescriptor[0].IDPSSODescriptor.KeyDescriptor[0]"
        );
        assert!(e.message.contains("\"sign\""), "{e}");

        let e = read_err(
            b"<EntitiesDescriptor><EntityDescriptor entityID=\"a\"/>\
              <EntityDescriptor entityID=\"b\"><EntityDescriptor entityID=\"c\"/>\
              </EntityDescriptor></EntitiesDescriptor>",
        );
        assert_eq!(e.place, "EntityDescriptor[1]");
        assert!(e.message.contains("nested"), "{e}");
    }

    fn mutate(base: &[u8], edits: &[(usize, u8)], keep: usize) -> Vec<u8> {
        let mut bytes = base.to_vec();
        for (at, byte) in edits {
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] = *byte;
            }
        }
        bytes.truncate(keep);
        bytes
    }

    proptest! {
        #[test]
        /// Any bytes give metadata whose certificates are identified by a SHA-256, or an
        /// error that names the place and the problem.
        fn reads_any_bytes_or_names_the_place(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            match read_metadata(&bytes) {
                Ok(m) => {
                    for c in &m.signing_certificates {
                        prop_assert_eq!(c.sha256_fingerprint.len(), 64);
                    }
                }
                Err(e) => prop_assert!(!e.place.is_empty() && !e.message.is_empty(), "{e:?}"),
            }
        }

        #[test]
        fn never_panics_on_mutated_fixtures(
            which in 0usize..4,
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
            keep in any::<usize>(),
        ) {
            let base = [OKTA.as_bytes(), ENTRA_ADFS.as_bytes(), AWS_SP.as_bytes(), LEGACY][which];
            if let Err(e) = read_metadata(&mutate(base, &edits, keep)) {
                prop_assert!(!e.place.is_empty() && !e.message.is_empty(), "{e:?}");
            }
        }

        #[test]
        fn mutated_der_fails_at_the_certificate(
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            keep in any::<usize>(),
        ) {
            let der = mutate(&cert_der(OKTA, 0), &edits, keep);
            let xml = with_cert_text(OKTA, 0, &BASE64.encode(&der));
            match read_metadata(&xml) {
                Ok(m) => prop_assert_eq!(m.signing_certificates.len(), 1),
                Err(e) => {
                    prop_assert_eq!(e.place.as_str(), OKTA_CERT);
                    prop_assert!(e.message.starts_with("certificate "), "{}", e);
                }
            }
        }
    }
}
