//! The real binary driven by the official Rust client, async-nats, on every runtime.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use async_nats::header::HeaderMap;
use bytes::Bytes;
use common::{Natrix, RUNTIMES};
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(5);

/// Waits until the server has handled everything `client` sent so far. async-nats's `flush`
/// only writes the client's buffer; a request nobody answers comes back (as "no responders")
/// only after the server processed every earlier operation on that connection.
async fn round_trip(client: &async_nats::Client) {
    let error = client
        .request("natrix.test.barrier", Bytes::new())
        .await
        .expect_err("nobody answers");
    assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders);
}

async fn next(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("message in time")
        .expect("subscription open")
}

async fn nothing_more(sub: &mut async_nats::Subscriber) {
    let extra = tokio::time::timeout(Duration::from_millis(200), sub.next()).await;
    assert!(
        extra.is_err(),
        "unexpected message: {:?}",
        extra.ok().flatten().map(|m| m.subject)
    );
}

#[tokio::test]
async fn publish_and_subscribe() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut sub = client.subscribe("greet.joe").await.expect("subscribe");
        round_trip(&client).await;
        client.publish("greet.joe", "hello".into()).await.expect("publish");
        let msg = next(&mut sub).await;
        assert_eq!(msg.subject.as_str(), "greet.joe");
        assert_eq!(msg.payload, Bytes::from("hello"));
        assert_eq!(client.server_info().max_payload, 1024 * 1024);
        assert!(client.server_info().headers);
    }
}

#[tokio::test]
async fn wildcards() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut star = client.subscribe("a.*.c").await.expect("subscribe");
        let mut full = client.subscribe("a.>").await.expect("subscribe");
        round_trip(&client).await;
        for subject in ["a.b.c", "a.x.c", "a.b", "a.b.c.d", "b.b.c"] {
            client.publish(subject, subject.into()).await.expect("publish");
        }
        round_trip(&client).await;
        let star_got: Vec<String> = vec![
            next(&mut star).await.subject.to_string(),
            next(&mut star).await.subject.to_string(),
        ];
        assert_eq!(star_got, ["a.b.c", "a.x.c"]);
        nothing_more(&mut star).await;
        let mut full_got = Vec::new();
        for _ in 0..4 {
            full_got.push(next(&mut full).await.subject.to_string());
        }
        assert_eq!(full_got, ["a.b.c", "a.x.c", "a.b", "a.b.c.d"]);
        nothing_more(&mut full).await;
    }
}

#[tokio::test]
async fn queue_group_spreads_and_delivers_once() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut members = Vec::new();
        for _ in 0..3 {
            members.push(
                client
                    .queue_subscribe("jobs", "workers".into())
                    .await
                    .expect("subscribe"),
            );
        }
        round_trip(&client).await;
        const N: usize = 300;
        for i in 0..N {
            client.publish("jobs", i.to_string().into()).await.expect("publish");
        }
        round_trip(&client).await;
        let mut seen = HashSet::new();
        let mut per_member = Vec::new();
        for member in &mut members {
            let mut count = 0;
            while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(300), member.next()).await {
                assert!(seen.insert(msg.payload.clone()), "delivered twice: {:?}", msg.payload);
                count += 1;
            }
            per_member.push(count);
        }
        assert_eq!(seen.len(), N, "every message reaches exactly one member");
        assert!(per_member.iter().all(|&n| n > 30), "spread: {per_member:?}");
    }
}

#[tokio::test]
async fn request_reply() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let service = async_nats::connect(server.url()).await.expect("connect");
        let mut requests = service.subscribe("math.double").await.expect("subscribe");
        round_trip(&service).await;
        tokio::spawn(async move {
            while let Some(request) = requests.next().await {
                let n: u64 = String::from_utf8_lossy(&request.payload).parse().unwrap_or(0);
                if let Some(reply) = request.reply {
                    let _ = service.publish(reply, (n * 2).to_string().into()).await;
                }
            }
        });
        let client = async_nats::connect(server.url()).await.expect("connect");
        for n in [1u64, 21, 500] {
            let response = client
                .request("math.double", n.to_string().into())
                .await
                .expect("request");
            assert_eq!(response.payload, Bytes::from((n * 2).to_string()));
        }
    }
}

#[tokio::test]
async fn no_responders_error_reaches_the_client() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let error = client
            .request("nobody.home", "?".into())
            .await
            .expect_err("no responders");
        assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders, "{error}");
    }
}

