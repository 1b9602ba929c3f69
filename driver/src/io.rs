//! Numbers and small helpers both event loops use for their sockets.

use std::time::Duration;

/// Most buffers given to one vectored write (Linux's `IOV_MAX` is 1024; half of it keeps one
/// call's bookkeeping small).
pub const MAX_IOVECS: usize = 512;

/// How long a route dial may take before it counts as failed (`i/o timeout`, as Go says).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long shutdown waits for closing connections to flush what they hold.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);
