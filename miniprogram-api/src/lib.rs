//! The wire between the mini-program and the gateway: request and response bodies, the stable
//! error codes with the Chinese message a citizen sees, and the schemas of the OpenAPI document.
//!
//! Nothing here knows about the database or the domain; the gateway maps between these types and
//! the domain types of `services`. Field names are camelCase on the wire, as JavaScript expects.
//!
//! Two conventions hold across every module:
//! - A list answers an object whose array is named after what it lists, in the plural
//!   (`bookings`, `tickets`, `halls`, `applications`; `items` only for the catalogue's service
//!   items, 事项), as Google's API guide (AIP-132) has it: the name says what a client holds, and
//!   an object leaves room for `total`, `page` and `pageSize`, which every paged list carries.
//! - A moment is RFC 3339 in UTC with `Z` (`2026-11-25T01:00:00Z`), as serde writes a
//!   `DateTime<Utc>`; a day is `YYYY-MM-DD`. Text built by hand (an error's `until`) is written
//!   the same way.

pub mod applications;
pub mod auth;
pub mod booking;
pub mod bundles;
pub mod calendar;
pub mod catalogue;
pub mod error;
pub mod evaluations;
pub mod family;
pub mod halls;
pub mod licences;
pub mod me;
pub mod notify;
pub mod queue;
pub mod staff;

pub use error::{ErrorBody, ErrorCode};

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// The OpenAPI document names a schema after its Rust type (or its `#[schema(as = …)]`), and
    /// two types of one name in two modules silently become one schema: every reference then
    /// resolves to whichever was collected last. Every `ToSchema` type of the wire is here, so
    /// the names are checked across every module, present and future.
    #[test]
    fn no_two_wire_types_share_a_schema_name() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut files = 0;
        for entry in std::fs::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            for (name, at) in schema_names(&text) {
                names.entry(name).or_default().push(format!("{file}:{at}"));
            }
        }
        assert!(files >= 10, "read the wire's modules in {}", src.display());
        assert!(names.contains_key("ErrorBody") && names.contains_key("Material"));
        let twice: Vec<_> = names.iter().filter(|(_, at)| at.len() > 1).collect();
        assert!(
            twice.is_empty(),
            "one schema name for several types: {twice:?}"
        );
    }

    /// The schema names a module's `#[derive(… ToSchema …)]` types get, with their line.
    fn schema_names(text: &str) -> Vec<(String, usize)> {
        let mut found = Vec::new();
        let mut pending: Option<Option<String>> = None;
        // A derive list that rustfmt wrapped over several lines, until its `)]`.
        let mut derive: Option<String> = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with("#[derive(") || derive.is_some() {
                let list = derive.get_or_insert_with(String::new);
                list.push_str(line);
                if line.ends_with(")]") {
                    if list.contains("ToSchema") {
                        pending = Some(None);
                    }
                    derive = None;
                }
                continue;
            }
            let Some(renamed) = pending.as_mut() else {
                continue;
            };
            if let Some(rest) = line.strip_prefix("#[schema(as = ") {
                *renamed = rest.split([')', ',']).next().map(|s| s.trim().to_owned());
                continue;
            }
            let decl = ["pub struct ", "pub enum ", "struct ", "enum "]
                .iter()
                .find_map(|kw| line.strip_prefix(kw));
            if let Some(decl) = decl {
                let own: String = decl
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                let name = renamed.take().unwrap_or(own);
                let name = name.rsplit("::").next().unwrap_or_default().to_owned();
                found.push((name, n + 1));
                pending = None;
            }
        }
        found
    }
}
