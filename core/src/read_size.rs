//! How much a runtime should try to read from a connection next.
//!
//! An idle connection should cost little memory, a busy one should be read in large gulps so the
//! per-read overhead (a syscall, and in the tokio runtime a hand-off between tasks) is spread over
//! many messages. Like nats-server's read loop, the size starts small, doubles whenever a read
//! fills it, and halves after a run of reads that used less than half of it. Both runtimes use
//! this, so they size reads the same way.

/// The smallest read size, and the first.
pub const MIN_READ: usize = 512;
/// The largest read size.
pub const MAX_READ: usize = 256 * 1024;
/// Short reads in a row before the size halves.
const SHRINK_AFTER: u8 = 4;

/// Tracks one connection's read size. See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadSizer {
    size: usize,
    short_reads: u8,
}

impl Default for ReadSizer {
    fn default() -> Self {
        ReadSizer {
            size: MIN_READ,
            short_reads: 0,
        }
    }
}

impl ReadSizer {
    /// How many bytes to offer the next read.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Records that a read returned `n` bytes.
    pub fn record(&mut self, n: usize) {
        if n >= self.size {
            self.size = (self.size * 2).min(MAX_READ);
            self.short_reads = 0;
        } else if n < self.size / 2 {
            self.short_reads += 1;
            if self.short_reads >= SHRINK_AFTER {
                self.size = (self.size / 2).max(MIN_READ);
                self.short_reads = 0;
            }
        } else {
            self.short_reads = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_when_full_and_shrinks_when_idle() {
        let mut sizer = ReadSizer::default();
        assert_eq!(sizer.size(), MIN_READ);
        for _ in 0..20 {
            let full = sizer.size();
            sizer.record(full);
        }
        assert_eq!(sizer.size(), MAX_READ);
        for _ in 0..3 {
            sizer.record(10);
        }
        assert_eq!(sizer.size(), MAX_READ, "a few short reads do not shrink it");
        sizer.record(10);
        assert_eq!(sizer.size(), MAX_READ / 2);
        for _ in 0..100 {
            sizer.record(10);
        }
        assert_eq!(sizer.size(), MIN_READ);
    }
}
