//! The document as a contract the mini-program's SDK is generated from: every operation gets a
//! unique `operationId`, and every error response the error body's schema and one example per
//! stable code it can carry, so the codes are machine-readable per operation and status.
//!
//! Done here, in one pass over the document, rather than in each `#[utoipa::path]`: a route
//! names its own codes (in its error responses' descriptions, as it always has), and the errors
//! every route shares — the session's 401 and 429, the extractors' 400s, the 500 — are added
//! from what the operation declares (its security, parameters, body, `Idempotency-Key`). The
//! tests below hold the result against `ErrorCode::ALL` and the one status mapping of
//! `crate::error`.

use miniprogram_api::ErrorCode;
use serde_json::json;
use utoipa::Modify;
use utoipa::openapi::example::Example;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::{Content, Ref, RefOr, Response};

/// The shape every error body has; its examples carry a placeholder request id.
const SAMPLE_REQUEST_ID: &str = "01J9Z7Q3X5K2M8N4P6R0S2T4V6";

/// Codes the gateway answers outside any documented operation, documented as the document's
/// shared `components.responses` under these names.
pub(crate) const OUTSIDE_OPERATIONS: &[(&str, ErrorCode, &str)] = &[
    (
        "NoSuchRoute",
        ErrorCode::NotFound,
        "No route has this path (any path the document does not list).",
    ),
    (
        "WrongMethod",
        ErrorCode::MethodNotAllowed,
        "The path exists, but not with this method.",
    ),
    (
        "NotReady",
        ErrorCode::ServiceUnavailable,
        "`GET /readyz` on the admin listener: the database or the store is unreachable.",
    ),
];

pub(crate) struct Contract;

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (_, op) in operations_mut(item) {
                name_operation(path, op);
                document_errors(path, op);
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, code, description) in OUTSIDE_OPERATIONS {
            let mut response = Response::new(format!("{}: {description}", code.as_str()));
            response
                .content
                .insert("application/json".to_owned(), error_content([*code]));
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(response));
        }
    }
}

/// Each operation of a path item, with its method.
pub(crate) fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
        ("options", item.options.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
    .collect()
}

/// `operationId`: utoipa's default is the handler's name (`mine`, `get`, `login` …, the same in
/// several modules), so it becomes lowerCamelCase of audience, tag and handler — `bookingMine`,
/// `staffLogin`, `staffHallsCreate` — a word not repeated where the tag already says it. An id
/// set in the attribute (`operation_id = "…"`, anything not snake_case) is kept as it is.
fn name_operation(path: &str, op: &mut Operation) {
    let handler = op.operation_id.clone().unwrap_or_default();
    if !handler.is_empty()
        && !handler
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return;
    }
    let audience = if path.starts_with("/staff/") {
        "staff"
    } else if path.starts_with("/callbacks/") {
        "callback"
    } else {
        ""
    };
    let tag = op
        .tags
        .as_ref()
        .and_then(|t| t.first())
        .cloned()
        .unwrap_or_default();
    let mut words: Vec<String> = Vec::new();
    for word in [audience, tag.as_str(), handler.as_str()]
        .iter()
        .flat_map(|part| part.split(['_', '-']))
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if words.last() != Some(&word) {
            words.push(word);
        }
    }
    let mut id = String::new();
    for (i, word) in words.iter().enumerate() {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            if i == 0 {
                id.push(first);
            } else {
                id.push(first.to_ascii_uppercase());
            }
            id.extend(chars);
        }
    }
    op.operation_id = Some(id);
}

/// The errors an operation shares with every other that declares the same thing, by status.
fn shared_errors(path: &str, op: &Operation) -> Vec<(u16, Vec<ErrorCode>)> {
    let mut shared = Vec::new();
    let authenticated = op.security.as_ref().is_some_and(|s| !s.is_empty());
    if authenticated {
        // The bearer extractors: no token, a malformed or another kind of token; an ended session;
        // the session's (or staff session's) requests a minute.
        shared.push((
            401,
            vec![ErrorCode::Unauthenticated, ErrorCode::SessionExpired],
        ));
        shared.push((429, vec![ErrorCode::RateLimited]));
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    if path.contains('{')
        || params
            .iter()
            .any(|p| matches!(p.parameter_in, ParameterIn::Query))
    {
        // `PathConfig` / `QueryConfig`: a segment or query that does not parse.
        shared.push((400, vec![ErrorCode::BadRequest]));
    }
    if let Some(body) = &op.request_body
        && body.content.contains_key("application/json")
    {
        // `JsonConfig`: not JSON or not the shape; over the limit; not `application/json`.
        shared.push((400, vec![ErrorCode::InvalidJson]));
        shared.push((413, vec![ErrorCode::PayloadTooLarge]));
        shared.push((415, vec![ErrorCode::UnsupportedMediaType]));
    }
    if params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Header) && p.name == "Idempotency-Key")
    {
        // `extract::idempotency_key`: a key of another form; a key used for another request.
        shared.push((
            422,
            vec![ErrorCode::ValidationFailed, ErrorCode::IdempotencyKeyReused],
        ));
    }
    // An unexpected error, whatever the operation.
    shared.push((500, vec![ErrorCode::Internal]));
    shared
}

