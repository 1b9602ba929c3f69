//! Back-pressure on fast publishers (nats-server's fast-producer stall).
//!
//! When a delivery leaves a subscriber with more than three quarters of `max_pending` unwritten,
//! the publisher whose message it was is paused: the core asks the runtime to stop reading its
//! socket ([`Output::PauseReading`]) once the current read has been handled. The pause ends when
//! every subscriber it waits on is back under the threshold, when that subscriber goes away, or
//! after [`STALL_LIMIT`], whichever is first. A subscriber that stays behind therefore still
//! reaches `max_pending` and is closed as a slow consumer, but one that is merely slower than
//! a burst gets the time to catch up instead of being cut off.

use std::cmp::Reverse;
use std::time::Duration;

use crate::ids::ConnId;
use crate::server::{ConnTimer, Output, Server};

/// The longest one pause lasts. nats-server 2.12+ stalls a producer for at most 10 ms per read
/// (older versions for up to a second, which let one stuck subscriber slow a publisher to a
/// crawl); short pauses are enough for a subscriber that is only briefly behind to catch up.
pub const STALL_LIMIT: Duration = Duration::from_millis(10);

impl Server {
    fn stall_threshold(&self) -> usize {
        self.config.max_pending / 4 * 3
    }

    /// After a delivery to `subscriber` from `publisher`: pause the publisher if the subscriber
    /// is far behind.
    pub(crate) fn note_backlog(&mut self, subscriber: ConnId, publisher: ConnId) {
        if self.config.no_fast_producer_stall || subscriber == publisher {
            return;
        }
        let threshold = self.stall_threshold();
        let Some(conn) = self.conn_mut(subscriber) else { return };
        if conn.out.pending() <= threshold {
            return;
        }
        // Only clients are stalled: pausing a route would stall every publisher behind it.
        if self.conn(publisher).is_some_and(|c| c.route.is_some()) {
            return;
        }
        let Some(conn) = self.conn_mut(subscriber) else { return };
        if !conn.stalled_producers.contains(&publisher) {
            conn.stalled_producers.push(publisher);
        }
        self.stall_requested = true;
    }

    /// Pauses reading from `id` (at the end of handling its current read).
    pub(crate) fn pause_reading(&mut self, id: ConnId) {
        let until = self.now + STALL_LIMIT;
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.paused_until.is_some() {
            return;
        }
        conn.paused_until = Some(until);
        self.conn_timers.push(Reverse((until, ConnTimer::StallEnd, id)));
        self.outputs.push_back(Output::PauseReading(id));
    }

    /// Resumes reading from `id` if it is paused.
    pub(crate) fn resume_reading(&mut self, id: ConnId) {
        let Some(conn) = self.conn_mut(id) else { return };
        if conn.paused_until.take().is_some() {
            self.outputs.push_back(Output::ResumeReading(id));
        }
    }

    /// After bytes to `subscriber` were written: release the publishers it held up, if it has
    /// caught up.
    pub(crate) fn on_drained(&mut self, subscriber: ConnId) {
        let threshold = self.stall_threshold();
        let Some(conn) = self.conn_mut(subscriber) else { return };
        if conn.stalled_producers.is_empty() || conn.out.pending() > threshold {
            return;
        }
        let producers = std::mem::take(&mut conn.stalled_producers);
        for producer in producers {
            let still_held = self
                .conns
                .iter()
                .any(|(_, c)| c.id != subscriber && c.stalled_producers.contains(&producer));
            if !still_held {
                self.resume_reading(producer);
            }
        }
    }
}
