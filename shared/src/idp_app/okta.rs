//! Okta's Apps API: a custom SAML 2.0 app (`signOnMode` `SAML_2_0`).
//!
//! `settings.signOn.ssoAcsUrl` is the app's Single sign-on URL; with
//! `allowMultipleAcsEndpoints` true, `acsEndpoints` (`{url, index}`) are the Other Requestable
//! SSO URLs that a service provider may ask for by URL or index. `audience` is the Audience
//! URI (SP Entity ID). An update is a `PUT` of the whole app, so it is built from the app as
//! read with only those two fields changed.

use serde_json::{Value, json};

use super::{
    AppCertificate, AppUpdate, IdpApp, ProviderKind, ResponseError, at, missing_from, required,
    string,
};
use crate::domain::time::Timestamp;

const P: ProviderKind = ProviderKind::Okta;
const SIGN_ON: &str = "settings.signOn";
/// The most `acsEndpoints` an app may have (the Apps API's schema).
const MAX_ACS_ENDPOINTS: usize = 100;

/// The app's path under the org URL.
pub fn app_path(app_id: &str) -> String {
    format!("/api/v1/apps/{app_id}")
}

/// The path of the app's signing keys.
pub fn keys_path(app_id: &str) -> String {
    format!("/api/v1/apps/{app_id}/credentials/keys")
}

fn bool_at(app: &Value, field: &str) -> Result<bool, ResponseError> {
    match at(app, field) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ResponseError::new(P, field, "is not a boolean")),
    }
}

/// The `acsEndpoints` as `(url, index)`.
fn endpoints(app: &Value) -> Result<Vec<(String, i64)>, ResponseError> {
    let field = format!("{SIGN_ON}.acsEndpoints");
    let Some(list) = at(app, &field) else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return Err(ResponseError::new(P, &field, "is not an array"));
    };
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let url = e.get("url").and_then(Value::as_str).ok_or_else(|| {
                ResponseError::new(
                    P,
                    &format!("{field}[{i}].url"),
                    "is missing or not a string",
                )
            })?;
            let index = e
                .get("index")
                .and_then(Value::as_i64)
                .filter(|i| *i >= 0)
                .ok_or_else(|| {
                    ResponseError::new(
                        P,
                        &format!("{field}[{i}].index"),
                        "is missing or not an integer",
                    )
                })?;
            Ok((url.to_owned(), index))
        })
        .collect()
}

/// The app with its signing keys (`GET /api/v1/apps/{id}/credentials/keys`).
pub fn read_app(app: &Value, keys: &Value, etag: Option<String>) -> Result<IdpApp, ResponseError> {
    if !app.is_object() {
        return Err(ResponseError::new(P, "app", "is not a JSON object"));
    }
    let id = required(P, app, "id")?;
    let mode = required(P, app, "signOnMode")?;
    if mode != "SAML_2_0" {
        return Err(ResponseError::new(
            P,
            "signOnMode",
            format!("is {mode}, not SAML_2_0: app {id} is not a SAML app"),
        ));
    }
    let sso = string(P, app, &format!("{SIGN_ON}.ssoAcsUrl"))?.ok_or_else(|| {
        ResponseError::new(
            P,
            &format!("{SIGN_ON}.ssoAcsUrl"),
            "is missing: idc-guard reads custom SAML 2.0 apps (an Okta Integration Network app keeps its SAML settings in settings.app, in fields of its own)",
        )
    })?;
    let mut acs_urls = vec![sso];
    if bool_at(app, &format!("{SIGN_ON}.allowMultipleAcsEndpoints"))? {
        for (url, _) in endpoints(app)? {
            if !acs_urls.contains(&url) {
                acs_urls.push(url);
            }
        }
    }
    let entity_ids = string(P, app, &format!("{SIGN_ON}.audience"))?
        .into_iter()
        .collect();
    let active = string(P, app, "credentials.signing.kid")?;
    Ok(IdpApp {
        provider: P,
        name: string(P, app, "label")?.unwrap_or_else(|| id.clone()),
        id,
        configured_urls: acs_urls.clone(),
        acs_urls,
        entity_ids,
        certificates: certificates(keys, active.as_deref())?,
        etag,
        document: app.clone(),
        write_blocker: None,
    })
}