/// The stable codes named in a response's description (`SLOT_FULL, ALREADY_BOOKED`), in order.
pub(crate) fn codes_named(description: &str) -> Vec<ErrorCode> {
    let mut codes = Vec::new();
    for token in description.split(|c: char| !(c.is_ascii_uppercase() || c == '_')) {
        if let Some(code) = ErrorCode::ALL.iter().find(|c| c.as_str() == token)
            && !codes.contains(code)
        {
            codes.push(*code);
        }
    }
    codes
}

fn document_errors(path: &str, op: &mut Operation) {
    for (status, codes) in shared_errors(path, op) {
        let response = op
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::T(Response::new(String::new())));
        let RefOr::T(response) = response else {
            continue;
        };
        let named = codes_named(&response.description);
        let missing: Vec<&str> = codes
            .iter()
            .filter(|c| !named.contains(c))
            .map(|c| c.as_str())
            .collect();
        if !missing.is_empty() {
            let added = missing.join(", ");
            response.description = if response.description.trim().is_empty() {
                added
            } else {
                format!("{}; {added}", response.description.trim_end())
            };
        }
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
        let RefOr::T(response) = response else {
            continue;
        };
        if !is_error {
            continue;
        }
        let codes = codes_named(&response.description);
        response
            .content
            .insert("application/json".to_owned(), error_content(codes));
    }
}