#[tokio::test]
async fn headers_round_trip() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut sub = client.subscribe("h").await.expect("subscribe");
        round_trip(&client).await;
        let mut headers = HeaderMap::new();
        headers.insert("Trace-Id", "abc-123");
        headers.append("Multi", "one");
        headers.append("Multi", "two");
        client
            .publish_with_headers("h", headers, "body".into())
            .await
            .expect("publish");
        let msg = next(&mut sub).await;
        let got = msg.headers.expect("headers");
        assert_eq!(got.get("Trace-Id").map(|v| v.as_str()), Some("abc-123"));
        let multi: Vec<&str> = got.get_all("Multi").map(|v| v.as_str()).collect();
        assert_eq!(multi, ["one", "two"]);
        assert_eq!(msg.payload, Bytes::from("body"));
    }
}

#[tokio::test]
async fn unsubscribe_after_n() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut sub = client.subscribe("limited").await.expect("subscribe");
        sub.unsubscribe_after(3).await.expect("unsubscribe after");
        round_trip(&client).await;
        for i in 0..10 {
            client.publish("limited", i.to_string().into()).await.expect("publish");
        }
        round_trip(&client).await;
        let mut got = Vec::new();
        while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
            got.push(msg.payload);
        }
        assert_eq!(got, [Bytes::from("0"), Bytes::from("1"), Bytes::from("2")]);
    }
}

#[tokio::test]
async fn flush_is_a_barrier() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let publisher = async_nats::connect(server.url()).await.expect("connect");
        let subscriber = async_nats::connect(server.url()).await.expect("connect");
        let mut sub = subscriber.subscribe("ordered").await.expect("subscribe");
        round_trip(&subscriber).await;
        for i in 0..1000u32 {
            publisher
                .publish("ordered", i.to_string().into())
                .await
                .expect("publish");
        }
        publisher.flush().await.expect("flush");
        for i in 0..1000u32 {
            assert_eq!(next(&mut sub).await.payload, Bytes::from(i.to_string()), "in order");
        }
    }
}

#[tokio::test]
async fn max_payload_exactly_is_delivered_and_one_more_is_refused() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let max = client.server_info().max_payload;
        let mut sub = client.subscribe("big").await.expect("subscribe");
        round_trip(&client).await;
        let payload = Bytes::from(vec![7u8; max]);
        client.publish("big", payload.clone()).await.expect("publish");
        assert_eq!(next(&mut sub).await.payload, payload);
        let too_big = client.publish("big", Bytes::from(vec![7u8; max + 1])).await;
        assert!(
            too_big.is_err(),
            "the client refuses what the server announced it would refuse"
        );
        // The server's own refusal of oversized publishes is checked byte for byte in raw_protocol.rs.
    }
}

#[tokio::test]
async fn echo_false_skips_own_messages() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let quiet = async_nats::ConnectOptions::new()
            .no_echo()
            .connect(server.url())
            .await
            .expect("connect");
        let other = async_nats::connect(server.url()).await.expect("connect");
        let mut own = quiet.subscribe("echo").await.expect("subscribe");
        let mut theirs = other.subscribe("echo").await.expect("subscribe");
        round_trip(&quiet).await;
        round_trip(&other).await;
        quiet.publish("echo", "mine".into()).await.expect("publish");
        round_trip(&quiet).await;
        assert_eq!(next(&mut theirs).await.payload, Bytes::from("mine"));
        nothing_more(&mut own).await;
        other.publish("echo", "yours".into()).await.expect("publish");
        assert_eq!(next(&mut own).await.payload, Bytes::from("yours"));
    }
}

#[tokio::test]
async fn fan_out_to_a_thousand_subscribers() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        let mut subs = Vec::new();
        for _ in 0..1000 {
            subs.push(client.subscribe("fan").await.expect("subscribe"));
        }
        round_trip(&client).await;
        let publisher = async_nats::connect(server.url()).await.expect("connect");
        publisher.publish("fan", "all".into()).await.expect("publish");
        round_trip(&publisher).await;
        for sub in &mut subs {
            assert_eq!(next(sub).await.payload, Bytes::from("all"));
        }
    }
}

#[tokio::test]
async fn sigterm_stops_the_server_cleanly() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let client = async_nats::connect(server.url()).await.expect("connect");
        client.publish("x", "y".into()).await.expect("publish");
        round_trip(&client).await;
        assert!(server.terminate(), "exit status 0 after SIGTERM");
    }
}
