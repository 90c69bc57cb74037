//! Microsoft Graph v1.0: the `application` and `servicePrincipal` of an Entra ID SAML app.
//!
//! The Basic SAML Configuration's Reply URLs are the application's `web.redirectUris`, and
//! its Identifier (Entity ID) values are `identifierUris`; Graph's SAML tutorial configures
//! both with `PATCH /applications/{id}`. The tenant's service principal carries the same
//! URLs as `replyUrls` and the signing certificates as `keyCredentials`. A URL counts as
//! registered only when both list it (when the service principal was read): that is the safe
//! reading when the two disagree.

use serde_json::{Map, Value, json};

use super::{
    AppCertificate, AppUpdate, IdpApp, ProviderKind, ResponseError, missing_from, required, string,
    strings,
};
use crate::domain::time::Timestamp;

const P: ProviderKind = ProviderKind::EntraId;

/// The fields read from an application (`$select`).
pub const APPLICATION_SELECT: &str = "id,appId,displayName,identifierUris,web";
/// The fields read from a service principal (`$select`).
pub const SERVICE_PRINCIPAL_SELECT: &str =
    "id,appId,replyUrls,keyCredentials,preferredTokenSigningKeyThumbprint";

/// The path that reads the application with `app_id`: a GUID is tried as the application
/// (client) id first (`/applications(appId='...')`), then as the object id.
pub fn application_paths(app_id: &str) -> [String; 2] {
    [
        format!("/applications(appId='{app_id}')?$select={APPLICATION_SELECT}"),
        format!("/applications/{app_id}?$select={APPLICATION_SELECT}"),
    ]
}

/// The list query that finds the application's service principal in this tenant.
pub fn service_principal_query(app_id: &str) -> String {
    format!("/servicePrincipals?$filter=appId%20eq%20'{app_id}'&$select={SERVICE_PRINCIPAL_SELECT}")
}

/// The application's owners, for the ownership check before a write (`directoryObject`s:
/// a service principal carries its `appId`).
pub fn owners_path(object_id: &str) -> String {
    format!("/applications/{object_id}/owners?$select=id,appId")
}

/// Why the caller (`client_id`) cannot write the application, from its `owners`.
pub fn ownership_blocker(owners: &[Value], client_id: &str) -> Option<String> {
    let owned = owners
        .iter()
        .any(|o| o.get("appId").and_then(Value::as_str) == Some(client_id));
    (!owned).then(|| {
        format!(
            "idc-guard's service principal (client id {client_id}) is not an owner of the application, and Application.ReadWrite.OwnedBy changes only applications it owns; add it as an owner"
        )
    })
}

/// One page of a Graph collection: its items and `@odata.nextLink`.
pub fn read_page(body: &Value) -> Result<(Vec<Value>, Option<String>), ResponseError> {
    let items = match body.get("value") {
        Some(Value::Array(items)) => items.clone(),
        Some(_) => return Err(ResponseError::new(P, "value", "is not an array")),
        None => return Err(ResponseError::new(P, "value", "is missing")),
    };
    // One key with dots in its name, not a path.
    let next = match body.get("@odata.nextLink") {
        None | Some(Value::Null) => None,
        Some(Value::String(link)) => Some(link.clone()),
        Some(_) => return Err(ResponseError::new(P, "@odata.nextLink", "is not a string")),
    };
    Ok((items, next))
}

