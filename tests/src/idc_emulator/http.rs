//! The HTTP surface: `POST /` speaks awsJson1.1 (operation in `X-Amz-Target`, caller's Region
//! from the SigV4 credential scope), and `/_idc-emulator/*` seeds, resets and reports health.
//! Signatures are not verified: the emulator trusts any credentials, like moto.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::error::{ApiError, ErrorCode};
use super::{Emulator, SeedInstance, ops};

const TARGET_PREFIX: &str = "SWBExternalService.";
const AMZ_JSON: &str = "application/x-amz-json-1.1";

/// The emulator's routes.
pub fn router(emulator: Emulator) -> Router {
    Router::new()
        .route("/", post(aws_call))
        .route("/_idc-emulator/instance", post(control_seed))
        .route("/_idc-emulator/reset", post(control_reset))
        .route("/_idc-emulator/health", get(control_health))
        .fallback(not_found)
        .with_state(emulator)
}

async fn aws_call(State(emulator): State<Emulator>, headers: HeaderMap, body: Bytes) -> Response {
    let request_id = next_request_id();
    let result = async {
        let caller = caller_region(&headers)?;
        let op = operation(&headers)?;
        tracing::debug!(%op, %caller, %request_id, "sso-admin call");
        ops::call(&emulator, op, &caller, &body).await
    }
    .await;
    match result {
        Ok(out) => aws_response(StatusCode::OK, &request_id, None, &out),
        Err(err) => {
            tracing::debug!(%request_id, error = %err, "sso-admin error");
            let status = StatusCode::from_u16(err.code.status()).unwrap_or(StatusCode::BAD_REQUEST);
            aws_response(status, &request_id, Some(err.code), &err.body())
        }
    }
}

/// The operation named by `X-Amz-Target: SWBExternalService.<Operation>`.
fn operation(headers: &HeaderMap) -> Result<&str, ApiError> {
    let target = headers
        .get("x-amz-target")
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::UnknownOperation,
                "missing X-Amz-Target header (expected SWBExternalService.<Operation>)",
            )
        })?
        .to_str()
        .map_err(|_| {
            ApiError::new(
                ErrorCode::UnknownOperation,
                "X-Amz-Target is not ASCII text",
            )
        })?;
    let op = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        ApiError::new(
            ErrorCode::UnknownOperation,
            format!("X-Amz-Target {target:?} is not a SWBExternalService (sso-admin) operation"),
        )
    })?;
    if ops::OPERATIONS.contains(&op) {
        Ok(op)
    } else {
        Err(ops::unknown_operation(op))
    }
}

/// The Region of the SigV4 credential scope:
/// `Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261127/us-east-1/sso/aws4_request, ...`.
pub fn caller_region(headers: &HeaderMap) -> Result<String, ApiError> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::MissingAuthenticationToken,
                "Missing Authentication Token: idc-emulator reads the calling Region from the SigV4 Authorization header (Credential=<key>/<date>/<region>/sso/aws4_request); sign the request",
            )
        })?
        .to_str()
        .unwrap_or_default();
    region_from_authorization(auth).ok_or_else(|| {
        ApiError::new(
            ErrorCode::IncompleteSignature,
            format!(
                "Authorization header has no readable SigV4 credential scope (Credential=<key>/<date>/<region>/<service>/aws4_request): {auth:?}"
            ),
        )
    })
}

fn region_from_authorization(auth: &str) -> Option<String> {
    let (_, rest) = auth.split_once("Credential=")?;
    let credential = rest.split([',', ' ']).next()?;
    // The access key id could in principle contain '/', so read the scope from the end.
    let mut scope = credential.rsplit('/');
    let (terminator, _service, region) = (scope.next()?, scope.next()?, scope.next()?);
    (terminator == "aws4_request" && super::names::is_region_name(region))
        .then(|| region.to_owned())
}

fn aws_response(
    status: StatusCode,
    request_id: &str,
    error: Option<ErrorCode>,
    body: &Value,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error {
        h.insert("x-amzn-errortype", HeaderValue::from_static(code.as_str()));
    }
    response
}

/// A request id shaped like AWS's (a UUID), unique within the process.
fn next_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("1dc0e4a1-0000-4000-8000-{n:012x}")
}

async fn control_seed(State(emulator): State<Emulator>, body: Bytes) -> Response {
    let seed: SeedInstance = match serde_json::from_slice(&body) {
        Ok(seed) => seed,
        Err(e) => return control_error(format!("POST /_idc-emulator/instance: {e}")),
    };
    match emulator.try_seed(&seed) {
        Ok(()) => Json(json!({ "InstanceArn": seed.instance_arn })).into_response(),
        Err(e) => control_error(format!("POST /_idc-emulator/instance: {e}")),
    }
}

async fn control_reset(State(emulator): State<Emulator>) -> Response {
    emulator.reset();
    Json(json!({ "reset": true })).into_response()
}

async fn control_health() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({
            "error": "idc-emulator serves POST / (sso-admin, awsJson1.1) and /_idc-emulator/{instance,reset,health}"
        })),
    )
        .into_response()
}

fn control_error(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_from_sigv4_scope() {
        assert_eq!(
            region_from_authorization(
                "AWS4-HMAC-SHA256 Credential=test/20261127/eu-west-1/sso/aws4_request, SignedHeaders=host, Signature=abc"
            )
            .as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(region_from_authorization("Bearer xyz"), None);
        assert_eq!(
            region_from_authorization("AWS4-HMAC-SHA256 Credential=test/20261127/sso/aws4_request"),
            None
        );
    }
}
