//! Logging through `tracing`, written in nats-server's format:
//! `[pid] 2006/01/02 15:04:05.000000 [INF] message`.
//!
//! Everything the server logs (the core's `Output::Log` lines and the binary's own) is emitted
//! as a `tracing` event with [`emit`]; the [`NatsFormat`] layer filters events by nats-server's
//! levels (`-D` debug, `-V` trace) and writes them through the [`Logger`]. Timestamps are UTC
//! (nats-server prints local time; on servers, which usually run in UTC, the two agree). Levels
//! and the output file can change while running: a reload sets the levels, SIGUSR1 reopens the
//! file (for log rotation).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use natrix_core::Level;

/// Writes formatted log lines to stderr or a file.
pub struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    file: Option<String>,
    pid: u32,
    logtime: AtomicBool,
    debug: AtomicBool,
    trace: AtomicBool,
}

fn open(file: Option<&str>) -> io::Result<Box<dyn Write + Send>> {
    Ok(match file {
        Some(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        None => Box::new(io::stderr()),
    })
}

impl Logger {
    /// A logger writing to `file`, or stderr when `None`.
    pub fn new(file: Option<&str>, logtime: bool, debug: bool, trace: bool) -> io::Result<Arc<Logger>> {
        Ok(Arc::new(Logger {
            out: Mutex::new(open(file)?),
            file: file.map(str::to_string),
            pid: std::process::id(),
            logtime: AtomicBool::new(logtime),
            debug: AtomicBool::new(debug),
            trace: AtomicBool::new(trace),
        }))
    }

    /// Changes what is logged (after a configuration reload).
    pub fn set_levels(&self, logtime: bool, debug: bool, trace: bool) {
        self.logtime.store(logtime, Ordering::Relaxed);
        self.debug.store(debug, Ordering::Relaxed);
        self.trace.store(trace, Ordering::Relaxed);
    }

    /// Reopens the log file, so a rotated file is let go of (SIGUSR1).
    pub fn reopen(&self) -> io::Result<()> {
        let fresh = open(self.file.as_deref())?;
        if let Ok(mut out) = self.out.lock() {
            *out = fresh;
        }
        Ok(())
    }

    /// Writes one line at `level`, if that level is enabled.
    pub fn log(&self, level: Level, message: &str) {
        if (level == Level::Debug && !self.debug.load(Ordering::Relaxed))
            || (level == Level::Trace && !self.trace.load(Ordering::Relaxed))
        {
            return;
        }
        let line = if self.logtime.load(Ordering::Relaxed) {
            format!(
                "[{}] {} {} {}\n",
                self.pid,
                timestamp(SystemTime::now()),
                level.tag(),
                message
            )
        } else {
            format!("[{}] {} {}\n", self.pid, level.tag(), message)
        };
        if let Ok(mut out) = self.out.lock() {
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// Emits one log line as a `tracing` event at nats-server's `level`.
pub fn emit(level: Level, message: &str) {
    match level {
        Level::Fatal => tracing::error!(fatal = true, "{message}"),
        Level::Error => tracing::error!("{message}"),
        Level::Warn => tracing::warn!("{message}"),
        Level::Info => tracing::info!("{message}"),
        Level::Debug => tracing::debug!("{message}"),
        Level::Trace => tracing::trace!("{message}"),
    }
}

/// Installs the [`NatsFormat`] layer over `logger` as the process's `tracing` subscriber.
pub fn install(logger: Arc<Logger>) {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(NatsFormat { logger });
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// A `tracing` layer that writes events as nats-server log lines.
pub struct NatsFormat {
    logger: Arc<Logger>,
}

/// Collects an event's message and whether it is fatal.
#[derive(Default)]
struct Fields {
    message: String,
    fatal: bool,
}

impl tracing::field::Visit for Fields {
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        if field.name() == "fatal" {
            self.fatal = value;
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message.push_str(&format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NatsFormat {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR if fields.fatal => Level::Fatal,
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::TRACE => Level::Trace,
        };
        self.logger.log(level, &fields.message);
    }
}

/// `YYYY/MM/DD HH:MM:SS.micros` in UTC.
fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}/{month:02}/{day:02} {:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_838_400_123_456);
        assert_eq!(timestamp(t), "2026/11/28 04:00:00.123456");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
