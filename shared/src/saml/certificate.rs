//! The parts of an X.509 certificate the IdP checks need: the validity dates and the subject's
//! common name (RFC 5280 section 4.1), read with RustCrypto's `x509-cert`, a strict DER
//! decoder (definite, minimal lengths; every length checked against the bytes left).

use x509_cert::Certificate;
use x509_cert::der::asn1::Ia5String;
use x509_cert::der::{Decode, oid::db::rfc4519::COMMON_NAME};
use x509_cert::ext::pkix::name::DirectoryString;
use x509_cert::time::Time;

use crate::domain::time::Timestamp;

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

/// Why a certificate could not be read: the decoder's message, with the DER byte offset where
/// it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CertificateError(String);

/// Reads a DER certificate.
pub(crate) fn read_certificate(der: &[u8]) -> Result<CertificateFields, CertificateError> {
    let certificate = Certificate::from_der(der).map_err(|e| CertificateError(e.to_string()))?;
    let tbs = certificate.tbs_certificate();
    let validity = tbs.validity();
    // The last CN: the most specific one when a subject has several (RFC 4514 writes the
    // sequence most-specific first, DER stores it least-specific first).
    let subject_cn = tbs
        .subject()
        .iter()
        .filter(|atv| atv.oid == COMMON_NAME)
        .filter_map(|atv| {
            DirectoryString::try_from(&atv.value)
                .map(String::from)
                .or_else(|_| atv.value.decode_as::<Ia5String>().map(|s| s.to_string()))
                .ok()
        })
        .last();
    Ok(CertificateFields {
        not_before: instant(validity.not_before),
        not_after: instant(validity.not_after),
        subject_cn,
    })
}

/// A certificate time as an instant (UTCTime and GeneralizedTime alike; both are whole
/// seconds in DER).
fn instant(time: Time) -> Timestamp {
    let seconds = time.to_unix_duration().as_secs();
    Timestamp(i64::try_from(seconds).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_cert::der::Encode;

    /// The Okta-style fixture's signing certificate.
    fn okta_der() -> Vec<u8> {
        crate::saml::tests::cert_der(crate::saml::tests::OKTA, 0)
    }

    #[test]
    fn reads_validity_and_common_name() {
        let fields = read_certificate(&okta_der()).unwrap();
        assert_eq!(fields.subject_cn.as_deref(), Some("idp.example.com"));
        assert_eq!(fields.not_before.to_string(), "2026-11-27T14:43:58Z");
        assert_eq!(fields.not_after.to_string(), "2036-11-24T14:43:58Z");
    }

    #[test]
    fn a_certificate_round_trips_through_the_decoder() {
        // What is read is what a re-encoding would carry: nothing is skipped or guessed.
        let der = okta_der();
        let certificate = Certificate::from_der(&der).unwrap();
        assert_eq!(certificate.to_der().unwrap(), der);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let der = okta_der();
        for cut in 0..der.len() {
            assert!(
                read_certificate(&der[..cut]).is_err(),
                "a certificate cut at {cut} of {} bytes was read",
                der.len()
            );
        }
    }
}
