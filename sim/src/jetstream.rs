//! JetStream under power cuts: the real server (production tokio runtime, JetStream on) with
//! its store on a simulated disk that loses what a power cut loses, and a publisher that
//! creates a stream and publishes with acknowledgements (some with a `Nats-Msg-Id`, some
//! published twice). The power goes at IO requests the seed picks, so at any point of the
//! write/sync sequence, optionally tearing unsynced writes; the server restarts on what the
//! disk kept. At the end the power goes once more and a reader fetches every acknowledged
//! message with STREAM.MSG.GET and with DIRECT.GET (the stream allows direct gets).
//!
//! Checkers:
//! - `js-acked-message-lost`: a message whose PubAck the publisher received is not readable
//!   after the last restart;
//! - `js-wrong-message-served`: a read returns other bytes than the acknowledged message's;
//! - `js-acked-sequence-reused`: two different acknowledged messages got one sequence;
//! - `js-cas-lost-update`: two racing compare-and-set writers (`Nats-Expected-Last-Subject-
//!   Sequence` on `s.cas`, as KV updates) both succeeded expecting the same last sequence;
//! - `js-duplicate-stored`: a message republished with its `Nats-Msg-Id` inside the duplicate
//!   window was acknowledged under a second sequence, though the first was acknowledged and
//!   no restart came between (the checker judges pairs within one connection only; recovery
//!   rebuilds the window from stored headers).
//!
//! DIRECT.GET reads count for `js-acked-message-lost` and `js-wrong-message-served` as
//! STREAM.MSG.GET reads do; a read the power interrupted must be answered with an error
//! status, never with 404 (seed 1796173538034).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use natrix_core::config::jetstream::JetStreamSettings;
use natrix_core::proto::OwnedOp;
use natrix_core::rng::Rng;
use natrix_core::{Config, Instant, LogSink, Node};
use natrix_driver::Storage;
use natrix_store::crash::{CrashFs, Torn};
use natrix_store::io::{IoCompletion, IoError, IoErrorKind, IoRequest};
use turmoil::net::TcpListener;

use crate::checkers::Violation;
use crate::client::{Client, ServerOp, PORT};
use crate::history::now;
use crate::run::{step_to_end, SimListener};

/// The server's host.
const HOST: &str = "js";
/// When the publisher starts.
const START: Duration = Duration::from_secs(1);
/// Compare-and-set writes each of the two racing writers tries.
const CAS_ATTEMPTS: usize = 40;

/// What a seed does.
#[derive(Debug, Clone)]
pub struct JsPlan {
    /// Messages to publish.
    pub messages: usize,
    /// Messages sent before waiting for their acks.
    pub window: usize,
    /// Gap between batches.
    pub gap: Duration,
    /// At which IO request counts the power goes, and what survives of unsynced writes.
    pub cuts: Vec<(u64, Torn)>,
}

impl JsPlan {
    fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x4a45_5453_5452_4541);
        let messages = 20 + rng.below(200);
        let window = 1 + rng.below(16);
        // Each batch of `window` publishes is about a write and a sync: cut inside that span.
        let span = (messages * 3 / window).max(8);
        let cuts = (0..rng.below(4))
            .map(|_| {
                let torn = if rng.below(2) == 0 {
                    Torn::Nothing
                } else {
                    Torn::Prefix(1 + rng.below(300))
                };
                (5 + rng.below(span) as u64, torn)
            })
            .collect::<Vec<_>>();
        let mut cuts = cuts;
        cuts.sort_by_key(|(at, _)| *at);
        cuts.dedup_by_key(|(at, _)| *at);
        JsPlan {
            messages,
            window,
            gap: Duration::from_millis(1 + rng.below(20) as u64),
            cuts,
        }
    }

    /// When publishing is surely over (the final power cut).
    fn end(&self) -> Duration {
        START + Duration::from_secs(20) + self.gap * self.messages as u32
    }

    /// Faults in the plan.
    pub fn faults(&self) -> usize {
        self.cuts.len()
    }
}