/// The application read with its service principal (`None` when the tenant has none).
pub fn read_app(
    application: &Value,
    service_principal: Option<&Value>,
    etag: Option<String>,
) -> Result<IdpApp, ResponseError> {
    if !application.is_object() {
        return Err(ResponseError::new(P, "application", "is not a JSON object"));
    }
    let id = required(P, application, "id")?;
    let name = string(P, application, "displayName")?.unwrap_or_else(|| id.clone());
    let redirect = strings(P, application, "web.redirectUris")?;
    let entity_ids = strings(P, application, "identifierUris")?;
    let (acs_urls, certificates) = match service_principal {
        Some(sp) => {
            let reply = strings(P, sp, "replyUrls")?;
            let both = redirect
                .iter()
                .filter(|u| reply.contains(u))
                .cloned()
                .collect();
            (both, certificates(sp)?)
        }
        None => (redirect.clone(), Vec::new()),
    };
    Ok(IdpApp {
        provider: P,
        id,
        name,
        acs_urls,
        configured_urls: redirect,
        entity_ids,
        certificates,
        etag,
        document: application.clone(),
        write_blocker: None,
    })
}

/// The service principal's token-signing certificates (`keyCredentials` with usage
/// `Verify`: the public half of each signing key).
fn certificates(sp: &Value) -> Result<Vec<AppCertificate>, ResponseError> {
    let preferred =
        string(P, sp, "preferredTokenSigningKeyThumbprint")?.map(|t| t.to_ascii_uppercase());
    let Some(keys) = sp.get("keyCredentials").filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(keys) = keys else {
        return Err(ResponseError::new(P, "keyCredentials", "is not an array"));
    };
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let at = |f: &str| format!("keyCredentials[{i}].{f}");
        if string(P, key, "usage")
            .map_err(|e| rename(e, &at("usage")))?
            .as_deref()
            != Some("Verify")
        {
            continue;
        }
        let end = required(P, key, "endDateTime").map_err(|e| rename(e, &at("endDateTime")))?;
        let not_after = Timestamp::parse(&end).ok_or_else(|| {
            ResponseError::new(
                P,
                &at("endDateTime"),
                format!("\"{end}\" is not a date-time"),
            )
        })?;
        let id = string(P, key, "keyId")
            .map_err(|e| rename(e, &at("keyId")))?
            .unwrap_or_default();
        let thumbprint = string(P, key, "customKeyIdentifier")
            .map_err(|e| rename(e, &at("customKeyIdentifier")))?
            .map(|t| thumbprint_hex(&t));
        out.push(AppCertificate {
            id,
            not_after,
            active: preferred.is_some() && thumbprint == preferred,
        });
    }
    Ok(out)
}

/// A `customKeyIdentifier` (Graph's Binary type, base64: the certificate's SHA-1
/// thumbprint) as the upper-case hex that `preferredTokenSigningKeyThumbprint` is written in.
/// Text that is not base64 of 20 bytes is compared as it is.
fn thumbprint_hex(identifier: &str) -> String {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(identifier.trim()) {
        Ok(bytes) if bytes.len() == 20 => hex::encode_upper(bytes),
        _ => identifier.trim().to_ascii_uppercase(),
    }
}

fn rename(mut e: ResponseError, field: &str) -> ResponseError {
    e.field = field.to_owned();
    e
}

