//! Start-up: the JetStream log lines, then every stream read back from the store through IO
//! requests (accounts' directories, each stream's metadata and segments), rebuilt, checked
//! (damage is reported, never served) and subscribed. API requests that arrive meanwhile wait.

use std::collections::BTreeMap;

use bytes::Bytes;
use natrix_store::io::{IoCompletion, IoErrorKind, IoOutcome, IoRequest, StorePath};
use natrix_store::stream::StreamStore;

use super::stream::{store_config, Stream};
use super::{JetStream, Meta, Owner};
use crate::ids::AccountId;
use crate::log::Level;

/// What a recovery request was for.
#[derive(Debug, Clone)]
pub enum Step {
    /// The store's top directory: accounts.
    Accounts,
    /// An account's streams.
    Streams(AccountId),
    /// A stream's metadata.
    Meta(AccountId, String),
    /// A stream's segment names.
    Segments(AccountId, String),
    /// One segment.
    Segment(AccountId, String, u32),
}

/// What recovery has read so far.
#[derive(Debug, Default)]
pub struct Recovery {
    pending: usize,
    found: BTreeMap<(AccountId, String), Found>,
}

#[derive(Debug, Default)]
struct Found {
    meta: Option<Bytes>,
    segments: Vec<(u32, Bytes)>,
}

/// `1.00 GB`-style sizes, as nats-server's `friendlyBytes` writes them.
pub fn friendly_bytes(bytes: i64) -> String {
    let value = bytes as f64;
    if value < 1024.0 {
        return format!("{value} B");
    }
    let exp = (value.ln() / 1024f64.ln()) as i32;
    let prefix = ["K", "M", "G", "T", "P", "E"][(exp - 1).clamp(0, 5) as usize];
    format!("{:.2} {prefix}B", value / 1024f64.powi(exp))
}

fn stream_dir(account: &str, name: &str) -> Option<StorePath> {
    StorePath::new(account)
        .and_then(|a| a.join("streams"))
        .and_then(|s| s.join(name))
        .ok()
}

impl JetStream {
    /// Starts JetStream at wall-clock `now`: the start-up lines, then recovery.
    pub fn start(&mut self, now: i64) {
        self.last_now = now;
        self.log(Level::Info, "Starting JetStream");
        if self.settings.temporary {
            self.log(
                Level::Warn,
                "Temporary storage directory used, data could be lost on system reboot",
            );
        }
        for line in [
            "    _ ___ _____ ___ _____ ___ ___   _   __  __",
            " _ | | __|_   _/ __|_   _| _ \\ __| /_\\ |  \\/  |",
            "| || | _|  | | \\__ \\ | | |   / _| / _ \\| |\\/| |",
            " \\__/|___| |_| |___/ |_| |_|_\\___/_/ \\_\\_|  |_|",
            "",
            "         https://docs.nats.io/jetstream",
            "",
            "---------------- JETSTREAM ----------------",
        ] {
            self.log(Level::Info, line);
        }
        if self.settings.strict {
            self.log(Level::Info, "  Strict:          true");
        }
        let memory = friendly_bytes(self.settings.max_memory);
        let storage = friendly_bytes(self.settings.max_store);
        let dir = self.settings.store_dir.clone();
        self.log(Level::Info, format!("  Max Memory:      {memory}"));
        self.log(Level::Info, format!("  Max Storage:     {storage}"));
        self.log(Level::Info, format!("  Store Directory: \"{dir}\""));
        if let Some(domain) = self.settings.domain.clone() {
            self.log(Level::Info, format!("  Domain:          {domain}"));
        }
        self.log(Level::Info, "-------------------------------------------");
        self.recovery = Some(Recovery {
            pending: 1,
            ..Recovery::default()
        });
        self.io(Owner::Recovery(Step::Accounts), IoRequest::List { dir: None });
    }

    fn recovery_io(&mut self, step: Step, request: IoRequest) {
        if let Some(recovery) = self.recovery.as_mut() {
            recovery.pending += 1;
        }
        self.io(Owner::Recovery(step), request);
    }

