//! Microsoft Graph v1.0: `applications` (by object id or `(appId='...')`, `owners`, `PATCH`)
//! and `servicePrincipals` (`$filter=appId eq '...'`), with `$select`, paging and Graph's
//! error shape (`{"error": {"code", "message"}}`).

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::world::{IdpWorld, TokenInfo};
use super::{form_value, json_response};

fn error(status: StatusCode, code: &str, message: &str, headers: &[(&str, String)]) -> Response {
    json_response(
        status,
        &json!({"error": {"code": code, "message": message,
            "innerError": {"request-id": "00000000-0000-0000-0000-000000000000", "date": "2026-12-05T00:00:00"}}}),
        headers,
    )
}

/// The caller's token, or the 401 Graph answers.
pub(super) fn bearer(w: &IdpWorld, headers: &HeaderMap, provider: &str) -> Option<TokenInfo> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    w.issued
        .get(token)
        .filter(|t| t.provider == provider)
        .cloned()
}

fn can_read(w: &IdpWorld) -> bool {
    [
        "Application.Read.All",
        "Application.ReadWrite.OwnedBy",
        "Application.ReadWrite.All",
    ]
    .iter()
    .any(|p| w.graph_permissions.contains(*p))
}

fn owns(w: &IdpWorld, object_id: &str, client_id: &str) -> bool {
    w.owners.get(object_id).is_some_and(|owners| {
        owners
            .iter()
            .any(|o| o.get("appId").and_then(Value::as_str) == Some(client_id))
    })
}

/// Only the `$select`ed properties (all when there is no `$select`).
fn select(object: &Value, query: &str) -> Value {
    let Some(fields) = form_value(query, "$select") else {
        return object.clone();
    };
    let wanted: Vec<&str> = fields.split(',').collect();
    let map: Map<String, Value> = object
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| wanted.contains(&k.as_str()) || k.starts_with("@odata"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    Value::Object(map)
}

/// One page of `items`, with `@odata.nextLink` when more follow.
fn page(w: &IdpWorld, items: &[Value], rest: &str, query: &str) -> Response {
    let skip: usize = form_value(query, "$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let size = w.page_size.max(1);
    let chunk: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(size)
        .map(|v| select(v, query))
        .collect();
    let mut body =
        json!({"@odata.context": format!("{}/v1.0/$metadata#{rest}", w.url), "value": chunk});
    if skip + size < items.len() {
        let kept: Vec<String> = query
            .split('&')
            .filter(|p| !p.starts_with("$skiptoken=") && !p.is_empty())
            .map(|p| p.replace(' ', "%20").replace('\'', "%27"))
            .collect();
        let mut next = format!("{}/v1.0/{rest}?", w.url);
        for p in kept {
            next.push_str(&p);
            next.push('&');
        }
        next.push_str(&format!("$skiptoken={}", skip + size));
        if let Some(o) = body.as_object_mut() {
            o.insert("@odata.nextLink".into(), Value::String(next));
        }
    }
    json_response(StatusCode::OK, &body, &[])
}

/// The application `key` names: `applications(appId='X')` or `applications/{id}`.
fn find_application<'a>(w: &'a IdpWorld, key: &str) -> Option<&'a Value> {
    let by = |field: &str, value: &str| {
        w.applications
            .iter()
            .find(|a| a.get(field).and_then(Value::as_str) == Some(value))
    };
    match key
        .strip_prefix("applications(appId='")
        .and_then(|r| r.strip_suffix("')"))
    {
        Some(app_id) => by("appId", app_id),
        None => key
            .strip_prefix("applications/")
            .and_then(|id| by("id", id)),
    }
}

