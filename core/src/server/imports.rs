//! Traffic between accounts: stream and service imports (nats-server's accounts.go and the
//! service import handling in client.go).
//!
//! A stream import is a subscription the server holds in the exporting account; what it
//! matches is delivered to the importing account's subscribers under the importer's subject.
//! A service import maps requests published in the importing account to the exporter's
//! subject, with a reply subject the server makes up (`_R_.<prefix>.<random>`) and remembers
//! in the exporter, so the response finds its way back to the requester's own reply subject.

use std::collections::HashMap;

use crate::account::{AccountId, ResponseRoute, ServiceImport, StreamForward, Subscriber, Subscription};
use crate::auth::settings::{ExportKind, ResponseType};
use crate::server::Server;
use crate::subject;

/// Most account boundaries one message may cross, so import cycles cannot loop.
pub(crate) const MAX_HOPS: u8 = 4;

/// Rewrites `subject`, matched by `from`, into `to`: the tokens `from`'s wildcards matched fill
/// `to`'s wildcards in order; everything else comes from `to`.
pub(crate) fn map_subject(subject_: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from == to {
        return subject_.to_vec();
    }
    let tokens: Vec<&[u8]> = subject::tokens(subject_).collect();
    let mut captures: Vec<Vec<u8>> = Vec::new();
    for (i, pattern) in subject::tokens(from).enumerate() {
        if pattern == subject::SINGLE_WILDCARD {
            captures.push(tokens.get(i).map(|t| t.to_vec()).unwrap_or_default());
        } else if pattern == subject::FULL_WILDCARD {
            captures.push(tokens.get(i..).map(|rest| rest.join(&b'.')).unwrap_or_default());
            break;
        }
    }
    let captured = captures.clone();
    let mut captures = captures.into_iter();
    let mut out = Vec::with_capacity(to.len() + subject_.len());
    for (i, token) in subject::tokens(to).enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        let position = token
            .strip_prefix(b"$")
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1 && n <= captured.len());
        if let Some(n) = position {
            out.extend_from_slice(&captured[n - 1]);
        } else if token == subject::SINGLE_WILDCARD || token == subject::FULL_WILDCARD {
            out.extend_from_slice(&captures.next().unwrap_or_else(|| token.to_vec()));
        } else {
            out.extend_from_slice(token);
        }
    }
    out
}

impl Server {
    /// Rebuilds every account's imports from the configuration.
    pub(crate) fn configure_imports(&mut self, ids: &HashMap<String, AccountId>) {
        // Forget the old stream forwarding subscriptions and service imports.
        for account in &mut self.accounts {
            let forwards: Vec<_> = account
                .subs
                .iter()
                .filter(|(_, s)| matches!(s.subscriber, Subscriber::Import(_)))
                .map(|(k, _)| crate::ids::SubKey(k as u32))
                .collect();
            for key in forwards {
                account.unsubscribe(key);
            }
            account.service_imports.clear();
            account.service_index = Default::default();
        }
        let specs = self.config.accounts.clone();
        for spec in &specs {
            let Some(&importer) = ids.get(&spec.name) else { continue };
            for import in &spec.imports {
                let Some(&exporter) = ids.get(&import.account) else {
                    continue;
                };
                let export = specs
                    .iter()
                    .find(|s| s.name == import.account)
                    .and_then(|s| {
                        s.exports.iter().find(|e| {
                            e.kind == import.kind
                                && crate::auth::permissions::is_subset(import.subject.as_bytes(), e.subject.as_bytes())
                        })
                    })
                    .cloned();
                // Validation refused files with unauthorized imports; a missing export here means
                // nothing to wire.
                let Some(export) = export else { continue };
                match import.kind {
                    ExportKind::Stream => {
                        let forward = Subscriber::Import(Box::new(StreamForward {
                            to: importer,
                            from_subject: import.subject.as_bytes().into(),
                            to_subject: import.local_subject.as_bytes().into(),
                        }));
                        let sub = Subscription::of(forward, import.subject.as_bytes(), None);
                        let _ = self.accounts[exporter.0 as usize].subscribe(sub);
                    }
                    ExportKind::Service => {
                        let account = &mut self.accounts[importer.0 as usize];
                        let index = account.service_imports.len() as u32;
                        account.service_imports.push(ServiceImport {
                            from: exporter,
                            local_subject: import.local_subject.as_bytes().into(),
                            export_subject: import.subject.as_bytes().into(),
                            response_type: export.response_type,
                            threshold: export.response_threshold,
                        });
                        let _ = account
                            .service_index
                            .insert(import.local_subject.as_bytes(), None, index);
                    }
                }
            }
        }
    }

