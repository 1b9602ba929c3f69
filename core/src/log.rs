//! Log levels and where log lines go: a leaf module, so every part of the core can log without
//! importing the server.

/// Log severity, as nats-server labels its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `[FTL]`: the server cannot go on.
    Fatal,
    /// `[ERR]`
    Error,
    /// `[WRN]`
    Warn,
    /// `[INF]`
    Info,
    /// `[DBG]`: only when debug is on.
    Debug,
    /// `[TRC]`: only when trace is on.
    Trace,
}

impl Level {
    /// The tag nats-server prints.
    pub fn tag(self) -> &'static str {
        match self {
            Level::Fatal => "[FTL]",
            Level::Error => "[ERR]",
            Level::Warn => "[WRN]",
            Level::Info => "[INF]",
            Level::Debug => "[DBG]",
            Level::Trace => "[TRC]",
        }
    }
}

/// Where a runtime sends `Output::Log` lines: the binary formats and writes them.
pub type LogSink = std::sync::Arc<dyn Fn(Level, &str) + Send + Sync>;
