//! Samples what the process uses (resident memory, CPU) for monitoring, as nats-server's
//! `/varz` reports `mem` and `cpu`. Read from `/proc` on Linux; zeros elsewhere.

use std::time::Instant;

use natrix_core::monitor::ProcessStats;

/// Clock ticks per second of `/proc/self/stat` times (Linux's USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;
/// Page size used by `/proc/self/statm`.
const PAGE_SIZE: u64 = 4096;

/// Remembers the last sample to turn CPU time into a percentage.
pub struct Sampler {
    last: Option<(Instant, u64)>,
    cores: u32,
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler {
            last: None,
            cores: std::thread::available_parallelism()
                .map(|n| n.get() as u32)
                .unwrap_or(1),
        }
    }

    /// The current figures; CPU is the share used since the previous call.
    pub fn sample(&mut self) -> ProcessStats {
        let rss_bytes = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
            .map(|pages| pages * PAGE_SIZE)
            .unwrap_or(0);
        let ticks = cpu_ticks().unwrap_or(0);
        let now = Instant::now();
        let cpu_percent = match self.last {
            Some((then, before)) => {
                let wall = now.duration_since(then).as_secs_f64();
                if wall > 0.0 {
                    let used = ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
                    ((used / wall) * 1000.0).round() / 10.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, ticks));
        ProcessStats {
            rss_bytes,
            cpu_percent,
            cores: self.cores,
        }
    }
}

/// User plus system time so far, in ticks (fields 14 and 15 of `/proc/self/stat`, counted
/// after the parenthesised command name, which may contain spaces).
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
