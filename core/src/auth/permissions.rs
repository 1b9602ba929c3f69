//! A client's compiled permissions: allow and deny lists as sublists, checked on every publish
//! and subscribe, plus the reply subjects `allow_responses` lets it answer.
//!
//! The rules are nats-server's (client.go: pubAllowedFullCheck, canSubscribe): a missing allow
//! list allows everything, a deny wins over an allow, a queue subscription is checked against
//! `subject queue` entries too, and a wildcard subscription that overlaps a deny entry is
//! allowed but never delivered the denied subjects.

use std::collections::HashMap;
use std::time::Duration;

use crate::auth::settings::{Permissions, ResponsePermission, SubjectPermission};
use crate::subject;
use crate::sublist::Sublist;
use crate::time::Instant;

/// One compiled allow or deny list.
struct List {
    index: Sublist<()>,
    /// The entries' subjects, for overlap checks with wildcard subscriptions.
    subjects: Vec<Box<[u8]>>,
}

impl List {
    fn new(entries: &[String]) -> Self {
        let mut index = Sublist::new();
        let mut subjects = Vec::new();
        for entry in entries {
            let mut parts = entry.split_whitespace();
            let Some(subject) = parts.next() else { continue };
            let queue = parts.next();
            // Entries were validated when the file was read.
            let _ = index.insert(subject.as_bytes(), queue.map(str::as_bytes), ());
            subjects.push(subject.as_bytes().into());
        }
        List { index, subjects }
    }

    /// Whether a plain entry matches `subject`.
    fn matches_plain(&mut self, subject: &[u8]) -> bool {
        !self.index.matches(subject).plain.is_empty()
    }
}

struct Rules {
    allow: Option<List>,
    deny: Option<List>,
}

impl Rules {
    fn new(perm: Option<&SubjectPermission>) -> Option<Self> {
        let perm = perm?;
        if perm.allow.is_none() && perm.deny.is_none() {
            return None;
        }
        Some(Rules {
            allow: perm.allow.as_deref().map(List::new),
            deny: perm.deny.as_deref().map(List::new),
        })
    }
}

/// A reply subject this client received with a request and may answer.
struct Reply {
    received: Instant,
    sent: i64,
}

/// Bound on remembered reply subjects before expired ones are pruned.
const REPLY_PRUNE_AT: usize = 10_000;

/// Permissions as one client holds them.
pub struct ClientPermissions {
    publish: Option<Rules>,
    subscribe: Option<Rules>,
    response: Option<ResponsePermission>,
    replies: HashMap<Box<[u8]>, Reply>,
    /// Set once the client holds a wildcard subscription that overlaps a deny entry: deliveries
    /// are then checked against the deny list.
    pub(crate) filter_deliveries: bool,
}

impl ClientPermissions {
    /// Compiles `perms`.
    pub fn new(perms: &Permissions) -> Self {
        ClientPermissions {
            publish: Rules::new(perms.publish.as_ref()),
            subscribe: Rules::new(perms.subscribe.as_ref()),
            response: perms.response,
            replies: HashMap::new(),
            filter_deliveries: false,
        }
    }

    /// Whether the client may publish to `subject` now; answering a reply subject it was sent
    /// uses up one of that reply's allowed responses.
    pub fn may_publish(&mut self, subject: &[u8], now: Instant) -> bool {
        let Some(rules) = &mut self.publish else { return true };
        let mut allowed = rules.allow.as_mut().is_none_or(|allow| allow.matches_plain(subject));
        if allowed {
            if let Some(deny) = &mut rules.deny {
                allowed = !deny.matches_plain(subject);
            }
        }
        if allowed {
            return true;
        }
        let Some(resp) = self.response else { return false };
        let Some(reply) = self.replies.get_mut(subject) else {
            return false;
        };
        reply.sent += 1;
        let too_many = resp.max_msgs > 0 && reply.sent > resp.max_msgs;
        let expired = resp.expires > Duration::ZERO && now.saturating_duration_since(reply.received) > resp.expires;
        if too_many || expired {
            self.replies.remove(subject);
            return false;
        }
        true
    }

