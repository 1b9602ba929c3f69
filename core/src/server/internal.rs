//! Messages for the server itself: internal subscriptions, the queue of what they received,
//! and the one internal-publish path every reply the server sends takes.
//!
//! A message that matches an internal subscription is not handled while it is being
//! delivered: it waits in [`Server::internal`] until the input that carried it is done, and the
//! [`crate::Node`] hands it to the component that subscribed (monitoring for
//! `$SYS.REQ.SERVER...`; JetStream's API will come the same way). Components answer with
//! [`Server::publish_internal`]. Deferring keeps each component's view of the server whole (no
//! component reads the server half-way through delivering a message) and matches nats-server,
//! whose internal subscribers answer from their own goroutines.

use bytes::Bytes;

use super::Server;
use crate::account::{Internal, Subscriber, Subscription};
use crate::ids::{AccountId, SubKey};

/// The monitoring request kinds the server answers on `$SYS.REQ.SERVER.PING.<KIND>` and
/// `$SYS.REQ.SERVER.<id>.<KIND>` (nats-server subscribes to each by name, so a kind it does not
/// serve gets no responders).
pub const SERVER_REQUEST_KINDS: &[&str] = &[
    "STATSZ", "VARZ", "SUBSZ", "CONNZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "ACCOUNTZ", "JSZ", "HEALTHZ",
];

/// A message an internal subscription received, waiting for its component.
#[derive(Debug, Clone)]
pub struct InternalMessage {
    /// The component that subscribed.
    pub to: Internal,
    /// The account it was published in (where the answer goes).
    pub account: AccountId,
    /// Its subject.
    pub subject: Box<[u8]>,
    /// Where to answer (empty when the publisher gave no reply subject).
    pub reply: Box<[u8]>,
    /// The header block (empty when none).
    pub headers: Bytes,
    /// The payload (headers left out).
    pub body: Bytes,
}

impl Server {
    /// Subscribes the server to the monitoring requests it answers, in the system account (and
    /// drops such subscriptions from an account that no longer is the system account).
    pub(crate) fn configure_server_requests(&mut self) {
        for account in &mut self.accounts {
            let internal: Vec<_> = account
                .subs
                .iter()
                .filter(|(_, s)| s.subscriber == Subscriber::Internal(Internal::ServerRequests))
                .map(|(k, _)| SubKey(k as u32))
                .collect();
            for key in internal {
                account.unsubscribe(key);
            }
        }
        let Some(system) = self.system_account else { return };
        let mut subjects = vec!["$SYS.REQ.SERVER.PING".to_string()];
        for kind in SERVER_REQUEST_KINDS {
            subjects.push(format!("$SYS.REQ.SERVER.PING.{kind}"));
            subjects.push(format!("$SYS.REQ.SERVER.{}.{kind}", self.server_id));
        }
        for subject in subjects {
            let sub = Subscription::of(Subscriber::Internal(Internal::ServerRequests), subject.as_bytes(), None);
            // The subjects are literal and valid.
            let _ = self.accounts[system.0 as usize].subscribe(sub);
        }
    }

    /// Subscribes `to` to `subject` in `account` (JetStream's API and streams' subjects).
    pub(crate) fn subscribe_internal(&mut self, account: AccountId, subject: &[u8], to: Internal) {
        let Some(acc) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        let sub = Subscription::of(Subscriber::Internal(to), subject, None);
        // Stream subjects are checked valid when the stream is created.
        let _ = acc.subscribe(sub);
    }

    /// Drops every subscription of `to` in `account`.
    pub(crate) fn unsubscribe_internal(&mut self, account: AccountId, to: Internal) {
        let Some(acc) = self.accounts.get_mut(account.0 as usize) else {
            return;
        };
        let keys: Vec<_> = acc
            .subs
            .iter()
            .filter(|(_, s)| s.subscriber == Subscriber::Internal(to))
            .map(|(k, _)| SubKey(k as u32))
            .collect();
        for key in keys {
            acc.unsubscribe(key);
        }
    }

    /// The next message an internal subscription received, oldest first.
    pub(crate) fn take_internal(&mut self) -> Option<InternalMessage> {
        self.internal.pop_front()
    }
}