    /// The service import a publish in `account` to `subject` goes through, if any.
    pub(crate) fn service_import_for(&mut self, account: AccountId, subject_: &[u8]) -> Option<ServiceImport> {
        let acc = &mut self.accounts[account.0 as usize];
        if acc.service_imports.is_empty() {
            return None;
        }
        let result = acc.service_index.matches(subject_);
        let index = *result.plain.first()?;
        acc.service_imports.get(index as usize).cloned()
    }

    /// Appends six random base-62 characters, the shape of each part of a made-up reply.
    pub(crate) fn push_reply_token(&mut self, out: &mut Vec<u8>) {
        for _ in 0..6 {
            out.push(self.rng.alphanumeric());
        }
    }

    /// Makes up the reply subject for a request crossing `import` from `requester`
    /// (`_R_.<exporter's prefix>.<6 random>`), and remembers in the exporter where its
    /// responses go.
    pub(crate) fn new_response_route(&mut self, requester: AccountId, import: &ServiceImport, reply: &[u8]) -> Vec<u8> {
        let mut subject_ = self.accounts[import.from.0 as usize].reply_prefix.to_vec();
        self.push_reply_token(&mut subject_);
        let now = self.now;
        let expires = now + import.threshold;
        let exporter = &mut self.accounts[import.from.0 as usize];
        exporter.expire_responses(now);
        let key: Box<[u8]> = subject_.clone().into_boxed_slice();
        exporter.responses.insert(
            key.clone(),
            ResponseRoute {
                to: requester,
                reply: reply.into(),
                singleton: import.response_type == ResponseType::Singleton,
                expires,
                threshold: import.threshold,
            },
        );
        exporter.response_order.push_back((expires, key));
        subject_
    }

    /// Where a publish to `subject` in `account` goes if it answers a forwarded request.
    pub(crate) fn response_route(&mut self, account: AccountId, subject_: &[u8]) -> Option<ResponseRoute> {
        let now = self.now;
        let acc = &mut self.accounts[account.0 as usize];
        if acc.responses.is_empty() || !subject_.starts_with(b"_R_.") {
            return None;
        }
        let route = acc.responses.get(subject_)?.clone();
        if route.expires <= now {
            acc.responses.remove(subject_);
            return None;
        }
        Some(route)
    }

    /// After a response went through `route`: a singleton mapping is used up, and so is any
    /// whose response found nobody or (for streams and chunks) was the empty end marker;
    /// otherwise a stream's mapping lives on for another threshold.
    pub(crate) fn finish_response(&mut self, account: AccountId, subject_: &[u8], delivered: bool, end_marker: bool) {
        let now = self.now;
        let acc = &mut self.accounts[account.0 as usize];
        let Some(route) = acc.responses.get_mut(subject_) else {
            return;
        };
        if route.singleton || !delivered || end_marker {
            acc.responses.remove(subject_);
            return;
        }
        route.expires = now + route.threshold;
        let expires = route.expires;
        acc.response_order.push_back((expires, subject_.into()));
    }

    /// Forgets a response mapping whose request reached nobody.
    pub(crate) fn drop_response_route(&mut self, exporter: AccountId, subject_: &[u8]) {
        self.accounts[exporter.0 as usize].responses.remove(subject_);
    }
}

#[cfg(test)]
mod tests {
    use super::map_subject;

    #[test]
    fn subject_mapping() {
        assert_eq!(map_subject(b"foo.bar", b"foo.bar", b"foo.bar"), b"foo.bar");
        assert_eq!(map_subject(b"foo.bar", b"foo.>", b"p.foo.>"), b"p.foo.bar");
        assert_eq!(map_subject(b"foo.a.b", b"foo.>", b"p.foo.>"), b"p.foo.a.b");
        assert_eq!(map_subject(b"req.x", b"req.*", b"svc.*"), b"svc.x");
        assert_eq!(map_subject(b"help", b"help", b"support.help"), b"support.help");
        assert_eq!(map_subject(b"a.1.b.2", b"a.*.b.*", b"x.*.*"), b"x.1.2");
        assert_eq!(map_subject(b"w.one.two", b"w.*.*", b"wc.$2.$1"), b"wc.two.one");
    }
}
