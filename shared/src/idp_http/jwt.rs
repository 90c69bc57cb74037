//! Signed JWT client assertions (RFC 7523) for the token endpoints: PS256 with the
//! certificate's SHA-256 thumbprint (`x5t#S256`) for Entra ID, RS256 or ES256 (by the key)
//! with the key id (`kid`) for Okta.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, RsaKeyPair};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A private key that signs assertions.
#[derive(Debug)]
pub enum SigningKey {
    /// RSA (PKCS#8 or PKCS#1).
    Rsa(RsaKeyPair),
    /// ECDSA P-256 (PKCS#8).
    P256(EcdsaKeyPair),
}

impl SigningKey {
    /// Reads a DER private key. The error never contains key material.
    pub fn from_der(der: &[u8]) -> Result<SigningKey, String> {
        if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
            return Ok(SigningKey::Rsa(key));
        }
        if let Ok(key) = RsaKeyPair::from_der(der) {
            return Ok(SigningKey::Rsa(key));
        }
        let rng = SystemRandom::new();
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map(SigningKey::P256)
            .map_err(|_| {
                "\"private_key\" is neither an RSA key (PKCS#8 or PKCS#1) nor a P-256 key (PKCS#8)"
                    .to_owned()
            })
    }

    /// The JWS `alg` this key signs with: `PS256` when `pss` (Entra), else `RS256`; `ES256`.
    fn alg(&self, pss: bool) -> &'static str {
        match (self, pss) {
            (SigningKey::Rsa(_), true) => "PS256",
            (SigningKey::Rsa(_), false) => "RS256",
            (SigningKey::P256(_), _) => "ES256",
        }
    }

    fn sign(&self, pss: bool, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = SystemRandom::new();
        match self {
            SigningKey::Rsa(key) => {
                let padding: &dyn signature::RsaEncoding = if pss {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(padding, &rng, message, &mut out)
                    .map_err(|_| "signing the client assertion failed".to_owned())?;
                Ok(out)
            }
            SigningKey::P256(key) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "signing the client assertion failed".to_owned()),
        }
    }
}

/// What goes into an assertion.
#[derive(Debug)]
pub struct Assertion<'a> {
    /// `iss` and `sub`: the client id.
    pub client_id: &'a str,
    /// `aud`: the token endpoint's URL.
    pub audience: &'a str,
    /// Issued at, epoch seconds.
    pub now: i64,
    /// Header fields besides `alg` and `typ` (`kid`, `x5t#S256`).
    pub header: Map<String, Value>,
    /// RSA-PSS (Entra) rather than PKCS#1 v1.5.
    pub pss: bool,
}

/// The signed compact JWT, valid for five minutes.
pub fn sign(key: &SigningKey, a: &Assertion<'_>) -> Result<String, String> {
    let mut header = a.header.clone();
    header.insert("alg".into(), json!(key.alg(a.pss)));
    header.insert("typ".into(), json!("JWT"));
    let mut nonce = [0u8; 16];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| "no randomness for the assertion's jti".to_owned())?;
    let claims = json!({
        "aud": a.audience,
        "iss": a.client_id,
        "sub": a.client_id,
        "jti": hex::encode(nonce),
        "iat": a.now,
        "nbf": a.now,
        "exp": a.now + 300,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(a.pss, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// A certificate's `x5t#S256`: base64url of the SHA-256 of its DER.
pub fn thumbprint_s256(certificate_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(certificate_der))
}
