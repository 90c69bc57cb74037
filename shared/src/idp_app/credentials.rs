//! The IdP API credentials, read from the provider's Secrets Manager secret (JSON). They are
//! credentials: `Debug` shows no value, nothing here implements `Display` for them, and every
//! error names the field, never its value.
//!
//! | Provider | Secret JSON |
//! |---|---|
//! | Entra ID, client secret | `{"client_id": "...", "client_secret": "..."}` |
//! | Entra ID, certificate | `{"client_id": "...", "private_key": "<PKCS#8 PEM>", "certificate": "<PEM>"}` |
//! | Okta, private-key JWT | `{"client_id": "...", "private_key": "<PKCS#8 PEM>", "key_id": "..."}` (`key_id` optional) |
//! | Okta, API token | `{"api_token": "..."}` |

use std::fmt;

use base64::Engine;
use serde_json::{Map, Value};

use super::ProviderKind;

/// A secret value: bytes or text that only the HTTP client reads.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// The value, for signing or a request only.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The value as text (client secrets and tokens are text).
    pub fn expose_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value.into_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the guard authenticates to the IdP's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Entra ID client credentials with a client secret.
    EntraSecret {
        /// The guard's own app registration (client id).
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// Entra ID client credentials with a certificate (a signed JWT client assertion).
    EntraCertificate {
        /// The guard's own app registration (client id).
        client_id: String,
        /// The certificate's private key, DER (PKCS#8, or PKCS#1 for RSA).
        private_key: Secret,
        /// The certificate, DER (its SHA-256 thumbprint goes in the JWT header).
        certificate: Vec<u8>,
    },
    /// An Okta API service app with a private-key JWT.
    OktaPrivateKey {
        /// The service app's client id.
        client_id: String,
        /// The private key, DER (PKCS#8: RSA or EC P-256; PKCS#1 for RSA).
        private_key: Secret,
        /// The key's id in the service app's JWKS (`kid`), when set.
        key_id: Option<String>,
    },
    /// An Okta SSWS API token (acts with its creator's permissions: the weaker choice).
    OktaApiToken {
        /// The token.
        token: Secret,
    },
}

/// What is wrong with the secret: the field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} credentials secret: {problem}")]
pub struct CredentialsError {
    /// The provider.
    pub provider: ProviderKind,
    /// What is wrong (names fields only).
    pub problem: String,
}

/// Reads the secret's JSON for `provider`.
pub fn read_credentials(
    provider: ProviderKind,
    text: &str,
) -> Result<Credentials, CredentialsError> {
    let bad = |problem: String| CredentialsError { provider, problem };
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(o)) => o,
        // serde's message can quote the text: it is not repeated.
        Ok(_) | Err(_) => return Err(bad("is not a JSON object (value not shown)".into())),
    };
    let allowed: &[&str] = match provider {
        ProviderKind::EntraId => &["client_id", "client_secret", "private_key", "certificate"],
        ProviderKind::Okta => &["client_id", "private_key", "key_id", "api_token"],
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        // A name is shown only when it looks like one: a value pasted where a name goes
        // (a secret as a key) must not come back in the error.
        let looks_like_a_name = unknown.len() <= 32
            && unknown
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        let named = if looks_like_a_name {
            format!("unknown field \"{unknown}\"")
        } else {
            "an unknown field (its name is not shown: it does not look like a field name)"
                .to_owned()
        };
        return Err(bad(format!("{named} (expected {})", allowed.join(", "))));
    }
    let field = |name: &str| -> Result<Option<String>, CredentialsError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(bad(format!("\"{name}\" is not a non-empty string"))),
        }
    };
    let need = |name: &str, why: &str| {
        field(name)?.ok_or_else(|| bad(format!("\"{name}\" is missing ({why})")))
    };
    match provider {
        ProviderKind::EntraId => {
            let client_id = need("client_id", "the guard's app registration")?;
            match (field("client_secret")?, field("private_key")?) {
                (Some(secret), None) => Ok(Credentials::EntraSecret {
                    client_id,
                    client_secret: Secret(secret.into_bytes()),
                }),
                (None, Some(key)) => {
                    let certificate = need("certificate", "with private_key")?;
                    Ok(Credentials::EntraCertificate {
                        client_id,
                        private_key: Secret(pem(&key, PRIVATE_KEY_LABELS, "private_key", &bad)?),
                        certificate: pem(&certificate, &["CERTIFICATE"], "certificate", &bad)?,
                    })
                }
                _ => Err(bad(
                    "needs exactly one of \"client_secret\" and \"private_key\"".into(),
                )),
            }
        }
        ProviderKind::Okta => match (field("api_token")?, field("private_key")?) {
            (Some(token), None) if !object.contains_key("client_id") => {
                Ok(Credentials::OktaApiToken {
                    token: Secret(token.into_bytes()),
                })
            }
            (None, Some(key)) => Ok(Credentials::OktaPrivateKey {
                client_id: need("client_id", "the API service app")?,
                private_key: Secret(pem(&key, PRIVATE_KEY_LABELS, "private_key", &bad)?),
                key_id: field("key_id")?,
            }),
            _ => Err(bad(
                "needs either \"client_id\" with \"private_key\", or \"api_token\" alone".into(),
            )),
        },
    }
}

