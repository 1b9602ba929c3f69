//! When JetStream acknowledges a publish to a file stream: after the fsync covering it (the
//! default), or after its write with a sync every `sync_interval` (the explicit opt-out).

use std::time::Duration;

use natrix_core::config::jetstream::{JetStreamSettings, SyncPolicy};
use natrix_core::config::Config;
use natrix_core::testing::Harness;
use natrix_store::io::IoRequest;

fn server(sync: SyncPolicy) -> Harness {
    Harness::new(Config {
        jetstream: Some(JetStreamSettings {
            store_dir: "js".into(),
            max_memory: 1 << 30,
            max_store: 1 << 40,
            sync,
            ..Default::default()
        }),
        ..Config::default()
    })
}

/// Creates stream S on `s.>` and publishes one message; returns the IO requests the publish
/// made before its acknowledgement was read, and the acknowledgement.
fn publish_one(h: &mut Harness) -> (Vec<IoRequest>, String) {
    let client = h.client(r#"{"verbose":false,"headers":true}"#);
    let create = r#"{"name":"S","subjects":["s.>"]}"#;
    h.send(
        client,
        format!(
            "SUB _INBOX.1 1\r\nPUB $JS.API.STREAM.CREATE.S _INBOX.1 {}\r\n{create}\r\n",
            create.len()
        )
        .as_bytes(),
    );
    let created = h.read_text(client);
    assert!(created.contains("stream_create_response"), "{created}");
    let before = h.io_log.len();
    h.send(client, b"PUB s.a _INBOX.1 2\r\nhi\r\n");
    (h.io_log[before..].to_vec(), h.read_text(client))
}

fn syncs(requests: &[IoRequest]) -> usize {
    requests.iter().filter(|r| matches!(r, IoRequest::Sync { .. })).count()
}

#[test]
fn by_default_a_publish_is_acknowledged_after_its_fsync() {
    let mut h = server(SyncPolicy::Always);
    let (requests, ack) = publish_one(&mut h);
    assert!(ack.contains(r#"{"stream":"S","seq":1}"#), "{ack}");
    assert!(
        syncs(&requests) >= 1,
        "the acknowledgement waited for a sync: {requests:?}"
    );
}

#[test]
fn sync_interval_acknowledges_after_the_write_and_syncs_on_its_timer() {
    let mut h = server(SyncPolicy::Interval(Duration::from_secs(2)));
    let (requests, ack) = publish_one(&mut h);
    assert!(ack.contains(r#"{"stream":"S","seq":1}"#), "{ack}");
    assert_eq!(syncs(&requests), 0, "acknowledged before any sync: {requests:?}");
    assert!(requests.iter().any(|r| matches!(r, IoRequest::Write { .. })));

    let before = h.io_log.len();
    h.advance(Duration::from_millis(1500));
    assert_eq!(syncs(&h.io_log[before..]), 0, "not before the interval");
    h.advance(Duration::from_millis(600));
    let timer = &h.io_log[before..];
    assert_eq!(syncs(timer), 1, "the timer synced the segment: {timer:?}");
    assert!(
        timer.iter().any(|r| matches!(r, IoRequest::SyncDir { .. })),
        "a new segment's directory entry is synced with it: {timer:?}"
    );

    // Nothing written since: the next interval syncs nothing.
    let before = h.io_log.len();
    h.advance(Duration::from_secs(5));
    assert_eq!(syncs(&h.io_log[before..]), 0);
}
