//! Okta's Apps API: `GET`/`PUT /api/v1/apps/{id}` and `GET /api/v1/apps/{id}/credentials/keys`,
//! with Okta's error shape (`errorCode`, `errorSummary`, ...), `SSWS` or Bearer tokens, and
//! `X-Rate-Limit-*` headers on a 429.

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::json_response;
use super::world::IdpWorld;

fn error(status: StatusCode, code: &str, summary: &str, headers: &[(&str, String)]) -> Response {
    json_response(
        status,
        &json!({"errorCode": code, "errorSummary": summary, "errorLink": code,
                "errorId": "oae0000000000000000000000", "errorCauses": []}),
        headers,
    )
}

/// Whether the caller may use `scope`: an SSWS token may do everything its admin can.
fn allowed(w: &IdpWorld, headers: &HeaderMap, scope: &str) -> Option<bool> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("SSWS ") {
        return (w.okta_api_token.as_deref() == Some(token)).then_some(true);
    }
    let token = value.strip_prefix("Bearer ")?;
    let info = w.issued.get(token).filter(|t| t.provider == "okta")?;
    Some(info.scopes.iter().any(|s| s == scope))
}

/// A request under `/api/v1/apps/`.
pub fn handle(
    w: &mut IdpWorld,
    method: &Method,
    rest: &str,
    headers: &HeaderMap,
    body: &str,
) -> Response {
    let scope = if *method == Method::GET {
        "okta.apps.read"
    } else {
        "okta.apps.manage"
    };
    let Some(permitted) = allowed(w, headers, scope) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "E0000011",
            "Invalid token provided",
            &[],
        );
    };
    if w.throttle > 0 {
        w.throttle -= 1;
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + w.retry_after;
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "E0000047",
            "API call exceeded rate limit due to too many requests.",
            &[
                ("X-Rate-Limit-Limit", "50".into()),
                ("X-Rate-Limit-Remaining", "0".into()),
                ("X-Rate-Limit-Reset", reset.to_string()),
            ],
        );
    }
    if !permitted {
        return error(
            StatusCode::FORBIDDEN,
            "E0000006",
            "You do not have permission to perform the requested action",
            &[],
        );
    }
    let (id, keys) = match rest.strip_suffix("/credentials/keys") {
        Some(id) => (id.to_owned(), true),
        None => (rest.to_owned(), false),
    };
    let Some(index) = w
        .okta_apps
        .iter()
        .position(|a| a.get("id").and_then(Value::as_str) == Some(id.as_str()))
    else {
        return error(
            StatusCode::NOT_FOUND,
            "E0000007",
            &format!("Not found: Resource not found: {id} (AppInstance)"),
            &[],
        );
    };
    match (method.clone(), keys) {
        (Method::GET, true) => json_response(
            StatusCode::OK,
            &w.okta_keys.get(&id).cloned().unwrap_or(json!([])),
            &[],
        ),
        (Method::GET, false) => {
            let tag: Vec<(&str, String)> = if w.etags {
                vec![("ETag", w.etag(&id))]
            } else {
                Vec::new()
            };
            json_response(
                StatusCode::OK,
                &w.okta_apps.get(index).cloned().unwrap_or_default(),
                &tag,
            )
        }
        (Method::PUT, false) => put(w, index, &id, headers, body),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "E0000022",
            "The endpoint does not support the provided HTTP method",
            &[],
        ),
    }
}

/// `PUT /api/v1/apps/{id}`: the body replaces the app (its id kept).
fn put(w: &mut IdpWorld, index: usize, id: &str, headers: &HeaderMap, body: &str) -> Response {
    let Ok(Value::Object(mut app)) = serde_json::from_str::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "E0000003",
            "The request body was not well-formed.",
            &[],
        );
    };
    if let Some(other) = w.edit_before_write.take()
        && let Some(stored) = w.okta_apps.get_mut(index)
    {
        let list = stored.pointer_mut("/settings/signOn/acsEndpoints");
        let next = list.as_ref().and_then(|l| l.as_array()).map_or(0, Vec::len);
        if let Some(Value::Array(items)) = list {
            items.push(json!({"url": other, "index": 100 + next}));
        }
        w.bump(id);
    }
    if w.if_match_fails(id, headers) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "E0000056",
            "The resource was modified since it was read.",
            &[],
        );
    }
    app.insert("id".into(), Value::String(id.to_owned()));
    let app = Value::Object(app);
    if let Some(stored) = w.okta_apps.get_mut(index) {
        *stored = app.clone();
    }
    w.bump(id);
    json_response(StatusCode::OK, &app, &[])
}