const PRIVATE_KEY_LABELS: &[&str] = &["PRIVATE KEY", "RSA PRIVATE KEY"];

/// The DER inside a PEM block labelled one of `labels` (PKCS#1 and PKCS#8 keys are told
/// apart by the signer, from the DER). Escaped newlines (`\n`, as JSON tools write) are read.
fn pem(
    text: &str,
    labels: &[&str],
    name: &str,
    bad: &dyn Fn(String) -> CredentialsError,
) -> Result<Vec<u8>, CredentialsError> {
    let text = text.replace("\\n", "\n");
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| bad(format!("\"{name}\" is not PEM (no -----BEGIN line)")))?;
    let rest = text.get(begin + 11..).unwrap_or_default();
    let (label, body) = rest
        .split_once("-----")
        .ok_or_else(|| bad(format!("\"{name}\" is not PEM (unterminated BEGIN line)")))?;
    if !labels.contains(&label) {
        // A label is repeated only when it reads like one (capitals and spaces).
        let shown =
            if label.len() <= 40 && label.chars().all(|c| c.is_ascii_uppercase() || c == ' ') {
                format!("a PEM \"{label}\"")
            } else {
                "a PEM block of another kind".to_owned()
            };
        return Err(bad(format!(
            "\"{name}\" is {shown}, expected {} (an encrypted key is not supported)",
            labels.join(" or ")
        )));
    }
    let end = format!("-----END {label}-----");
    let body = body
        .split_once(&end)
        .map(|(b, _)| b)
        .ok_or_else(|| bad(format!("\"{name}\" has no {end} line")))?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| bad(format!("\"{name}\" has a PEM body that is not base64")))
}

/// The fields of a credentials object, for tests that build secrets.
#[doc(hidden)]
pub fn object(pairs: &[(&str, &str)]) -> String {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "-----BEGIN PRIVATE KEY-----\nTUlJQmFzZTY0\n-----END PRIVATE KEY-----\n";

    #[test]
    fn each_shape_reads_and_shows_no_value() {
        let c = read_credentials(
            ProviderKind::EntraId,
            &object(&[("client_id", "c"), ("client_secret", "s3cr3t-value")]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        let c = read_credentials(
            ProviderKind::Okta,
            &object(&[("client_id", "c"), ("private_key", KEY), ("key_id", "k")]),
        )
        .unwrap();
        assert!(matches!(c, Credentials::OktaPrivateKey { .. }));
        assert!(!format!("{c:?}").contains("TUlJ"));
        let c = read_credentials(ProviderKind::Okta, &object(&[("api_token", "00abc")])).unwrap();
        assert!(!format!("{c:?}").contains("00abc"));
    }

    #[test]
    fn errors_name_the_field_never_the_value() {
        let cases = [
            (
                ProviderKind::EntraId,
                object(&[("client_secret", "hunter2-secret")]),
                "\"client_id\" is missing",
            ),
            (
                ProviderKind::EntraId,
                object(&[
                    ("client_id", "c"),
                    ("client_secret", "hunter2-secret"),
                    ("private_key", KEY),
                ]),
                "exactly one",
            ),
            (
                ProviderKind::EntraId,
                object(&[("client_id", "c"), ("private_key", KEY)]),
                "\"certificate\" is missing",
            ),
            (
                ProviderKind::Okta,
                object(&[("client_id", "c"), ("private_key", "hunter2-secret")]),
                "not PEM",
            ),
            (
                ProviderKind::Okta,
                object(&[("api_token", "hunter2-secret"), ("extra", "hunter2-secret")]),
                "unknown field \"extra\"",
            ),
            (
                ProviderKind::Okta,
                "hunter2-secret".to_owned(),
                "not a JSON object",
            ),
            (
                ProviderKind::Okta,
                object(&[("hunter2-secret-as-a-name", "x")]),
                "its name is not shown",
            ),
            (
                ProviderKind::Okta,
                object(&[
                    ("client_id", "c"),
                    (
                        "private_key",
                        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nhunter2\n-----END ENCRYPTED PRIVATE KEY-----",
                    ),
                ]),
                "encrypted",
            ),
        ];
        for (provider, text, expected) in cases {
            let e = read_credentials(provider, &text).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
    }
}