    /// Whether the client may subscribe to `subject` (in `queue`).
    pub fn may_subscribe(&mut self, subject_: &[u8], queue: Option<&[u8]>) -> bool {
        let Some(rules) = &mut self.subscribe else { return true };
        let mut allowed = true;
        if let Some(allow) = &mut rules.allow {
            let result = allow.index.matches(subject_);
            allowed = !result.plain.is_empty();
            if let Some(queue) = queue {
                if !result.queues.is_empty() {
                    allowed = queue_matches(queue, &result.queues);
                }
            }
        }
        if allowed {
            if let Some(deny) = &mut rules.deny {
                let result = deny.index.matches(subject_);
                allowed = result.plain.is_empty();
                if let Some(queue) = queue.filter(|_| allowed) {
                    if !result.queues.is_empty() {
                        allowed = !queue_matches(queue, &result.queues);
                    }
                }
                // A wildcard or queue subscription that may see denied subjects is allowed, but
                // its deliveries are filtered (nats-server's loadMsgDenyFilterIfNeeded).
                if allowed && !self.filter_deliveries && (queue.is_some() || subject::has_wildcard(subject_)) {
                    self.filter_deliveries = deny.subjects.iter().any(|d| collide(d, subject_));
                }
            }
        }
        allowed
    }

    /// Whether a message on `subject` may be delivered to this client (only consulted when
    /// `filter_deliveries` is set).
    pub fn may_receive(&mut self, subject: &[u8]) -> bool {
        match self.subscribe.as_mut().and_then(|r| r.deny.as_mut()) {
            Some(deny) => !deny.matches_plain(subject),
            None => true,
        }
    }

    /// Whether the client tracks reply subjects of what it receives.
    pub fn tracks_replies(&self) -> bool {
        self.response.is_some()
    }

    /// Remembers a reply subject delivered to the client, which it may then answer.
    pub fn record_reply(&mut self, reply: &[u8], now: Instant) {
        if self.replies.len() >= REPLY_PRUNE_AT {
            if let Some(resp) = self.response {
                self.replies.retain(|_, r| {
                    (resp.max_msgs <= 0 || r.sent < resp.max_msgs)
                        && (resp.expires == Duration::ZERO || now.saturating_duration_since(r.received) <= resp.expires)
                });
            }
            if self.replies.len() >= REPLY_PRUNE_AT {
                self.replies.clear();
            }
        }
        self.replies.insert(reply.into(), Reply { received: now, sent: 0 });
    }
}

/// Whether `queue` is one of the matched queue entries (which may themselves be wildcards).
fn queue_matches(queue: &[u8], groups: &[crate::sublist::QueueMatch<()>]) -> bool {
    groups.iter().any(|g| {
        if subject::has_wildcard(&g.name) {
            is_subset(queue, &g.name)
        } else {
            *g.name == *queue
        }
    })
}

/// Whether some subject matches both patterns.
pub fn collide(a: &[u8], b: &[u8]) -> bool {
    let mut a = subject::tokens(a);
    let mut b = subject::tokens(b);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == subject::FULL_WILDCARD || y == subject::FULL_WILDCARD => return true,
            (Some(x), Some(y)) if x == subject::SINGLE_WILDCARD || y == subject::SINGLE_WILDCARD || x == y => continue,
            _ => return false,
        }
    }
}

