//! The token endpoints: Entra's `/{tenant}/oauth2/v2.0/token` (client secret, or a PS256/RS256
//! JWT assertion with `x5t#S256`) and Okta's `/oauth2/v1/token` (an RS256/ES256 JWT assertion
//! with the requested scopes). Assertions are verified: signature, `aud`, `iss`, `sub`, `exp`.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::{Value, json};

use super::world::{IdpWorld, TokenInfo};
use super::{form_value, json_response};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
        &[],
    )
}

fn issue(w: &mut IdpWorld, info: TokenInfo) -> Response {
    w.token_requests += 1;
    let token = format!("tok-{}-{}", info.provider, w.token_requests);
    let scope = info.scopes.join(" ");
    w.issued.insert(token.clone(), info);
    json_response(
        StatusCode::OK,
        &json!({"token_type": "Bearer", "expires_in": 3599, "access_token": token, "scope": scope}),
        &[],
    )
}

/// Entra ID's token endpoint.
pub fn entra(w: &mut IdpWorld, path: &str, body: &str) -> Response {
    if path != format!("/{}/oauth2/v2.0/token", w.tenant) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "AADSTS90002: Tenant not found.",
        );
    }
    let field = |name| form_value(body, name);
    if field("grant_type").as_deref() != Some("client_credentials")
        || !field("scope").is_some_and(|s| s.ends_with("/.default"))
    {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "AADSTS900144: The request body must contain the following parameter: 'grant_type' (client_credentials) and a /.default scope.",
        );
    }
    let client_id = field("client_id").unwrap_or_default();
    if client_id != w.entra_client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "AADSTS700016: Application not found in the directory.",
        );
    }
    let authenticated = match (field("client_secret"), field("client_assertion")) {
        (Some(secret), None) => w.entra_client_secret.as_deref() == Some(secret.as_str()),
        (None, Some(assertion))
            if field("client_assertion_type").as_deref() == Some(JWT_BEARER) =>
        {
            let audience = format!("{}{path}", w.url);
            match &w.entra_certificate {
                Some((thumbprint, key)) => verify(&assertion, &client_id, &audience, |header| {
                    if header.get("x5t#S256").and_then(Value::as_str) != Some(thumbprint) {
                        return None;
                    }
                    match header.get("alg").and_then(Value::as_str) {
                        Some("PS256") => Some((
                            &signature::RSA_PSS_2048_8192_SHA256
                                as &dyn signature::VerificationAlgorithm,
                            key.clone(),
                        )),
                        Some("RS256") => Some((
                            &signature::RSA_PKCS1_2048_8192_SHA256
                                as &dyn signature::VerificationAlgorithm,
                            key.clone(),
                        )),
                        _ => None,
                    }
                }),
                None => false,
            }
        }
        _ => false,
    };
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value.",
        );
    }
    issue(
        w,
        TokenInfo {
            provider: "entra",
            client_id,
            scopes: Vec::new(),
        },
    )
}

/// Okta's org authorization server token endpoint.
pub fn okta(w: &mut IdpWorld, body: &str) -> Response {
    let field = |name| form_value(body, name);
    if field("grant_type").as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported.",
        );
    }
    let client_id = field("client_id").unwrap_or_default();
    let audience = format!("{}/oauth2/v1/token", w.url);
    let authenticated = client_id == w.okta_client_id
        && field("client_assertion_type").as_deref() == Some(JWT_BEARER)
        && field("client_assertion").is_some_and(|assertion| {
            let Some((alg, key)) = w.okta_public_key.clone() else {
                return false;
            };
            verify(&assertion, &client_id, &audience, |header| {
                if header.get("alg").and_then(Value::as_str) != Some(alg) {
                    return None;
                }
                let algorithm: &dyn signature::VerificationAlgorithm = if alg == "ES256" {
                    &signature::ECDSA_P256_SHA256_FIXED
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                Some((algorithm, key.clone()))
            })
        });
    if !authenticated {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion signature is invalid.",
        );
    }
    let scopes: Vec<String> = field("scope")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let refused: Vec<&String> = scopes
        .iter()
        .filter(|s| !w.okta_scopes.contains(*s))
        .collect();
    if scopes.is_empty() || !refused.is_empty() {
        let list: Vec<&str> = refused.iter().map(|s| s.as_str()).collect();
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("The following scopes are not allowed: {}", list.join(", ")),
        );
    }
    issue(
        w,
        TokenInfo {
            provider: "okta",
            client_id,
            scopes,
        },
    )
}

/// Verifies a compact JWT: the key `pick` chooses from its header, then `aud`, `iss`, `sub`,
/// a `jti`, and an `exp` within the next hour.
fn verify(
    jwt: &str,
    client_id: &str,
    audience: &str,
    pick: impl Fn(&Value) -> Option<(&'static dyn signature::VerificationAlgorithm, Vec<u8>)>,
) -> bool {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, sig] = parts.as_slice() else {
        return false;
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(h), Some(c), Ok(sig)) = (decode(header), decode(claims), URL_SAFE_NO_PAD.decode(sig))
    else {
        return false;
    };
    let Some((algorithm, key)) = pick(&h) else {
        return false;
    };
    let signed = format!("{header}.{claims}");
    if UnparsedPublicKey::new(algorithm, key)
        .verify(signed.as_bytes(), &sig)
        .is_err()
    {
        return false;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let exp = c.get("exp").and_then(Value::as_i64).unwrap_or(0);
    c.get("aud").and_then(Value::as_str) == Some(audience)
        && c.get("iss").and_then(Value::as_str) == Some(client_id)
        && c.get("sub").and_then(Value::as_str) == Some(client_id)
        && c.get("jti")
            .and_then(Value::as_str)
            .is_some_and(|j| !j.is_empty())
        && exp > now
        && exp <= now + 3600
}