/// A Graph request under `/v1.0/`.
pub fn handle(
    w: &mut IdpWorld,
    method: &Method,
    rest: &str,
    query: &str,
    headers: &HeaderMap,
    body: &str,
) -> Response {
    let Some(caller) = bearer(w, headers, "entra") else {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "Access token has expired or is not valid yet.",
            &[],
        );
    };
    if w.throttle > 0 {
        w.throttle -= 1;
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests.",
            &[("Retry-After", w.retry_after.to_string())],
        );
    }
    if !can_read(w) {
        return error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            &[],
        );
    }
    if *method == Method::GET && rest == "servicePrincipals" {
        let filter = form_value(query, "$filter").unwrap_or_default();
        let app_id = filter
            .strip_prefix("appId eq '")
            .and_then(|r| r.strip_suffix('\''))
            .unwrap_or_default()
            .to_owned();
        let found: Vec<Value> = w
            .service_principals
            .iter()
            .filter(|sp| sp.get("appId").and_then(Value::as_str) == Some(app_id.as_str()))
            .cloned()
            .collect();
        return page(w, &found, rest, query);
    }
    if let Some(id) = rest
        .strip_prefix("applications/")
        .and_then(|r| r.strip_suffix("/owners"))
    {
        let owners = w.owners.get(id).cloned().unwrap_or_default();
        return page(w, &owners, rest, query);
    }
    let Some(app) = find_application(w, rest).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{rest}' does not exist or one of its queried reference-property objects are not present."
            ),
            &[],
        );
    };
    let id = app
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    match *method {
        Method::GET => {
            let tag: Vec<(&str, String)> = if w.etags {
                vec![("ETag", w.etag(&id))]
            } else {
                Vec::new()
            };
            json_response(StatusCode::OK, &select(&app, query), &tag)
        }
        Method::PATCH => patch(w, &caller, &id, headers, body),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            "Method not allowed.",
            &[],
        ),
    }
}

/// `PATCH /applications/{id}`: the body's properties replace the application's.
fn patch(
    w: &mut IdpWorld,
    caller: &TokenInfo,
    id: &str,
    headers: &HeaderMap,
    body: &str,
) -> Response {
    let writable = w.graph_permissions.contains("Application.ReadWrite.All")
        || (w
            .graph_permissions
            .contains("Application.ReadWrite.OwnedBy")
            && owns(w, id, &caller.client_id));
    if !writable {
        return error(
            StatusCode::FORBIDDEN,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
            &[],
        );
    }
    let Ok(Value::Object(changes)) = serde_json::from_str::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The request body is not a JSON object.",
            &[],
        );
    };
    if let Some(other) = w.edit_before_write.take() {
        edit(w, id, |app| {
            push_url(app.pointer_mut("/web/redirectUris"), &other)
        });
    }
    if w.if_match_fails(id, headers) {
        return error(
            StatusCode::PRECONDITION_FAILED,
            "Request_PreconditionFailed",
            "The resource has changed since it was read.",
            &[],
        );
    }
    edit(w, id, |app| {
        if let Some(o) = app.as_object_mut() {
            for (k, v) in &changes {
                o.insert(k.clone(), v.clone());
            }
        }
    });
    json_response(StatusCode::NO_CONTENT, &Value::Null, &[])
}

/// Changes application `id` (and its service principal's `replyUrls`, which Entra keeps in
/// step), and gives it a new version.
fn edit(w: &mut IdpWorld, id: &str, change: impl Fn(&mut Value)) {
    let mut reply = None;
    if let Some(app) = w
        .applications
        .iter_mut()
        .find(|a| a.get("id").and_then(Value::as_str) == Some(id))
    {
        change(app);
        reply = app
            .pointer("/web/redirectUris")
            .cloned()
            .zip(app.get("appId").cloned());
    }
    if let Some((urls, app_id)) = reply {
        for sp in w
            .service_principals
            .iter_mut()
            .filter(|sp| sp.get("appId") == Some(&app_id))
        {
            if let Some(o) = sp.as_object_mut() {
                o.insert("replyUrls".into(), urls.clone());
            }
        }
    }
    w.bump(id);
}

fn push_url(list: Option<&mut Value>, url: &str) {
    if let Some(Value::Array(items)) = list {
        items.push(Value::String(url.to_owned()));
    }
}