/// Whether everything `inner` matches is also matched by `outer` (both may hold wildcards).
pub fn is_subset(inner: &[u8], outer: &[u8]) -> bool {
    let mut a = subject::tokens(inner);
    let mut b = subject::tokens(outer);
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (_, Some(o)) if o == subject::FULL_WILDCARD => return true,
            (Some(i), Some(o)) if o == subject::SINGLE_WILDCARD && i != subject::FULL_WILDCARD => continue,
            (Some(i), Some(o)) if i == o => continue,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perm(allow: Option<&[&str]>, deny: Option<&[&str]>) -> Option<SubjectPermission> {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Some(SubjectPermission {
            allow: allow.map(list),
            deny: deny.map(list),
        })
    }

    #[test]
    fn publish_allow_and_deny() {
        let mut p = ClientPermissions::new(&Permissions {
            publish: perm(Some(&["foo.>", "bar"]), Some(&["foo.secret"])),
            ..Permissions::default()
        });
        let now = Instant::ZERO;
        assert!(p.may_publish(b"foo.x", now));
        assert!(p.may_publish(b"bar", now));
        assert!(!p.may_publish(b"baz", now));
        assert!(!p.may_publish(b"foo.secret", now));
        let mut open = ClientPermissions::new(&Permissions::default());
        assert!(open.may_publish(b"anything", now));
    }

    #[test]
    fn subscribe_queues_and_wildcards() {
        let mut p = ClientPermissions::new(&Permissions {
            subscribe: perm(Some(&["foo.*", "jobs workers", "q.* g.*"]), Some(&["foo.bad"])),
            ..Permissions::default()
        });
        assert!(p.may_subscribe(b"foo.a", None));
        assert!(!p.filter_deliveries);
        assert!(p.may_subscribe(b"foo.*", None));
        assert!(p.filter_deliveries, "foo.* overlaps the deny entry foo.bad");
        // nats-server matches a subscription's tokens literally against the allow list, so the
        // allow entry's `*` covers the `>` token.
        assert!(p.may_subscribe(b"foo.>", None));
        assert!(!p.may_subscribe(b"bar.>", None));
        assert!(!p.may_subscribe(b"foo.bad", None));
        assert!(p.may_subscribe(b"foo.*", Some(b"any")));
        assert!(!p.may_receive(b"foo.bad"));
        assert!(p.may_receive(b"foo.good"));
        assert!(p.may_subscribe(b"jobs", Some(b"workers")));
        assert!(!p.may_subscribe(b"jobs", Some(b"others")));
        assert!(!p.may_subscribe(b"jobs", None));
        assert!(p.may_subscribe(b"q.x", Some(b"g.1")));
        assert!(!p.may_subscribe(b"q.x", Some(b"h.1")));
    }

    #[test]
    fn responses() {
        let mut p = ClientPermissions::new(&Permissions {
            publish: perm(Some(&[]), None),
            response: Some(ResponsePermission {
                max_msgs: 2,
                expires: Duration::from_secs(1),
            }),
            ..Permissions::default()
        });
        let t0 = Instant::ZERO;
        assert!(!p.may_publish(b"_INBOX.1", t0));
        p.record_reply(b"_INBOX.1", t0);
        assert!(p.may_publish(b"_INBOX.1", t0));
        assert!(p.may_publish(b"_INBOX.1", t0));
        assert!(!p.may_publish(b"_INBOX.1", t0), "max 2 responses");
        p.record_reply(b"_INBOX.2", t0);
        assert!(!p.may_publish(b"_INBOX.2", t0 + Duration::from_secs(2)), "expired");
    }

    #[test]
    fn subsets() {
        assert!(is_subset(b"foo.bar", b"foo.*"));
        assert!(is_subset(b"foo.*", b"foo.>"));
        assert!(is_subset(b"foo.bar.baz", b">"));
        assert!(!is_subset(b"foo.>", b"foo.*"));
        assert!(!is_subset(b"foo", b"foo.*"));
        assert!(!is_subset(b"bar.x", b"foo.*"));
        assert!(collide(b"foo.*", b"*.bar"));
        assert!(collide(b"foo.>", b"foo.a.b"));
        assert!(!collide(b"foo.>", b"foo"));
        assert!(!collide(b"foo.*", b"bar.*"));
    }
}
