//! JetStream streams through the real binary on every runtime: the official Rust client
//! (async-nats), a replay of nats-server 2.15.1's answers to the stream API
//! (tests/transcripts), and `kill -9` with acknowledged messages on disk.

mod common;

use std::time::Duration;

use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use common::{scratch_dir, Natrix, Raw, RUNTIMES};

const WAIT: Duration = Duration::from_secs(5);

fn start(runtime: &str, dir: &std::path::Path) -> Natrix {
    Natrix::start(runtime, &["-js", "-sd", dir.to_str().expect("utf8")])
}

#[tokio::test]
async fn async_nats_creates_streams_publishes_with_acks_and_reads_back() {
    for runtime in RUNTIMES {
        let dir = scratch_dir(&format!("js-client-{runtime}"));
        let server = start(runtime, &dir);
        let store = format!("Store Directory: \"{}/jetstream\"", dir.display());
        assert!(server.logged(&store), "{store}");
        let client = async_nats::connect(server.url()).await.expect("connect");
        let js = jetstream::new(client);
        let mut orders = js
            .create_stream(stream::Config {
                name: "ORDERS".into(),
                subjects: vec!["orders.*".into()],
                ..Default::default()
            })
            .await
            .expect("create");
        for i in 0..10u64 {
            let ack = js
                .publish(format!("orders.{}", i % 3), Bytes::from(format!("order {i}")))
                .await
                .expect("publish")
                .await
                .expect("ack");
            assert_eq!((ack.stream.as_str(), ack.sequence), ("ORDERS", i + 1));
        }
        let info = orders.info().await.expect("info");
        assert_eq!(
            (info.state.messages, info.state.first_sequence, info.state.last_sequence),
            (10, 1, 10)
        );
        let message = orders.get_raw_message(4).await.expect("get");
        assert_eq!(
            (message.subject.as_str(), &message.payload[..]),
            ("orders.0", &b"order 3"[..])
        );
        let last = orders.get_last_raw_message_by_subject("orders.1").await.expect("last");
        assert_eq!((last.sequence, &last.payload[..]), (8, &b"order 7"[..]));

        // Duplicates inside the window are stored once.
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "once");
        let first = js
            .publish_with_headers("orders.x", headers.clone(), "a".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        let again = js
            .publish_with_headers("orders.x", headers, "a".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert_eq!(
            (first.sequence, again.sequence, first.duplicate, again.duplicate),
            (11, 11, false, true)
        );

        assert!(orders.delete_message(2).await.expect("delete"));
        let purged = orders.purge().filter("orders.0").await.expect("purge");
        assert_eq!(purged.purged, 4);
        let info = orders.info().await.expect("info");
        assert_eq!(info.state.messages, 11 - 1 - 4);

        let names: Vec<String> = {
            use futures::TryStreamExt;
            js.stream_names().try_collect().await.expect("names")
        };
        assert_eq!(names, ["ORDERS"]);
        assert!(js.delete_stream("ORDERS").await.expect("delete stream").success);
        assert!(js.get_stream("ORDERS").await.is_err());
        assert!(
            !dir.join("jetstream/$G/streams/ORDERS").exists(),
            "the stream's files are gone"
        );
    }
}

#[tokio::test]
async fn acknowledged_messages_survive_kill_9() {
    for runtime in RUNTIMES {
        let dir = scratch_dir(&format!("js-kill-{runtime}"));
        let mut acked = Vec::new();
        {
            let server = start(runtime, &dir);
            let client = async_nats::connect(server.url()).await.expect("connect");
            let js = jetstream::new(client);
            js.create_stream(stream::Config {
                name: "EVENTS".into(),
                subjects: vec!["events.>".into()],
                ..Default::default()
            })
            .await
            .expect("create");
            // Many in flight at once: they share fsyncs (group commit), and each ack still
            // means "on disk".
            let mut pending = Vec::new();
            for i in 0..500u32 {
                let subject = format!("events.{}", i % 7);
                pending.push(
                    js.publish(subject, Bytes::from(format!("event {i}")))
                        .await
                        .expect("publish"),
                );
            }
            for (i, ack) in pending.into_iter().enumerate() {
                let ack = ack.await.expect("ack");
                acked.push((ack.sequence, format!("event {i}")));
            }
            // kill -9: no shutdown, nothing flushed on the way out.
            server.signal("KILL");
        }
        let server = start(runtime, &dir);
        assert!(server.logged("Restored 500 messages for stream '$G > EVENTS'"));
        let client = async_nats::connect(server.url()).await.expect("connect");
        let js = jetstream::new(client);
        let events = js.get_stream("EVENTS").await.expect("stream back");
        for (seq, payload) in &acked {
            let message = events.get_raw_message(*seq).await.expect("acknowledged message");
            assert_eq!(&message.payload[..], payload.as_bytes(), "seq {seq}");
        }
        let ack = js
            .publish("events.after", "after".into())
            .await
            .expect("publish")
            .await
            .expect("ack");
        assert_eq!(ack.sequence, 501, "sequences continue after the restart");
    }
}

/// The parts of an answer that differ between runs or servers: times, the leader's name,
/// and the metadata and API level nats-server 2.11+ adds.
fn normalized(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(key, value)| match key.as_str() {
                    "leader" => Some((key, Value::String("L".into()))),
                    "metadata" => {
                        let kept: serde_json::Map<_, _> = value
                            .as_object()
                            .into_iter()
                            .flatten()
                            .filter(|(k, _)| !k.starts_with("_nats"))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        (!kept.is_empty()).then_some((key, Value::Object(kept)))
                    }
                    "level" => None,
                    _ => Some((key, normalized(value))),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalized).collect()),
        Value::String(s) if s.len() > 20 && s.as_bytes()[4] == b'-' && s.contains('T') && !s.starts_with("0001") => {
            Value::String("T".into())
        }
        other => other,
    }
}

