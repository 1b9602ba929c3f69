//! SIGINT and SIGTERM for every runtime: a thread waits for them and calls back, so neither
//! runtime needs its own signal handling.

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Calls `on_signal` with Go's name for the signal ("interrupt", "terminated") the first time
/// SIGINT or SIGTERM arrives.
pub fn on_shutdown_signal(on_signal: impl FnOnce(&'static str) + Send + 'static) -> std::io::Result<()> {
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".to_string()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            on_signal(if signal == SIGTERM { "terminated" } else { "interrupt" });
        }
    })?;
    Ok(())
}