impl fmt::Display for JsPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "messages={} window={} gap={:?}",
            self.messages, self.window, self.gap
        )?;
        for (at, torn) in &self.cuts {
            write!(f, " cut@io{at}({torn:?})")?;
        }
        Ok(())
    }
}

/// What the publisher and reader saw.
#[derive(Debug, Default, Clone)]
pub struct JsLog {
    /// (message index, sequence, duplicate) per PubAck received.
    pub acks: Vec<(usize, u64, bool)>,
    /// Restarts the publisher noticed before each ack (its connection broke), by ack.
    pub epochs: Vec<u32>,
    /// Sequence → what a MSG.GET after the last restart returned (`None`: not found or error).
    pub reads: BTreeMap<u64, Option<String>>,
    /// Sequence → the payload DIRECT.GET returned after the last restart (`None`: 404).
    pub direct_reads: BTreeMap<u64, Option<String>>,
    /// Compare-and-set writes acknowledged: (expected last sequence on `s.cas`, sequence
    /// given, payload).
    pub cas_acks: Vec<(u64, u64, String)>,
    /// The reader finished.
    pub read_done: bool,
}

/// What a run produced.
pub struct JsOutcome {
    /// The plan it followed.
    pub plan: JsPlan,
    /// What the clients saw.
    pub log: JsLog,
    /// What the checkers found.
    pub violations: Vec<Violation>,
}