/// The keys of every object, in order: nats-server's field order is part of the contract.
fn key_order(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                out.push(key.clone());
                key_order(value, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| key_order(v, out)),
        _ => {}
    }
}

/// Reads one MSG or HMSG addressed to `sid` 1; returns its header block and body.
fn read_reply(raw: &mut Raw) -> Option<(Option<String>, String)> {
    let line = raw.read_line(Duration::from_secs(2));
    let line = line.trim_end();
    if line.is_empty() {
        return None;
    }
    let parts: Vec<&str> = line.split_whitespace().collect();
    match parts.first().copied() {
        Some("MSG") => {
            let len: usize = parts.last()?.parse().ok()?;
            let body = raw.read_exact_text(len + 2, WAIT);
            Some((None, body[..len].to_string()))
        }
        Some("HMSG") => {
            let header_len: usize = parts[parts.len() - 2].parse().ok()?;
            let total: usize = parts.last()?.parse().ok()?;
            let all = raw.read_exact_text(total + 2, WAIT);
            Some((Some(all[..header_len].to_string()), all[header_len..total].to_string()))
        }
        Some("PING") => {
            raw.send(b"PONG\r\n");
            read_reply(raw)
        }
        _ => read_reply(raw),
    }
}

#[test]
fn the_stream_api_answers_as_nats_server_2_15_1_does() {
    let transcript: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("transcripts/jetstream_streams_2.15.1.json")).expect("transcript");
    for runtime in RUNTIMES {
        let dir = scratch_dir(&format!("js-transcript-{runtime}"));
        let server = start(runtime, &dir);
        let mut raw = transcript_client(server.port);
        for (n, step) in transcript.iter().enumerate() {
            let name = step["step"].as_str().unwrap_or_default();
            let subject = step["subject"].as_str().unwrap_or_default();
            let body = step["request_body"].as_str().unwrap_or_default();
            send_request(&mut raw, subject, &format!("_INBOX.t.{n}"), step, body);
            let expected_timeout = step["timeout"].as_bool().unwrap_or(false);
            if expected_timeout {
                // nats-server does not answer: neither may natrix. Waiting as long as the
                // capture did keeps the timing (a stream's max_age) the same.
                let (extra, _) = raw.read_for(Duration::from_secs(2));
                // The server's own PINGs are not answers.
                let extra = extra.replace("PING\r\n", "");
                raw.send(b"PONG\r\n");
                assert!(
                    extra.is_empty(),
                    "{name}: an answer where nats-server gives none: {extra}"
                );
                continue;
            }
            let (headers, got) = read_reply(&mut raw).unwrap_or_else(|| panic!("{name}: no answer"));
            assert_eq!(headers.as_deref(), step["reply_headers"].as_str(), "{name}: headers");
            let want = &step["reply_body"];
            if want.is_object() {
                same_json(name, &got, want);
            } else {
                assert_eq!(got, want.as_str().unwrap_or_default(), "{name}");
            }
        }
    }
}

/// A raw client as the capture scripts connect (headers, no-responders), subscribed to the
/// inboxes the replayed requests use.
fn transcript_client(port: u16) -> Raw {
    let (mut raw, _) = Raw::connect(port);
    raw.send(
        b"CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}\r\n",
    );
    raw.send(b"SUB _INBOX.t.> 1\r\n");
    raw
}

/// Sends a transcript step's request: a PUB, or an HPUB when the step has request headers.
fn send_request(raw: &mut Raw, subject: &str, reply: &str, step: &serde_json::Value, body: &str) {
    match step["request_headers"].as_object() {
        Some(headers) => {
            let mut block = String::from("NATS/1.0\r\n");
            for (k, v) in headers {
                block.push_str(&format!("{k}: {}\r\n", v.as_str().unwrap_or_default()));
            }
            block.push_str("\r\n");
            let total = block.len() + body.len();
            raw.send(format!("HPUB {subject} {reply} {} {total}\r\n{block}{body}\r\n", block.len()).as_bytes());
        }
        None => raw.send(format!("PUB {subject} {reply} {}\r\n{body}\r\n", body.len()).as_bytes()),
    }
}