/// The `PATCH /applications/{id}` that appends `urls` to `web.redirectUris`. The whole `web`
/// object as read is sent back with only `redirectUris` extended, so a PATCH that replaces
/// the complex property keeps its other fields. `None` when every URL is already there.
pub fn add_reply_urls(app: &IdpApp, urls: &[String]) -> Result<Option<AppUpdate>, ResponseError> {
    let present = strings(P, &app.document, "web.redirectUris")?;
    let adds = missing_from(&present, urls);
    if adds.is_empty() {
        return Ok(None);
    }
    let mut web = match app.document.get("web") {
        Some(Value::Object(web)) => web.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(ResponseError::new(P, "web", "is not an object")),
    };
    let mut all = present;
    all.extend(adds.iter().cloned());
    web.insert("redirectUris".into(), json!(all));
    Ok(Some(AppUpdate {
        method: "PATCH",
        path: format!("/applications/{}", app.id),
        if_match: app.etag.clone(),
        body: json!({ "web": web }),
        changes: json!({ "web": web }),
        adds,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn application() -> Value {
        json!({
            "id": "0f6b2c5e-1d2a-4c1b-9a53-7e4b0d9c1a11",
            "appId": "4a2b7c9d-0e1f-4a3b-8c5d-6e7f8a9b0c1d",
            "displayName": "AWS IAM Identity Center",
            "identifierUris": ["https://us-east-1.signin.aws/platform/saml/abc"],
            "web": {
                "redirectUris": ["https://us-east-1.signin.aws/platform/saml/acs/abc"],
                "logoutUrl": "https://example.com/logout",
                "implicitGrantSettings": {"enableIdTokenIssuance": false}
            }
        })
    }

    #[test]
    fn the_application_and_its_service_principal_are_read() {
        let sp = json!({
            "replyUrls": [
                "https://us-east-1.signin.aws/platform/saml/acs/abc",
                "https://eu-west-1.signin.aws/platform/saml/acs/abc"
            ],
            // Graph's own example: the identifier in base64, the thumbprint in hex.
            "preferredTokenSigningKeyThumbprint": "DA20FCA696C4F83E8A9AED59BE33368ED421F3C1",
            "keyCredentials": [
                {"usage": "Sign", "endDateTime": "2029-01-01T00:00:00Z", "keyId": "s"},
                {"usage": "Verify", "endDateTime": "2029-01-01T00:00:00Z", "keyId": "v",
                 "customKeyIdentifier": "2iD8ppbE+D6Kmu1ZvjM2jtQh88E="},
                {"usage": "Verify", "endDateTime": "2027-01-01T00:00:00Z", "keyId": "old",
                 "customKeyIdentifier": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
            ]
        });
        let app = read_app(&application(), Some(&sp), Some("W/\"1\"".into())).unwrap();
        assert_eq!(app.name, "AWS IAM Identity Center");
        // Only what both list counts.
        assert_eq!(
            app.acs_urls,
            vec!["https://us-east-1.signin.aws/platform/saml/acs/abc".to_owned()]
        );
        assert_eq!(app.certificates.len(), 2);
        assert!(
            app.certificates[0].active,
            "the base64 identifier matches the hex thumbprint"
        );
        assert!(!app.certificates[1].active);
    }

    #[test]
    fn bad_shapes_name_the_field() {
        let mut a = application();
        a["web"]["redirectUris"] = json!(["ok", 3]);
        let e = read_app(&a, None, None).unwrap_err();
        assert_eq!(e.field, "web.redirectUris[1]");
        let e = read_app(&json!({"displayName": "x"}), None, None).unwrap_err();
        assert_eq!(e.field, "id");
        assert!(e.to_string().starts_with("Microsoft Entra ID response: id"));
        let sp = json!({"keyCredentials": [{"usage": "Verify", "endDateTime": "soon"}]});
        let e = read_app(&application(), Some(&sp), None).unwrap_err();
        assert_eq!(e.field, "keyCredentials[0].endDateTime");
        assert!(read_page(&json!({"value": {}})).is_err());
        let (items, next) =
            read_page(&json!({"value": [1], "@odata.nextLink": "https://graph/next"})).unwrap();
        assert_eq!(
            (items.len(), next.as_deref()),
            (1, Some("https://graph/next"))
        );
    }

    #[test]
    fn the_patch_appends_and_keeps_the_rest_of_web() {
        let app = read_app(&application(), None, None).unwrap();
        let add = vec![
            "https://us-east-1.signin.aws/platform/saml/acs/abc".to_owned(),
            "https://eu-west-1.signin.aws/platform/saml/acs/abc".to_owned(),
        ];
        let update = add_reply_urls(&app, &add).unwrap().unwrap();
        assert_eq!(update.method, "PATCH");
        assert_eq!(update.adds, vec![add[1].clone()]);
        assert_eq!(update.body["web"]["redirectUris"], json!([add[0], add[1]]));
        assert_eq!(
            update.body["web"]["logoutUrl"],
            "https://example.com/logout"
        );
        assert!(add_reply_urls(&app, &add[..1]).unwrap().is_none());
    }
}
