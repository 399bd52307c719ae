//! Every request gets an id: taken from an incoming `X-Request-Id` when it is a sane token (so a
//! proxy's id carries through), minted otherwise. It is echoed in the response header, put on the
//! request's span (so on every log line) and in every error body.

use uuid::Uuid;

tokio::task_local! {
    static REQUEST_ID: String;
}

pub const HEADER: &str = "x-request-id";

/// The id of the request being served, or `-` outside of one.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// The incoming id if it is safe to log and echo, otherwise a new one.
pub fn from_header(value: Option<&str>) -> String {
    match value {
        Some(v)
            if !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            v.to_owned()
        }
        _ => Uuid::now_v7().simple().to_string(),
    }
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_safe_incoming_id_is_kept_and_anything_else_replaced() {
        assert_eq!(from_header(Some("abc-123_X")), "abc-123_X");
        for bad in ["", "a b", "<script>", &"x".repeat(65)] {
            let id = from_header(Some(bad));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32);
        }
        assert_eq!(from_header(None).len(), 32);
    }
}