/// Compares a JSON answer with nats-server's, apart from what `normalized` leaves out,
/// and the order of its keys.
fn same_json(name: &str, got: &str, want: &serde_json::Value) {
    let got: serde_json::Value = serde_json::from_str(got).unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {got}"));
    let (got, want) = (normalized(got), normalized(want.clone()));
    assert_eq!(got, want, "{name}");
    let (mut got_keys, mut want_keys) = (Vec::new(), Vec::new());
    key_order(&got, &mut got_keys);
    key_order(&want, &mut want_keys);
    assert_eq!(got_keys, want_keys, "{name}: key order");
}

/// A header block with its `Nats-Time-Stamp` value blanked: the time a message was stored
/// differs between runs.
fn without_time_stamp(block: &str) -> String {
    block
        .split_inclusive("\r\n")
        .map(|line| {
            if line.starts_with("Nats-Time-Stamp: ") {
                "Nats-Time-Stamp: T\r\n"
            } else {
                line
            }
        })
        .collect()
}

#[test]
fn direct_get_answers_as_nats_server_2_15_1_does() {
    let transcript: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("transcripts/jetstream_direct_2.15.1.json")).expect("transcript");
    for runtime in RUNTIMES {
        let dir = scratch_dir(&format!("js-direct-{runtime}"));
        let server = Natrix::start(runtime, &["-js", "-sd", dir.to_str().expect("utf8"), "-m", "-1"]);
        let mut raw = transcript_client(server.port);
        for (n, step) in transcript.iter().enumerate() {
            let name = step["step"].as_str().unwrap_or_default();
            let subject = step["subject"].as_str().unwrap_or_default();
            let body = step["request_body"].as_str().unwrap_or_default();
            let replies = step["replies"].as_array().cloned().unwrap_or_default();
            if name == "bulk_publish_many" {
                // 1,025 messages on distinct subjects, no replies; a PONG says they were read.
                for i in 0..=1024 {
                    raw.send(format!("PUB many.{i} {}\r\n{body}\r\n", body.len()).as_bytes());
                }
                raw.send(b"PING\r\n");
                while raw.read_line(WAIT).trim_end() != "PONG" {}
                // The capture then asked for the stream's info until it held them all (once,
                // there); monitoring's API count includes that request.
                raw.send(format!("PUB $JS.API.STREAM.INFO.MANY _INBOX.t.{n} 0\r\n\r\n").as_bytes());
                let (_, info) = read_reply(&mut raw).unwrap_or_else(|| panic!("{name}: no stream info"));
                let info: serde_json::Value = serde_json::from_str(&info).expect("stream info");
                assert_eq!(info["state"]["messages"], 1025, "{name}");
                continue;
            }
            send_request(&mut raw, subject, &format!("_INBOX.t.{n}"), step, body);
            for (i, want) in replies.iter().enumerate() {
                let (headers, got) = read_reply(&mut raw).unwrap_or_else(|| panic!("{name}: no answer {i}"));
                assert_eq!(
                    headers.as_deref().map(without_time_stamp),
                    want["reply_headers"].as_str().map(without_time_stamp),
                    "{name}: headers of answer {i}"
                );
                let want_body = want["reply_body"].as_str().unwrap_or_default();
                match serde_json::from_str::<serde_json::Value>(want_body) {
                    Ok(json) if json.is_object() => same_json(name, &got, &json),
                    _ => assert_eq!(got, want_body, "{name}: body of answer {i}"),
                }
            }
        }
        // Nothing beyond the answers nats-server gave: the next thing read is our PONG.
        raw.send(b"PING\r\n");
        let (rest, _) = raw.read_for(Duration::from_millis(300));
        assert_eq!(rest.replace("PING\r\n", ""), "PONG\r\n", "answers beyond nats-server's");
        // The same streams, as monitoring shows them.
        let monitoring: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("transcripts/jetstream_monitoring_2.15.1.json")).expect("transcript");
        for page in monitoring {
            let path = page["path"].as_str().unwrap_or_default();
            let got = common::http_get(server.monitor_port(), path);
            assert_eq!(
                u64::from(got.status),
                page["status"].as_u64().unwrap_or_default(),
                "{path}"
            );
            let mut got = got.json();
            let mut want = page["body"].clone();
            if path == "/varz" {
                got = serde_json::json!({"jetstream": got["jetstream"].clone()});
                want = serde_json::json!({"jetstream": want["jetstream"].clone()});
            }
            let (got, want) = (monitoring_normalized(got), monitoring_normalized(want));
            assert_eq!(got, want, "{path}");
            let (mut got_keys, mut want_keys) = (Vec::new(), Vec::new());
            key_order(&got, &mut got_keys);
            key_order(&want, &mut want_keys);
            assert_eq!(got_keys, want_keys, "{path}: key order");
        }
    }
}

/// A monitoring page without what differs between machines and runs (ids, directories, the
/// machine's memory, times), and without `sync_always`, which natrix adds because it
/// acknowledges after the fsync (docs/compatibility.md).
fn monitoring_normalized(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match normalized(value) {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| key != "sync_always")
                .map(|(key, value)| match key.as_str() {
                    "server_id" | "store_dir" | "max_memory" | "max_storage" | "now" => (key, Value::Null),
                    _ => (key, monitoring_normalized(value)),
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(monitoring_normalized).collect()),
        other => other,
    }
}