/// `ErrorBody` with one example per code, named by the code, carrying its default message.
fn error_content(codes: impl IntoIterator<Item = ErrorCode>) -> Content {
    let mut content = Content::new(Some(Ref::from_schema_name("ErrorBody")));
    for code in codes {
        let mut example = Example::new();
        example.summary = code.message().to_owned();
        example.value = Some(json!({
            "code": code.as_str(),
            "message": code.message(),
            "requestId": SAMPLE_REQUEST_ID,
        }));
        content
            .examples
            .insert(code.as_str().to_owned(), RefOr::T(example));
    }
    content
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};

    use actix_web::ResponseError as _;
    use miniprogram_api::ErrorCode;
    use serde_json::Value;
    use utoipa::OpenApi as _;

    use super::*;
    use crate::error::ApiError;
    use crate::openapi::ApiDoc;

    fn document() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                out.push((method.to_uppercase(), path.clone(), op));
            }
        }
        out
    }

    fn status_of(code: ErrorCode) -> u16 {
        ApiError::new(code).status_code().as_u16()
    }

    /// Each error response's codes, read back from its examples (what the SDK's users see).
    fn documented_codes(response: &Value) -> Vec<String> {
        response["content"]["application/json"]["examples"]
            .as_object()
            .map(|e| {
                e.values()
                    .map(|x| x["value"]["code"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn every_operation_has_a_unique_camel_case_id_a_tag_error_responses_and_examples() {
        let doc = document();
        let mut ids = BTreeMap::new();
        for (method, path, op) in operations(&doc) {
            let at = format!("{method} {path}");
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                id.len() > 1
                    && id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{at}: operationId {id:?} is not lowerCamelCase"
            );
            if let Some(other) = ids.insert(id.to_owned(), at.clone()) {
                panic!("{at} and {other} share the operationId {id}");
            }
            let tags = op["tags"].as_array().map(Vec::len).unwrap_or_default();
            assert!(tags > 0, "{at} has no tag");
            let responses = op["responses"].as_object().unwrap();
            let errors: Vec<_> = responses
                .iter()
                .filter(|(s, _)| s.parse::<u16>().is_ok_and(|s| s >= 400))
                .collect();
            assert!(!errors.is_empty(), "{at} documents no error response");
            for (status, response) in errors {
                let content = &response["content"]["application/json"];
                assert_eq!(
                    content["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{at} {status}: not an ErrorBody"
                );
                assert!(
                    !documented_codes(response).is_empty(),
                    "{at} {status}: no example (its description names no code: {:?})",
                    response["description"]
                );
            }
        }
    }

    /// Every code a response documents is one the gateway has, answered with that very status
    /// by `ApiError` (nothing documented that cannot occur), and every code the gateway has is
    /// documented somewhere at its status (nothing returned that is undocumented), but for the
    /// retired ones, which nothing returns any longer.
    #[test]
    fn the_documented_codes_are_exactly_the_codes_the_gateway_answers_at_their_status() {
        let doc = document();
        let mut documented = HashSet::new();
        let mut check = |at: &str, status: &str, response: &Value| {
            for code in documented_codes(response) {
                let known = ErrorCode::ALL
                    .iter()
                    .find(|c| c.as_str() == code)
                    .unwrap_or_else(|| panic!("{at} {status}: {code} is no ErrorCode"));
                assert!(
                    !ErrorCode::RETIRED.contains(known),
                    "{at} {status}: {code} is retired, nothing returns it"
                );
                assert_eq!(
                    status,
                    status_of(*known).to_string(),
                    "{at}: {code} is documented at {status}, the gateway answers it with {}",
                    status_of(*known)
                );
                documented.insert(*known);
            }
        };
        for (method, path, op) in operations(&doc) {
            for (status, response) in op["responses"].as_object().unwrap() {
                check(&format!("{method} {path}"), status, response);
            }
        }
        for (name, response) in doc["components"]["responses"].as_object().unwrap() {
            let status = OUTSIDE_OPERATIONS
                .iter()
                .find(|(n, ..)| n == name)
                .map(|(_, code, _)| status_of(*code).to_string())
                .unwrap();
            check(name, &status, response);
        }
        let undocumented: Vec<&str> = ErrorCode::ALL
            .iter()
            .filter(|c| !ErrorCode::RETIRED.contains(c) && !documented.contains(c))
            .map(|c| c.as_str())
            .collect();
        assert!(
            undocumented.is_empty(),
            "the gateway answers codes no operation documents: {undocumented:?}"
        );
    }

    /// The other half of "can occur": a code is returned only if the gateway's code names it
    /// (`ErrorCode::X` somewhere under `gateway/src`), and a retired code is named nowhere.
    #[test]
    fn every_live_code_is_constructed_by_the_gateway_and_no_retired_one_is() {
        let mut source = String::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    source.push_str(&std::fs::read_to_string(path).unwrap());
                }
            }
        }
        for code in ErrorCode::ALL {
            let variant = format!("{code:?}");
            let named = source
                .match_indices(&format!("ErrorCode::{variant}"))
                .any(|(at, m)| {
                    !source[at + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
                });
            if ErrorCode::RETIRED.contains(code) {
                assert!(!named, "{variant} is retired yet the gateway returns it");
            } else {
                assert!(named, "nothing in the gateway returns {variant}");
            }
        }
    }

    #[test]
    fn shared_errors_follow_what_the_operation_declares() {
        let doc = document();
        let me = &doc["paths"]["/api/v1/me"]["get"]["responses"];
        assert_eq!(
            documented_codes(&me["401"]),
            ["SESSION_EXPIRED", "UNAUTHENTICATED"]
        );
        assert_eq!(documented_codes(&me["429"]), ["RATE_LIMITED"]);
        assert_eq!(documented_codes(&me["500"]), ["INTERNAL"]);
        assert!(me.get("400").is_none(), "no parameter, no body: no 400");
        let book = &doc["paths"]["/api/v1/bookings"]["post"];
        assert_eq!(book["operationId"], "bookingBook");
        let codes: BTreeSet<String> = documented_codes(&book["responses"]["422"])
            .into_iter()
            .collect();
        assert!(codes.contains("IDEMPOTENCY_KEY_REUSED") && codes.contains("SLOT_TOO_SOON"));
        assert!(documented_codes(&book["responses"]["400"]).contains(&"INVALID_JSON".to_owned()));
        // Public, no parameters: only the 500.
        let jwks = &doc["paths"]["/.well-known/jwks.json"]["get"]["responses"];
        assert_eq!(documented_codes(&jwks["500"]), ["INTERNAL"]);
    }

    /// A query struct without `#[into_params(parameter_in = Query)]` is documented as path
    /// parameters that its path does not have: the SDK's types would then ask for them there.
    #[test]
    fn every_path_parameter_is_in_its_path_and_every_placeholder_is_documented() {
        let doc = document();
        for (method, path, op) in operations(&doc) {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                if p["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: `{name}` is documented in the path, which has no such placeholder"
                    );
                }
            }
            for placeholder in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                assert!(
                    params
                        .iter()
                        .any(|p| p["in"] == "path" && p["name"] == placeholder),
                    "{method} {path}: {{{placeholder}}} is not documented"
                );
            }
        }
    }

    #[test]
    fn codes_are_read_from_a_description_in_order_without_repeats() {
        assert_eq!(
            codes_named("SLOT_FULL, ALREADY_BOOKED (and SLOT_FULL again); POST /x, NOT_A_CODE"),
            [ErrorCode::SlotFull, ErrorCode::AlreadyBooked]
        );
    }

    #[test]
    fn operation_ids_are_unique_in_the_shape_the_sdk_documents() {
        let doc = document();
        let id = |method: &str, path: &str| {
            doc["paths"][path][method]["operationId"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(id("post", "/api/v1/auth/login"), "authLogin");
        assert_eq!(id("post", "/staff/v1/auth/login"), "staffLogin");
        assert_eq!(id("get", "/api/v1/me"), "meGetMe");
        assert_eq!(id("get", "/api/v1/tickets/{id}"), "queueGet");
        assert_eq!(id("post", "/staff/v1/halls"), "staffHallsCreate");
    }
}