    /// A recovery request finished.
    pub(super) fn recovered_step(&mut self, now: i64, step: Step, completion: IoCompletion) {
        let outcome = match completion.result {
            Ok(outcome) => Some(outcome),
            Err(error) if error.kind == IoErrorKind::NotFound => None,
            Err(error) => {
                self.log(
                    Level::Error,
                    format!("JetStream could not read its store ({step:?}): {error}"),
                );
                None
            }
        };
        match (step, outcome) {
            (Step::Accounts, Some(IoOutcome::Names(names))) => {
                let accounts: Vec<(AccountId, String)> = self
                    .accounts
                    .iter()
                    .filter(|(_, name)| names.contains(name))
                    .map(|(id, name)| (*id, name.clone()))
                    .collect();
                for (id, name) in accounts {
                    if let Ok(dir) = StorePath::new(&name).and_then(|a| a.join("streams")) {
                        self.recovery_io(Step::Streams(id), IoRequest::List { dir: Some(dir) });
                    }
                }
            }
            (Step::Streams(account), Some(IoOutcome::Names(names))) => {
                let account_name = self.account_name(account);
                for name in names {
                    let Some(dir) = stream_dir(&account_name, &name) else {
                        continue;
                    };
                    if let (Ok(meta), Ok(msgs)) = (dir.join("meta.json"), dir.join("msgs")) {
                        self.recovery_io(
                            Step::Meta(account, name.clone()),
                            IoRequest::Read {
                                path: meta,
                                offset: 0,
                                len: usize::MAX,
                            },
                        );
                        self.recovery_io(Step::Segments(account, name), IoRequest::List { dir: Some(msgs) });
                    }
                }
            }
            (Step::Meta(account, name), Some(IoOutcome::Data(data))) => {
                if let Some(recovery) = self.recovery.as_mut() {
                    recovery.found.entry((account, name)).or_default().meta = Some(data);
                }
            }
            (Step::Segments(account, name), Some(IoOutcome::Names(names))) => {
                let account_name = self.account_name(account);
                for file in names {
                    let Some(n) = file.strip_suffix(".seg").and_then(|n| n.parse::<u32>().ok()) else {
                        continue;
                    };
                    let Some(path) = stream_dir(&account_name, &name)
                        .and_then(|d| d.join("msgs").ok())
                        .and_then(|m| m.join(&file).ok())
                    else {
                        continue;
                    };
                    self.recovery_io(
                        Step::Segment(account, name.clone(), n),
                        IoRequest::Read {
                            path,
                            offset: 0,
                            len: usize::MAX,
                        },
                    );
                }
            }
            (Step::Segment(account, name, n), Some(IoOutcome::Data(data))) => {
                if let Some(recovery) = self.recovery.as_mut() {
                    recovery
                        .found
                        .entry((account, name))
                        .or_default()
                        .segments
                        .push((n, data));
                }
            }
            _ => {}
        }
        let done = self.recovery.as_mut().is_some_and(|r| {
            r.pending -= 1;
            r.pending == 0
        });
        if done {
            self.finish_recovery(now);
        }
    }

    fn finish_recovery(&mut self, now: i64) {
        let Some(recovery) = self.recovery.take() else { return };
        for ((account, name), found) in recovery.found {
            let account_name = self.account_name(account);
            let label = format!("'{account_name} > {name}'");
            let Some(meta) = found.meta else {
                self.log(
                    Level::Warn,
                    format!("JetStream stream {label} has no metadata: skipped"),
                );
                continue;
            };
            let meta: Meta = match serde_json::from_slice(&meta) {
                Ok(meta) => meta,
                Err(error) => {
                    self.log(
                        Level::Error,
                        format!("JetStream stream {label} has unreadable metadata: {error}"),
                    );
                    continue;
                }
            };
            let Some(dir) = stream_dir(&account_name, &name) else {
                continue;
            };
            let Ok(msgs) = dir.join("msgs") else { continue };
            self.log(Level::Info, format!("  Starting restore for stream {label}"));
            let config = store_config(&meta.config, self.durability());
            let msg_ids = recent_msg_ids(&found.segments, now - meta.config.duplicate_window);
            let (store, findings) = match StreamStore::recover(msgs, config, found.segments, now) {
                Ok(recovered) => recovered,
                Err(error) => {
                    self.log(
                        Level::Error,
                        format!("JetStream stream {label} could not be restored: {error}"),
                    );
                    continue;
                }
            };
            for finding in &findings {
                self.log(
                    Level::Warn,
                    format!("JetStream stream {label}: {finding:?} (never served, kept on disk)"),
                );
            }
            let mut stream = Stream::with_store(account, meta.config, meta.created, dir, store);
            stream.last_time = stream.times().1;
            // Everything recovered is on disk.
            stream.durable_through = stream.store.state().last_seq;
            // The duplicate window survives the restart, as nats-server rebuilds it.
            for (id, seq, time) in msg_ids {
                if stream.store.index().get(seq).is_some() {
                    stream.remember_msg_id(id, seq, time);
                }
            }
            let messages = stream.store.state().msgs;
            let id = self.next_stream;
            self.next_stream += 1;
            self.by_name.insert((account, name), id);
            self.streams.insert(id, stream);
            self.log(
                Level::Info,
                format!("  Restored {messages} messages for stream {label}"),
            );
            self.subscribe(id);
            // Removals recovery made (expired while down) go to the disk.
            self.pump(id);
        }
        while let Some((account, subject, reply, body)) = self.held.pop_front() {
            self.api(now, account, &subject, &reply, body);
        }
    }
}

/// The `Nats-Msg-Id`s of messages stored at or after `since`, oldest first, from the
/// segments' records (the damaged ones are not read).
fn recent_msg_ids(segments: &[(u32, Bytes)], since: i64) -> Vec<(String, u64, i64)> {
    let mut ordered: Vec<&(u32, Bytes)> = segments.iter().collect();
    ordered.sort_by_key(|(n, _)| *n);
    let mut ids = Vec::new();
    for (_, bytes) in ordered {
        for (_, record) in natrix_store::record::scan(bytes).records {
            if record.tombstone || record.time < since || record.headers.is_empty() {
                continue;
            }
            if let Some(id) = super::publish::header(&record.headers, "Nats-Msg-Id") {
                ids.push((id.to_string(), record.seq, record.time));
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::friendly_bytes;

    #[test]
    fn sizes_read_as_nats_server_prints_them() {
        assert_eq!(friendly_bytes(512), "512 B");
        assert_eq!(friendly_bytes(1 << 40), "1.00 TB");
        assert_eq!(friendly_bytes(18_962_000_000), "17.66 GB");
    }
}
