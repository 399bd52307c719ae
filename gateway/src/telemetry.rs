//! Logs: one JSON object per line (or human-readable in the demo), with the request's span, and
//! so its `request_id`, on every line written while serving it.

use tracing::Subscriber;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::configuration::LogFormat;

/// A subscriber writing to `writer`. `RUST_LOG` overrides `filter`.
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // `Targets` (levels per module) rather than `EnvFilter`: no per-span bookkeeping on the hot
    // path. A `RUST_LOG` it cannot read is ignored for the configured filter.
    let configured = filter
        .parse::<Targets>()
        .unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or(configured);
    // actix-http's ERROR for a head that does not parse is the client's mistake; it is answered
    // and logged as a warning by `crate::malformed`.
    let registry = Registry::default()
        .with(filter)
        .with(crate::malformed::QuietParseErrors);
    match format {
        LogFormat::Json => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(writer),
            ),
        ),
        LogFormat::Pretty => Box::new(
            registry.with(
                tracing_subscriber::fmt::layer()
                    .compact()
                    .with_writer(writer),
            ),
        ),
    }
}

/// Installs the process-wide subscriber writing to stdout through a background thread, so a slow
/// terminal or pipe never stalls a request. Keep the guard alive: dropping it flushes the logs.
///
/// # Errors
/// A subscriber is already installed.
pub fn init(
    format: LogFormat,
    filter: &str,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stdout());
    tracing::subscriber::set_global_default(subscriber(format, filter, writer))?;
    Ok(guard)
}