impl JsOutcome {
    /// A hash of what the clients saw: the same seed gives the same hash.
    pub fn trace_hash(&self) -> String {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.log.acks.hash(&mut hasher);
        for (seq, read) in &self.log.reads {
            (seq, read).hash(&mut hasher);
        }
        self.log.cas_acks.hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// The simulated disk and its power.
struct Disk {
    fs: Mutex<CrashFs>,
    /// IO requests run so far (over every incarnation).
    requests: AtomicU64,
    /// The power went: every request fails until the harness restarts the server.
    off: AtomicBool,
    cuts: Mutex<Vec<(u64, Torn)>>,
}

impl Disk {
    fn run(&self, id: natrix_store::io::IoId, request: &IoRequest) -> IoCompletion {
        let count = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fs = match self.fs.lock() {
            Ok(fs) => fs,
            Err(poisoned) => poisoned.into_inner(),
        };
        if self.off.load(Ordering::SeqCst) {
            return IoCompletion {
                id,
                result: Err(IoError::new(IoErrorKind::Io, "the power is off")),
            };
        }
        let cut = self
            .cuts
            .lock()
            .ok()
            .and_then(|mut cuts| (cuts.first().is_some_and(|(at, _)| *at <= count)).then(|| cuts.remove(0)));
        if let Some((_, torn)) = cut {
            // The power goes before this request runs.
            fs.crash(torn);
            self.off.store(true, Ordering::SeqCst);
            return IoCompletion {
                id,
                result: Err(IoError::new(IoErrorKind::Io, "the power is off")),
            };
        }
        let completion = fs.run(id, request);
        if std::env::var_os("JS_TRACE").is_some() {
            eprintln!(
                "io{count} {:?} -> {:?}",
                request_summary(request),
                completion.result.as_ref().map(|_| ())
            );
        }
        completion
    }

    fn power_cut(&self, torn: Torn) {
        if let Ok(mut fs) = self.fs.lock() {
            fs.crash(torn);
        }
        self.off.store(true, Ordering::SeqCst);
    }
}

fn request_summary(request: &IoRequest) -> String {
    match request {
        IoRequest::Write { path, offset, data } => format!("write {path}@{offset}+{}", data.len()),
        IoRequest::Read { path, offset, .. } => format!("read {path}@{offset}"),
        other => format!("{other:?}"),
    }
}

fn config(seed: u64, incarnation: u64) -> Config {
    Config {
        server_name: Some("js".to_string()),
        seed: seed ^ incarnation,
        ping_interval: Duration::from_secs(2),
        start_unix_nanos: 1_800_000_000_000_000_000 + now().as_nanos() as u64,
        jetstream: Some(JetStreamSettings {
            store_dir: "sim".to_string(),
            max_memory: 1 << 30,
            max_store: 1 << 30,
            ..JetStreamSettings::default()
        }),
        ..Config::default()
    }
}

async fn serve(config: Config, disk: Arc<Disk>) -> std::io::Result<()> {
    let listener = TcpListener::bind(("0.0.0.0", PORT)).await?;
    let model = Arc::clone(&disk);
    let mut storage = Storage::model(Box::new(move |id, request| model.run(id, request)));
    let mut node = Node::new(config);
    storage.start_node(&mut node, Instant::from_nanos(0), |_, _| {})?;
    let (_keep, commands) = tokio::sync::mpsc::unbounded_channel();
    let quiet: LogSink = Arc::new(|_, _| {});
    natrix_tokio::serve_observed(
        natrix_tokio::Listeners {
            client: SimListener(listener),
            monitor: None,
            cluster: None,
            cluster_tls: None,
            storage: Some(storage),
        },
        node,
        quiet,
        commands,
        None,
        |_| {},
    )
    .await
}

const CONNECT: &str = r#"{"verbose":false,"pedantic":false,"protocol":1,"headers":true,"no_responders":true}"#;

async fn connect(until: Duration) -> Option<Client> {
    while now() < until {
        if let Ok(client) = Client::connect_with(HOST, CONNECT).await {
            return Some(client);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Sends `subject` with `body` (and headers) and a reply on the inbox; returns the reply's
/// payload, or `None` if none came within `wait` or it had headers (a status).
async fn request(client: &mut Client, subject: &str, body: &[u8], wait: Duration) -> std::io::Result<Option<Vec<u8>>> {
    Ok(match request_any(client, subject, body, wait).await? {
        Some((None, payload)) => Some(payload),
        _ => None,
    })
}

/// As [`request`], but returns the reply's header block too, if it had one.
async fn request_any(
    client: &mut Client,
    subject: &str,
    body: &[u8],
    wait: Duration,
) -> std::io::Result<Option<(Option<Vec<u8>>, Vec<u8>)>> {
    client
        .send(&OwnedOp::Pub {
            subject: subject.as_bytes().to_vec(),
            reply: Some(b"_INBOX.js.req".to_vec()),
            header_len: None,
            body: body.to_vec(),
        })
        .await?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, client.next()).await {
            Err(_) => return Ok(None),
            Ok(Err(e)) => return Err(e),
            Ok(Ok(ServerOp::Msg { subject, payload, .. })) if subject == "_INBOX.js.req" => {
                return Ok(Some((None, payload)))
            }
            Ok(Ok(ServerOp::HMsg {
                subject,
                headers,
                payload,
                ..
            })) if subject == "_INBOX.js.req" => return Ok(Some((Some(headers), payload))),
            Ok(Ok(ServerOp::Ping)) => client.send(&OwnedOp::Pong).await?,
            Ok(Ok(_)) => {}
        }
    }
}

async fn publisher(plan: JsPlan, log: Rc<RefCell<JsLog>>) {
    let mut next = 0usize;
    let mut epoch = 0u32;
    let stream = br#"{"name":"S","subjects":["s.>"],"allow_direct":true}"#;
    'connections: while next < plan.messages && now() < plan.end() {
        let Some(mut client) = connect(plan.end()).await else {
            return;
        };
        if client
            .send(&OwnedOp::Sub {
                subject: b"_INBOX.js.>".to_vec(),
                queue: None,
                sid: b"1".to_vec(),
            })
            .await
            .is_err()
        {
            epoch += 1;
            continue;
        }
        // Create (or find again, after a restart) the stream.
        match request(&mut client, "$JS.API.STREAM.CREATE.S", stream, Duration::from_secs(2)).await {
            Ok(Some(body)) if !String::from_utf8_lossy(&body).contains("\"error\"") => {}
            _ => {
                epoch += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        while next < plan.messages {
            let batch: Vec<usize> = (next..(next + plan.window).min(plan.messages)).collect();
            let mut ops = Vec::new();
            for i in &batch {
                // Every fifth message carries a Msg-Id and goes twice: once stored.
                let (header_len, body) = if i % 5 == 0 {
                    let headers = format!("NATS/1.0\r\nNats-Msg-Id: id{i}\r\n\r\n");
                    (Some(headers.len()), format!("{headers}m{i}").into_bytes())
                } else {
                    (None, format!("m{i}").into_bytes())
                };
                let op = OwnedOp::Pub {
                    subject: format!("s.{}", i % 4).into_bytes(),
                    reply: Some(format!("_INBOX.js.{i}").into_bytes()),
                    header_len,
                    body,
                };
                if i % 5 == 0 {
                    ops.push(op.clone());
                }
                ops.push(op);
            }
            if client.send_all(&ops).await.is_err() {
                epoch += 1;
                continue 'connections;
            }
            let mut waiting = ops.len();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            while waiting > 0 {
                match tokio::time::timeout_at(deadline, client.next()).await {
                    Err(_) => break,
                    Ok(Err(_)) => {
                        epoch += 1;
                        next = batch.last().map_or(next, |last| last + 1);
                        continue 'connections;
                    }
                    Ok(Ok(ServerOp::Msg { subject, payload, .. })) => {
                        let Some(i) = subject.strip_prefix("_INBOX.js.").and_then(|i| i.parse::<usize>().ok()) else {
                            continue;
                        };
                        waiting -= 1;
                        let Ok(ack) = serde_json::from_slice::<serde_json::Value>(&payload) else {
                            continue;
                        };
                        if ack.get("error").is_some() {
                            if std::env::var_os("JS_TRACE").is_some() {
                                eprintln!("error m{i}: {ack} at {:?}", now());
                            }
                            continue;
                        }
                        let seq = ack["seq"].as_u64().unwrap_or(0);
                        let duplicate = ack["duplicate"].as_bool().unwrap_or(false);
                        if std::env::var_os("JS_TRACE").is_some() {
                            eprintln!("ack m{i} seq {seq} dup {duplicate} at {:?}", now());
                        }
                        let mut log = log.borrow_mut();
                        log.acks.push((i, seq, duplicate));
                        log.epochs.push(epoch);
                    }
                    Ok(Ok(ServerOp::HMsg { .. })) => waiting -= 1,
                    Ok(Ok(ServerOp::Ping)) => {
                        if client.send(&OwnedOp::Pong).await.is_err() {
                            epoch += 1;
                            continue 'connections;
                        }
                    }
                    Ok(Ok(_)) => {}
                }
            }
            next = batch.last().map_or(next, |last| last + 1);
            tokio::time::sleep(plan.gap).await;
        }
    }
}

/// Compare-and-set writes that race: writer `k` publishes to `s.cas` with
/// `Nats-Expected-Last-Subject-Sequence` set to the last sequence it knows there, learns the
/// real one from a `wrong last sequence` error, and tries again, as a KV update does. Two
/// writers succeeding on the same expected sequence would be a lost update.
async fn cas_writer(k: usize, plan: JsPlan, log: Rc<RefCell<JsLog>>) {
    let stream = br#"{"name":"S","subjects":["s.>"],"allow_direct":true}"#;
    let inbox = format!("_INBOX.cas{k}");
    let mut known = 0u64;
    let mut attempt = 0usize;
    'connections: while attempt < CAS_ATTEMPTS && now() < plan.end() {
        let Some(mut client) = connect(plan.end()).await else {
            return;
        };
        let sub = OwnedOp::Sub {
            subject: format!("{inbox}.>").into_bytes(),
            queue: None,
            sid: b"1".to_vec(),
        };
        let inbox_sub = OwnedOp::Sub {
            subject: b"_INBOX.js.>".to_vec(),
            queue: None,
            sid: b"2".to_vec(),
        };
        if client.send_all(&[sub, inbox_sub]).await.is_err() {
            continue;
        }
        match request(&mut client, "$JS.API.STREAM.CREATE.S", stream, Duration::from_secs(2)).await {
            Ok(Some(body)) if !String::from_utf8_lossy(&body).contains("\"error\"") => {}
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        while attempt < CAS_ATTEMPTS && now() < plan.end() {
            attempt += 1;
            let headers = format!("NATS/1.0\r\nNats-Expected-Last-Subject-Sequence: {known}\r\n\r\n");
            let payload = format!("c{k}.{attempt}");
            let op = OwnedOp::Pub {
                subject: b"s.cas".to_vec(),
                reply: Some(format!("{inbox}.{attempt}").into_bytes()),
                header_len: Some(headers.len()),
                body: format!("{headers}{payload}").into_bytes(),
            };
            if client.send(&op).await.is_err() {
                continue 'connections;
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
            let answer = loop {
                match tokio::time::timeout_at(deadline, client.next()).await {
                    Err(_) => break None,
                    Ok(Err(_)) => continue 'connections,
                    Ok(Ok(ServerOp::Msg { subject, payload, .. })) if subject == format!("{inbox}.{attempt}") => {
                        break serde_json::from_slice::<serde_json::Value>(&payload).ok();
                    }
                    Ok(Ok(ServerOp::Ping)) => {
                        if client.send(&OwnedOp::Pong).await.is_err() {
                            continue 'connections;
                        }
                    }
                    Ok(Ok(_)) => {}
                }
            };
            if let Some(answer) = answer {
                if let Some(seq) = answer["seq"]
                    .as_u64()
                    .filter(|s| *s > 0 && answer.get("error").is_none())
                {
                    if std::env::var_os("JS_TRACE").is_some() {
                        eprintln!("cas {payload} expected {known}: seq {seq} at {:?}", now());
                    }
                    log.borrow_mut().cas_acks.push((known, seq, payload));
                    known = seq;
                } else if let Some(last) = answer["error"]["description"]
                    .as_str()
                    .and_then(|d| d.strip_prefix("wrong last sequence: "))
                    .and_then(|n| n.parse().ok())
                {
                    known = last;
                }
            }
            tokio::time::sleep(Duration::from_millis(3 + 4 * k as u64)).await;
        }
        return;
    }
}

/// After the last restart: every acknowledged sequence, read back.
async fn reader(plan: JsPlan, log: Rc<RefCell<JsLog>>) {
    tokio::time::sleep_until(tokio::time::Instant::now() + (plan.end() + Duration::from_secs(3)).saturating_sub(now()))
        .await;
    let until = plan.end() + Duration::from_secs(30);
    let seqs: Vec<u64> = {
        let log = log.borrow();
        log.acks
            .iter()
            .map(|(_, seq, _)| *seq)
            .chain(log.cas_acks.iter().map(|(_, seq, _)| *seq))
            .collect()
    };
    'connections: while now() < until {
        let Some(mut client) = connect(until).await else { return };
        if client
            .send(&OwnedOp::Sub {
                subject: b"_INBOX.js.>".to_vec(),
                queue: None,
                sid: b"1".to_vec(),
            })
            .await
            .is_err()
        {
            continue;
        }
        for seq in &seqs {
            let body = format!("{{\"seq\":{seq}}}");
            let read = log.borrow().reads.contains_key(seq);
            if !read {
                match request(
                    &mut client,
                    "$JS.API.STREAM.MSG.GET.S",
                    body.as_bytes(),
                    Duration::from_secs(2),
                )
                .await
                {
                    Ok(Some(answer)) => {
                        if std::env::var_os("JS_TRACE").is_some() {
                            eprintln!("read seq {seq}: {} at {:?}", String::from_utf8_lossy(&answer), now());
                        }
                        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(&answer) else {
                            continue;
                        };
                        let data = answer["message"]["data"].as_str().map(str::to_string);
                        let not_found = answer["error"]["description"].as_str() == Some("no message found");
                        if data.is_none() && !not_found {
                            // The server could not read it now (the power went): ask again.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'connections;
                        }
                        log.borrow_mut().reads.insert(*seq, data);
                    }
                    Ok(None) => {}
                    Err(_) => continue 'connections,
                }
            }
            if log.borrow().direct_reads.contains_key(seq) {
                continue;
            }
            // The same message through DIRECT.GET, which answers with the raw payload.
            match request_any(
                &mut client,
                "$JS.API.DIRECT.GET.S",
                body.as_bytes(),
                Duration::from_secs(2),
            )
            .await
            {
                Ok(Some((headers, payload))) => {
                    if std::env::var_os("JS_TRACE").is_some() {
                        let headers = String::from_utf8_lossy(headers.as_deref().unwrap_or_default()).into_owned();
                        eprintln!(
                            "direct seq {seq}: {headers:?} {} at {:?}",
                            String::from_utf8_lossy(&payload),
                            now()
                        );
                    }
                    let status = headers.as_deref().map(direct_status).unwrap_or(0);
                    let data = match status {
                        0 => Some(String::from_utf8_lossy(&payload).into_owned()),
                        404 => None,
                        _ => {
                            // Not readable now (the power went): ask again.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue 'connections;
                        }
                    };
                    log.borrow_mut().direct_reads.insert(*seq, data);
                }
                Ok(None) => {}
                Err(_) => continue 'connections,
            }
        }
        log.borrow_mut().read_done = true;
        return;
    }
}

/// The status code of a header block (`NATS/1.0 404 Message Not Found`); 0 for a message
/// (`NATS/1.0` and headers).
fn direct_status(headers: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(headers);
    let first = text.lines().next().unwrap_or_default();
    first
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn check(plan: &JsPlan, log: &JsLog) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut by_seq: BTreeMap<u64, usize> = BTreeMap::new();
    let mut by_message: BTreeMap<usize, Vec<(u64, u32)>> = BTreeMap::new();
    for ((i, seq, _), epoch) in log.acks.iter().zip(&log.epochs) {
        if let Some(other) = by_seq.insert(*seq, *i) {
            if other != *i {
                violations.push(Violation::new(
                    "js-acked-sequence-reused",
                    format!("seq {seq} acknowledged for message {other} and for message {i}"),
                ));
            }
        }
        by_message.entry(*i).or_default().push((*seq, *epoch));
    }
    for (i, acks) in &by_message {
        // Two acks under different sequences within one connection: the duplicate window failed.
        if let [(a, ea), (b, eb), ..] = acks.as_slice() {
            if a != b && ea == eb {
                violations.push(Violation::new(
                    "js-duplicate-stored",
                    format!("message {i} (Msg-Id id{i}) stored as {a} and {b}"),
                ));
            }
        }
    }
    // Compare-and-set: no two writes succeed on one expected sequence, and no sequence is
    // given to a compare-and-set write and to another message.
    let mut expected_seen: BTreeMap<u64, &str> = BTreeMap::new();
    for (expected, seq, payload) in &log.cas_acks {
        if let Some(other) = expected_seen.insert(*expected, payload) {
            violations.push(Violation::new(
                "js-cas-lost-update",
                format!("{other} and {payload} both succeeded expecting last sequence {expected} on s.cas"),
            ));
        }
        if let Some(i) = by_seq.get(seq) {
            violations.push(Violation::new(
                "js-acked-sequence-reused",
                format!("seq {seq} acknowledged for message {i} and for {payload}"),
            ));
        }
    }
    if !log.read_done {
        violations.push(Violation::new(
            "js-reader-unfinished",
            format!("the reader could not read back after the last restart ({plan})"),
        ));
        return violations;
    }
    for (seq, i) in &by_seq {
        let expected = natrix_core::jetstream::api::base64(format!("m{i}").as_bytes());
        match log.reads.get(seq) {
            Some(Some(data)) if *data == expected => {}
            Some(Some(data)) => violations.push(Violation::new(
                "js-wrong-message-served",
                format!("seq {seq}: read {data:?}, acknowledged m{i} ({expected})"),
            )),
            _ => violations.push(Violation::new(
                "js-acked-message-lost",
                format!("seq {seq} (message {i}) was acknowledged and is gone"),
            )),
        }
        let expected = format!("m{i}");
        check_direct(&mut violations, log, *seq, &expected);
    }
    for (_, seq, payload) in &log.cas_acks {
        let expected = natrix_core::jetstream::api::base64(payload.as_bytes());
        match log.reads.get(seq) {
            Some(Some(data)) if *data == expected => {}
            Some(Some(data)) => violations.push(Violation::new(
                "js-wrong-message-served",
                format!("seq {seq}: read {data:?}, acknowledged {payload}"),
            )),
            _ => violations.push(Violation::new(
                "js-acked-message-lost",
                format!("seq {seq} ({payload}) was acknowledged and is gone"),
            )),
        }
        check_direct(&mut violations, log, *seq, payload);
    }
    violations
}

/// What DIRECT.GET returned for `seq` against the acknowledged payload.
fn check_direct(violations: &mut Vec<Violation>, log: &JsLog, seq: u64, expected: &str) {
    match log.direct_reads.get(&seq) {
        Some(Some(data)) if *data == expected => {}
        Some(Some(data)) => violations.push(Violation::new(
            "js-wrong-message-served",
            format!("seq {seq}: DIRECT.GET served {data:?}, acknowledged {expected}"),
        )),
        _ => violations.push(Violation::new(
            "js-acked-message-lost",
            format!("seq {seq} ({expected}) was acknowledged and DIRECT.GET does not find it"),
        )),
    }
}

/// Runs seed `seed` and checks it.
pub fn run(seed: u64) -> JsOutcome {
    let plan = JsPlan::new(seed);
    let log = Rc::new(RefCell::new(JsLog::default()));
    let disk = Arc::new(Disk {
        fs: Mutex::new(CrashFs::new()),
        requests: AtomicU64::new(0),
        off: AtomicBool::new(false),
        cuts: Mutex::new(plan.cuts.clone()),
    });
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(plan.end() + Duration::from_secs(40))
        .tick_duration(Duration::from_millis(1))
        .min_message_latency(Duration::from_micros(200))
        .max_message_latency(Duration::from_millis(2))
        .build();
    let incarnation = Rc::new(std::cell::Cell::new(0u64));
    let server_disk = Arc::clone(&disk);
    sim.host(HOST, move || {
        let incarnation = Rc::clone(&incarnation);
        let disk = Arc::clone(&server_disk);
        async move {
            incarnation.set(incarnation.get() + 1);
            serve(config(seed, incarnation.get()), disk).await?;
            Ok(())
        }
    });
    let (shared, publish_plan) = (Rc::clone(&log), plan.clone());
    sim.client("publisher", async move {
        tokio::time::sleep(START).await;
        publisher(publish_plan, shared).await;
        Ok(())
    });
    for k in 0..2 {
        let (shared, cas_plan) = (Rc::clone(&log), plan.clone());
        sim.client(format!("cas{k}"), async move {
            tokio::time::sleep(START).await;
            cas_writer(k, cas_plan, shared).await;
            Ok(())
        });
    }
    let (shared, read_plan) = (Rc::clone(&log), plan.clone());
    sim.client("reader", async move {
        reader(read_plan, shared).await;
        Ok(())
    });
    let mut final_cut = false;
    let mut violations = step_to_end(&mut sim, "jetstream", |sim, elapsed| {
        if !final_cut && elapsed >= plan.end() {
            final_cut = true;
            disk.power_cut(Torn::Nothing);
        }
        if disk.off.load(Ordering::SeqCst) {
            // The server restarts on what the disk kept.
            sim.bounce(HOST);
            disk.off.store(false, Ordering::SeqCst);
        }
    });
    let log = log.borrow().clone();
    violations.extend(check(&plan, &log));
    JsOutcome { plan, log, violations }
}
