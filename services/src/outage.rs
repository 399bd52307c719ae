//! Which failures mean "a dependency is unreachable right now" rather than "something is wrong":
//! the database or the store refused, dropped or timed out a connection, or is failing over or
//! restarting. The gateway answers those 503 with `Retry-After` (the client tries again and it
//! works once the dependency is back); every other unexpected error stays a 500.

use sea_orm::{DbErr, RuntimeErr};

use crate::store::StoreError;

/// True when some cause in `error`'s chain is an outage of the database or the store.
pub fn is_outage(error: &anyhow::Error) -> bool {
    error.chain().any(cause_is_outage)
}

fn cause_is_outage(cause: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(e) = cause.downcast_ref::<StoreError>() {
        return e.is_unavailable();
    }
    if let Some(e) = cause.downcast_ref::<DbErr>() {
        return db_outage(e);
    }
    // An error that wraps a DbErr `#[error(transparent)]` hands on the DbErr's own source, so
    // the chain shows its RuntimeErr but never the DbErr itself.
    if let Some(RuntimeErr::SqlxError(e)) = cause.downcast_ref::<RuntimeErr>() {
        return sqlx_outage(e);
    }
    if let Some(e) = cause.downcast_ref::<sea_orm::sqlx::Error>() {
        return sqlx_outage(e);
    }
    false
}

fn db_outage(e: &DbErr) -> bool {
    match e {
        // No connection could be had or made (refused, reset, a server answering nothing or
        // garbage while it restarts, a pool that timed out): whatever sqlx says went wrong.
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => match runtime {
            RuntimeErr::SqlxError(e) => sqlx_outage(e),
            RuntimeErr::Internal(_) => false,
        },
        _ => false,
    }
}

fn sqlx_outage(e: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as E;
    match e {
        E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
        // PostgreSQL's connection exceptions (class 08), a server shutting down or starting
        // (57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now) and too many
        // connections (53300).
        E::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use anyhow::Context as _;
    use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

    use super::*;

    fn io(kind: std::io::ErrorKind) -> sea_orm::sqlx::Error {
        sea_orm::sqlx::Error::Io(std::io::Error::from(kind))
    }

    #[test]
    fn an_unreachable_database_is_an_outage_wherever_it_sits_in_the_chain() {
        let refused = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(io(
            std::io::ErrorKind::ConnectionRefused,
        ))));
        let wrapped: Result<(), DbErr> = Err(refused);
        let e = wrapped.context("insert booking").unwrap_err();
        assert!(is_outage(&e));
        let pool = anyhow::Error::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout));
        assert!(is_outage(&pool.context("take a seat")));
        let reset = DbErr::Query(RuntimeErr::SqlxError(Arc::new(io(
            std::io::ErrorKind::ConnectionReset,
        ))));
        assert!(is_outage(&anyhow::Error::from(reset)));
        // A relay that accepts and hangs up: sqlx reads no answer to its SSLRequest.
        let garbled = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".into()),
        )));
        assert!(is_outage(&anyhow::Error::from(garbled)));
    }

    #[derive(Debug, thiserror::Error)]
    enum Wrapper {
        #[error(transparent)]
        Database(#[from] DbErr),
    }

    #[test]
    fn a_database_error_wrapped_transparently_is_still_seen() {
        let reset = DbErr::Exec(RuntimeErr::SqlxError(Arc::new(io(
            std::io::ErrorKind::ConnectionReset,
        ))));
        let wrapped: Result<(), Wrapper> = Err(Wrapper::from(reset));
        let e = wrapped.context("notify the call").unwrap_err();
        assert!(is_outage(&e), "{e:#}");
    }

    #[test]
    fn a_database_error_that_is_not_about_reaching_it_is_not_an_outage() {
        assert!(!is_outage(&anyhow::Error::from(DbErr::RecordNotFound(
            "x".into()
        ))));
        let decode = DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::RowNotFound,
        )));
        assert!(!is_outage(&anyhow::Error::from(decode)));
        assert!(!is_outage(&anyhow::anyhow!("a bug")));
    }
}