fn certificates(keys: &Value, active: Option<&str>) -> Result<Vec<AppCertificate>, ResponseError> {
    let Value::Array(keys) = keys else {
        return Err(ResponseError::new(P, "keys", "is not an array"));
    };
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            let kid = required(P, key, "kid").map_err(|mut e| {
                e.field = format!("keys[{i}].kid");
                e
            })?;
            let field = format!("keys[{i}].expiresAt");
            let expires = required(P, key, "expiresAt").map_err(|mut e| {
                e.field.clone_from(&field);
                e
            })?;
            let not_after = Timestamp::parse(&expires).ok_or_else(|| {
                ResponseError::new(P, &field, format!("\"{expires}\" is not a date-time"))
            })?;
            Ok(AppCertificate {
                active: active == Some(kid.as_str()),
                id: kid,
                not_after,
            })
        })
        .collect()
}

/// The `PUT /api/v1/apps/{id}` that appends `urls` to `acsEndpoints` (turning
/// `allowMultipleAcsEndpoints` on when the list was empty). `None` when every URL is already
/// requestable. Refused when the flag is off but the list holds URLs: turning it on would
/// make URLs requestable that idc-guard did not add.
pub fn add_acs_endpoints(
    app: &IdpApp,
    urls: &[String],
) -> Result<Option<AppUpdate>, ResponseError> {
    let adds = missing_from(&app.acs_urls, urls);
    if adds.is_empty() {
        return Ok(None);
    }
    let doc = &app.document;
    let existing = endpoints(doc)?;
    let flag = format!("{SIGN_ON}.allowMultipleAcsEndpoints");
    if !bool_at(doc, &flag)? && !existing.is_empty() {
        return Err(ResponseError::new(
            P,
            &flag,
            "is false while acsEndpoints lists URLs: turning it on would activate URLs idc-guard did not add; review them in Okta first",
        ));
    }
    let first = existing
        .iter()
        .map(|(_, i)| *i)
        .max()
        .map_or(Some(0), |m| m.checked_add(1));
    let last = first.and_then(|f| f.checked_add(i64::try_from(adds.len()).ok()?));
    let (Some(first), Some(_)) = (first, last) else {
        return Err(ResponseError::new(
            P,
            &format!("{SIGN_ON}.acsEndpoints"),
            "an index is too large to number new endpoints after it",
        ));
    };
    let mut list: Vec<Value> = existing
        .iter()
        .map(|(url, index)| json!({"url": url, "index": index}))
        .collect();
    for (index, url) in (first..).zip(&adds) {
        list.push(json!({"url": url, "index": index}));
    }
    if list.len() > MAX_ACS_ENDPOINTS {
        return Err(ResponseError::new(
            P,
            &format!("{SIGN_ON}.acsEndpoints"),
            format!(
                "adding {} URL(s) would make {} entries; Okta allows at most {MAX_ACS_ENDPOINTS}",
                adds.len(),
                list.len()
            ),
        ));
    }
    let mut body = doc.clone();
    let sign_on = body
        .pointer_mut("/settings/signOn")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| ResponseError::new(P, SIGN_ON, "is not an object"))?;
    sign_on.insert("allowMultipleAcsEndpoints".into(), Value::Bool(true));
    sign_on.insert("acsEndpoints".into(), Value::Array(list.clone()));
    let changes = json!({"settings": {"signOn": {
        "allowMultipleAcsEndpoints": true,
        "acsEndpoints": list,
    }}});
    Ok(Some(AppUpdate {
        method: "PUT",
        path: app_path(&app.id),
        if_match: app.etag.clone(),
        body,
        changes,
        adds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(multiple: bool, endpoints: Value) -> Value {
        json!({
            "id": "0oa1abcdEFGH2345ijk7",
            "label": "AWS IAM Identity Center",
            "signOnMode": "SAML_2_0",
            "status": "ACTIVE",
            "credentials": {"signing": {"kid": "k2"}},
            "settings": {"signOn": {
                "ssoAcsUrl": "https://us-east-1.signin.aws/platform/saml/acs/abc",
                "audience": "https://us-east-1.signin.aws/platform/saml/abc",
                "allowMultipleAcsEndpoints": multiple,
                "acsEndpoints": endpoints,
                "subjectNameIdFormat": "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
            }}
        })
    }

    fn keys() -> Value {
        json!([
            {"kid": "k1", "expiresAt": "2027-01-01T00:00:00.000Z"},
            {"kid": "k2", "expiresAt": "2030-01-01T00:00:00.000Z"}
        ])
    }

    #[test]
    fn requestable_urls_count_only_when_allowed() {
        let eu = json!([{"url": "https://eu-west-1.signin.aws/platform/saml/acs/abc", "index": 0}]);
        let on = read_app(&app(true, eu.clone()), &keys(), None).unwrap();
        assert_eq!(on.acs_urls.len(), 2);
        assert_eq!(
            on.entity_ids,
            vec!["https://us-east-1.signin.aws/platform/saml/abc"]
        );
        assert!(on.certificates[1].active && !on.certificates[0].active);
        let off = read_app(&app(false, eu), &keys(), None).unwrap();
        assert_eq!(off.acs_urls.len(), 1);
    }

    #[test]
    fn the_put_appends_endpoints_and_keeps_the_rest() {
        let eu = "https://eu-west-1.signin.aws/platform/saml/acs/abc".to_owned();
        let ap = "https://ap-southeast-2.signin.aws/platform/saml/acs/abc".to_owned();
        let a = read_app(
            &app(true, json!([{"url": eu, "index": 4}])),
            &keys(),
            Some("\"v1\"".into()),
        )
        .unwrap();
        let update = add_acs_endpoints(&a, &[eu.clone(), ap.clone()])
            .unwrap()
            .unwrap();
        assert_eq!(update.method, "PUT");
        assert_eq!(update.if_match.as_deref(), Some("\"v1\""));
        assert_eq!(update.adds, vec![ap.clone()]);
        let sign_on = &update.body["settings"]["signOn"];
        assert_eq!(
            sign_on["acsEndpoints"],
            json!([{"url": eu, "index": 4}, {"url": ap, "index": 5}])
        );
        assert_eq!(
            sign_on["subjectNameIdFormat"],
            a.document["settings"]["signOn"]["subjectNameIdFormat"]
        );
        // Off with an empty list: turned on.
        let empty = read_app(&app(false, json!([])), &keys(), None).unwrap();
        let update = add_acs_endpoints(&empty, std::slice::from_ref(&ap))
            .unwrap()
            .unwrap();
        assert_eq!(
            update.body["settings"]["signOn"]["allowMultipleAcsEndpoints"],
            true
        );
        // Off with URLs listed: refused, naming the field.
        let hidden = read_app(
            &app(false, json!([{"url": "https://x", "index": 0}])),
            &keys(),
            None,
        )
        .unwrap();
        let e = add_acs_endpoints(&hidden, std::slice::from_ref(&ap)).unwrap_err();
        assert_eq!(e.field, "settings.signOn.allowMultipleAcsEndpoints");
        // Okta's limit of 100 endpoints is kept.
        let full: Vec<Value> = (0..100)
            .map(|i| json!({"url": format!("https://x/{i}"), "index": i}))
            .collect();
        let full = read_app(&app(true, Value::Array(full)), &keys(), None).unwrap();
        let e = add_acs_endpoints(&full, &[ap]).unwrap_err();
        assert!(e.problem.contains("at most 100"), "{e}");
    }

    #[test]
    fn other_apps_and_bad_shapes_are_named() {
        let mut oidc = app(false, json!([]));
        oidc["signOnMode"] = json!("OPENID_CONNECT");
        assert_eq!(
            read_app(&oidc, &keys(), None).unwrap_err().field,
            "signOnMode"
        );
        let mut oin = app(false, json!([]));
        oin["settings"] = json!({"app": {"acsURL": "x"}});
        let e = read_app(&oin, &keys(), None).unwrap_err();
        assert!(e.problem.contains("Okta Integration Network"), "{e}");
        let e = read_app(&app(true, json!([{"url": 1}])), &keys(), None).unwrap_err();
        assert_eq!(e.field, "settings.signOn.acsEndpoints[0].url");
        let e = read_app(&app(true, json!([])), &json!([{"kid": "k"}]), None).unwrap_err();
        assert_eq!(e.field, "keys[0].expiresAt");
    }
}
