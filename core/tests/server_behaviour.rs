//! The server's behaviour, driven through the sans-IO contract with virtual time: what each
//! operation produces, byte for byte, and when connections close.

use std::time::Duration;

use natrix_core::testing::Harness;
use natrix_core::{CloseReason, Config, Input};

const QUIET: &str = r#"{"verbose":false,"pedantic":false,"headers":true,"protocol":1}"#;

fn harness() -> Harness {
    Harness::new(Config::default())
}

#[test]
fn info_comes_first_and_ends_with_space_crlf() {
    let mut h = harness();
    let c = h.connect();
    let info = h.read_text(c);
    assert!(info.starts_with("INFO {\"server_id\":\"N"), "{info}");
    assert!(info.ends_with("} \r\n"), "{info:?}");
    assert!(info.contains("\"headers\":true"));
    assert!(info.contains("\"max_payload\":1048576"));
    assert!(info.contains("\"client_id\":1"));
    assert!(info.contains("\"proto\":1"));
}

#[test]
fn verbose_acknowledges_in_order() {
    let mut h = harness();
    let c = h.connect();
    h.read(c);
    h.send(
        c,
        b"CONNECT {}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nUNSUB 99\r\nPING\r\n",
    );
    assert_eq!(
        h.read_text(c),
        "+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\n+OK\r\nPONG\r\n"
    );
}

#[test]
fn errors_that_keep_the_connection_open() {
    let mut h = harness();
    let c = h.client(r#"{"verbose":false,"pedantic":true}"#);
    h.send(c, b"SUB foo..bar 1\r\n");
    assert_eq!(h.read_text(c), "-ERR 'Invalid Subject'\r\n");
    h.send(c, b"SUB foo.* 1\r\nPUB foo.* 2\r\nhi\r\n");
    assert_eq!(
        h.read_text(c),
        "-ERR 'Invalid Publish Subject'\r\nMSG foo.* 1 2\r\nhi\r\n"
    );
    h.send(c, b"SUB foo q _sys_\r\nSUB foo _sys_ 2\r\n");
    assert_eq!(
        h.read_text(c),
        "-ERR 'Permissions Violation for Subscription to \"foo\" using queue \"_sys_\"'\r\n"
    );
    h.send(c, b"PUB _GR_.x 1\r\na\r\nPUB foo _R_.x 1\r\na\r\n");
    assert_eq!(
        h.read_text(c),
        "-ERR 'Permissions Violation for Publish to \"_GR_.x\"'\r\n-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n"
    );
    assert_eq!(h.closed(c), None);
    h.send(c, b"PING\r\n");
    assert_eq!(h.read_text(c), "PONG\r\n");
}

#[test]
fn errors_that_close_the_connection() {
    let cases: &[(&[u8], &str, CloseReason)] = &[
        (
            b"FOO\r\n",
            "-ERR 'Unknown Protocol Operation'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (
            b"\r\n",
            "-ERR 'Unknown Protocol Operation'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (
            b"SUB\r\n",
            "-ERR 'Unknown Protocol Operation'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (
            b"PUB foo 2\r\nhiX\r\n",
            "-ERR 'Unknown Protocol Operation'\r\n",
            CloseReason::ProtocolViolation,
        ),
        (
            b"PUB foo 1048577\r\n",
            "-ERR 'Maximum Payload Violation'\r\n",
            CloseReason::MaxPayloadExceeded,
        ),
        (b"PUB foo\r\n", "", CloseReason::ProtocolViolation),
        (b"PUB foo -1\r\n", "", CloseReason::ProtocolViolation),
        (b"SUB a b c d\r\n", "", CloseReason::ProtocolViolation),
        (b"UNSUB 1 2 3\r\n", "", CloseReason::ProtocolViolation),
        (b"HPUB foo 14 12\r\n", "", CloseReason::ProtocolViolation),
        (b"CONNECT {bad\r\n", "", CloseReason::ProtocolViolation),
        (
            b"CONNECT {\"protocol\":2}\r\n",
            "-ERR 'invalid client protocol'\r\n",
            CloseReason::BadClientProtocolVersion,
        ),
        (
            b"CONNECT {\"headers\":false,\"no_responders\":true}\r\n",
            "-ERR 'no responders requires headers support'\r\n",
            CloseReason::NoRespondersRequiresHeaders,
        ),
        (
            b"CONNECT {\"account\":\"A\"}\r\n",
            "-ERR 'Authorization Violation'\r\n",
            CloseReason::AuthenticationViolation,
        ),
        (b"-ERR 'oops'\r\n", "", CloseReason::ParseError),
        (b"INFO nope\r\n", "", CloseReason::ProtocolViolation),
    ];
    for (input, reply, reason) in cases {
        let mut h = harness();
        let c = h.client(QUIET);
        h.send(c, input);
        assert_eq!(h.read_text(c), *reply, "{}", String::from_utf8_lossy(input));
        assert_eq!(h.closed(c), Some(*reason), "{}", String::from_utf8_lossy(input));
    }
}

#[test]
fn hpub_needs_headers() {
    let mut h = harness();
    let c = h.client(r#"{"verbose":false,"headers":false}"#);
    h.send(c, b"HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n");
    assert_eq!(h.read_text(c), "");
    assert_eq!(h.closed(c), Some(CloseReason::ProtocolViolation));
}

#[test]
fn control_line_limit() {
    let mut h = harness();
    let c = h.client(QUIET);
    let mut line = b"SUB ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 4096));
    // Exactly the limit (subject plus " 1" goes over).
    h.send(c, &line[..4 + 4096]);
    assert_eq!(h.closed(c), None);
    h.send(c, b" 1\r\n");
    assert_eq!(h.read_text(c), "-ERR 'maximum control line exceeded'\r\n");
    assert_eq!(h.closed(c), Some(CloseReason::MaxControlLineExceeded));
}

#[test]
fn headers_are_stripped_for_subscribers_without_them() {
    let mut h = harness();
    let with = h.client(QUIET);
    let without = h.client(r#"{"verbose":false,"headers":false}"#);
    let publisher = h.client(QUIET);
    h.send(with, b"SUB foo 1\r\n");
    h.send(without, b"SUB foo 1\r\n");
    h.send(
        publisher,
        b"HPUB foo r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nHPUB foo 0 2\r\nhi\r\n",
    );
    assert_eq!(
        h.read_text(with),
        "HMSG foo 1 r 18 20\r\nNATS/1.0\r\nA: b\r\n\r\nhi\r\nMSG foo 1 2\r\nhi\r\n"
    );
    assert_eq!(h.read_text(without), "MSG foo 1 r 2\r\nhi\r\nMSG foo 1 2\r\nhi\r\n");
}

#[test]
fn no_responders_status() {
    let mut h = harness();
    let c = h.client(r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#);
    h.send(c, b"SUB _INBOX.x 1\r\nPUB nobody _INBOX.x 2\r\nhi\r\n");
    assert_eq!(
        h.read_text(c),
        "HMSG _INBOX.x 1 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\n"
    );
    // No reply subject, or no own subscription for it: nothing.
    h.send(c, b"PUB nobody 2\r\nhi\r\nPUB nobody _INBOX.y 2\r\nhi\r\n");
    assert_eq!(h.read_text(c), "");
}

#[test]
fn a_request_a_queue_group_takes_gets_no_503() {
    let mut h = harness();
    let c = h.client(r#"{"verbose":false,"pedantic":false,"headers":true,"no_responders":true}"#);
    h.send(
        c,
        b"SUB test.func q 10\r\nSUB _INBOX.a.* 11\r\nPUB test.func _INBOX.a.b 1\r\nx\r\n",
    );
    assert_eq!(h.read_text(c), "MSG test.func 10 _INBOX.a.b 1\r\nx\r\n");
}

#[test]
fn echo_off_skips_own_subscriptions() {
    let mut h = harness();
    let a = h.client(r#"{"verbose":false,"echo":false}"#);
    let b = h.client(QUIET);
    h.send(a, b"SUB foo 1\r\n");
    h.send(b, b"SUB foo 1\r\n");
    h.send(a, b"PUB foo 2\r\nhi\r\n");
    assert_eq!(h.read_text(a), "");
    assert_eq!(h.read_text(b), "MSG foo 1 2\r\nhi\r\n");
}

#[test]
fn unsub_max_is_exact() {
    let mut h = harness();
    let c = h.client(QUIET);
    h.send(c, b"SUB foo 1\r\nUNSUB 1 2\r\n");
    for _ in 0..3 {
        h.send(c, b"PUB foo 1\r\nx\r\n");
    }
    assert_eq!(h.read_text(c), "MSG foo 1 1\r\nx\r\nMSG foo 1 1\r\nx\r\n");
    assert_eq!(h.server.subscription_count(), 0);
    // A limit already reached removes the subscription at once.
    h.send(
        c,
        b"SUB bar 2\r\nPUB bar 1\r\nx\r\nPUB bar 1\r\nx\r\nUNSUB 2 2\r\nPUB bar 1\r\nx\r\n",
    );
    assert_eq!(h.read_text(c).matches("MSG").count(), 2);
    assert_eq!(h.server.subscription_count(), 0);
}

#[test]
fn duplicate_sid_keeps_the_first_subscription() {
    let mut h = harness();
    let c = h.client(QUIET);
    h.send(c, b"SUB foo 1\r\nSUB bar 1\r\nPUB foo 1\r\na\r\nPUB bar 1\r\nb\r\n");
    assert_eq!(h.read_text(c), "MSG foo 1 1\r\na\r\n");
}

#[test]
fn one_copy_per_matching_subscription() {
    let mut h = harness();
    let c = h.client(QUIET);
    h.send(c, b"SUB foo 1\r\nSUB > 2\r\nSUB f* 3\r\nPUB foo 1\r\na\r\n");
    let text = h.read_text(c);
    assert_eq!(text.matches("MSG foo").count(), 2, "{text}");
}

#[test]
fn queue_groups_deliver_to_exactly_one_member() {
    let mut h = harness();
    let members: Vec<_> = (0..3).map(|_| h.client(QUIET)).collect();
    for m in &members {
        h.send(*m, b"SUB work q 1\r\n");
    }
    let plain = h.client(QUIET);
    h.send(plain, b"SUB work 9\r\n");
    let publisher = h.client(QUIET);
    for _ in 0..300 {
        h.send(publisher, b"PUB work 1\r\nx\r\n");
    }
    let counts: Vec<usize> = members.iter().map(|m| h.read_text(*m).matches("MSG").count()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 300);
    assert!(counts.iter().all(|&n| n > 50), "{counts:?}");
    assert_eq!(h.read_text(plain).matches("MSG").count(), 300);
}

#[test]
fn server_pings_and_closes_stale_connections() {
    let config = Config {
        ping_interval: Duration::from_secs(10),
        ping_max: 2,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let c = h.client(QUIET);
    // The first PING comes about 2s after CONNECT, to measure the round trip.
    h.advance(Duration::from_millis(1999));
    assert_eq!(h.read_text(c), "");
    h.advance(Duration::from_millis(500));
    assert_eq!(h.read_text(c), "PING\r\n");
    h.advance(Duration::from_secs(10));
    assert_eq!(h.read_text(c), "PING\r\n");
    h.advance(Duration::from_secs(10));
    assert_eq!(h.read_text(c), "-ERR 'Stale Connection'\r\n");
    assert_eq!(h.closed(c), Some(CloseReason::StaleConnection));
}

#[test]
fn active_clients_that_answer_are_kept() {
    let config = Config {
        ping_interval: Duration::from_secs(10),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let c = h.client(QUIET);
    h.advance(Duration::from_secs(3));
    assert_eq!(h.read_text(c), "PING\r\n");
    h.send(c, b"PONG\r\n");
    for _ in 0..10 {
        h.advance(Duration::from_secs(5));
        h.send(c, b"PUB x 0\r\n\r\n");
    }
    assert_eq!(h.read_text(c), "", "no PING while the client is active");
    assert_eq!(h.closed(c), None);
}

#[test]
fn a_busy_client_is_not_pinged_after_the_first_ping() {
    let config = Config {
        ping_interval: Duration::from_secs(1),
        ping_max: 2,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let c = h.client(QUIET);
    // It never answers the first PING, but keeps publishing: nats-server keeps it.
    for _ in 0..20 {
        h.advance(Duration::from_millis(500));
        h.send(c, b"PUB x 0\r\n\r\n");
    }
    assert_eq!(h.read_text(c), "PING\r\n");
    assert_eq!(h.closed(c), None);
}

#[test]
fn slow_consumer_is_closed_and_others_keep_receiving() {
    let config = Config {
        max_pending: 10_000,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let slow = h.client(QUIET);
    let fast = h.client(QUIET);
    h.send(slow, b"SUB foo 1\r\n");
    h.send(fast, b"SUB foo 1\r\n");
    h.stalled.push(slow);
    let publisher = h.client(QUIET);
    let payload = vec![b'x'; 1000];
    let mut msg = b"PUB foo 1000\r\n".to_vec();
    msg.extend_from_slice(&payload);
    msg.extend_from_slice(b"\r\n");
    for _ in 0..20 {
        h.send(publisher, &msg);
    }
    assert_eq!(h.closed(slow), Some(CloseReason::SlowConsumerPendingBytes));
    assert_eq!(h.closed(fast), None);
    assert_eq!(h.read_text(fast).matches("MSG foo 1 1000").count(), 20);
    assert_eq!(h.server.stats().slow_consumers, 1);
    assert!(h
        .logs
        .iter()
        .any(|l| l.contains("Slow Consumer Detected: MaxPending of 10000 Exceeded")));
}

#[test]
fn fast_publishers_pause_until_a_lagging_subscriber_catches_up() {
    let config = Config {
        max_pending: 10_000,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let lagging = h.client(QUIET);
    h.send(lagging, b"SUB foo 1\r\n");
    h.stalled.push(lagging);
    let publisher = h.client(QUIET);
    let mut msg = b"PUB foo 1000\r\n".to_vec();
    msg.extend(std::iter::repeat_n(b'x', 1000));
    msg.extend_from_slice(b"\r\n");
    for _ in 0..6 {
        h.send(publisher, &msg);
    }
    assert!(!h.paused(publisher), "under three quarters of max_pending");
    h.send(publisher, &msg);
    h.send(publisher, &msg);
    assert!(h.paused(publisher), "over three quarters of max_pending");
    h.unstall(lagging);
    assert!(!h.paused(publisher), "resumed once the subscriber caught up");
    assert_eq!(h.read_text(lagging).matches("MSG foo").count(), 8);
    // A subscriber that never catches up: the pause ends by itself after a while.
    h.stalled.push(lagging);
    for _ in 0..8 {
        h.send(publisher, &msg);
    }
    assert!(h.paused(publisher));
    h.advance(Duration::from_millis(20));
    assert!(!h.paused(publisher));
    assert_eq!(h.closed(lagging), None);
}

#[test]
fn write_deadline_closes_a_stuck_connection() {
    let config = Config {
        write_deadline: Duration::from_secs(2),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let stuck = h.client(QUIET);
    h.send(stuck, b"SUB foo 1\r\n");
    h.stalled.push(stuck);
    let publisher = h.client(QUIET);
    h.send(publisher, b"PUB foo 1\r\nx\r\n");
    h.advance(Duration::from_secs(1));
    assert_eq!(h.closed(stuck), None);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.closed(stuck), Some(CloseReason::SlowConsumerWriteDeadline));
}

#[test]
fn max_connections_and_subscriptions() {
    let config = Config {
        max_connections: 1,
        max_subscriptions: 2,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let first = h.client(QUIET);
    let second = h.connect();
    let text = h.read_text(second);
    assert!(
        text.starts_with("INFO ") && text.ends_with("-ERR 'maximum connections exceeded'\r\n"),
        "{text}"
    );
    assert_eq!(h.closed(second), Some(CloseReason::MaxConnectionsExceeded));
    h.send(first, b"SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nSUB a 1\r\n");
    assert_eq!(
        h.read_text(first),
        "-ERR 'maximum subscriptions exceeded'\r\n-ERR 'maximum subscriptions exceeded'\r\n"
    );
    assert_eq!(h.closed(first), None);
}

#[test]
fn closing_a_connection_removes_its_subscriptions() {
    let mut h = harness();
    let c = h.client(QUIET);
    h.send(c, b"SUB a 1\r\nSUB b q 2\r\n");
    assert_eq!(h.server.subscription_count(), 2);
    h.input(Input::Closed {
        conn: c,
        reason: CloseReason::ClientClosed,
    });
    assert_eq!(h.server.subscription_count(), 0);
    assert_eq!(h.server.connection_count(), 0);
    // A late input for the closed connection is ignored, even after its slot is reused.
    let d = h.client(QUIET);
    assert_eq!(d.index, c.index);
    h.send(c, b"SUB x 1\r\n");
    assert_eq!(h.server.subscription_count(), 0);
}

#[test]
fn shutdown_flushes_and_closes_everyone() {
    let mut h = harness();
    let a = h.client(QUIET);
    let b = h.client(QUIET);
    h.send(a, b"SUB x 1\r\n");
    h.send(b, b"PUB x 2\r\nhi\r\n");
    h.stalled.push(a);
    h.send(b, b"PUB x 2\r\nho\r\n");
    h.input(Input::Shutdown);
    assert_eq!(h.server.connection_count(), 0);
    assert!(h.stopped_accepting && h.exited);
    assert_eq!(h.closed(a), Some(CloseReason::ServerShutdown));
    assert_eq!(
        h.read_text(a),
        "MSG x 1 2\r\nhi\r\nMSG x 1 2\r\nho\r\n",
        "queued bytes are flushed"
    );
}

#[test]
fn reload_applies_limits_live_and_tells_clients() {
    let mut h = harness();
    let c = h.client(QUIET);
    let next = Config {
        max_payload: 2048,
        ..h.server.config().clone()
    };
    h.input(Input::Reload(Box::new(next)));
    let info = h.read_text(c);
    assert!(
        info.starts_with("INFO ") && info.contains("\"max_payload\":2048"),
        "{info}"
    );
    h.send(c, b"PUB x 2049\r\n");
    assert_eq!(h.read_text(c), "-ERR 'Maximum Payload Violation'\r\n");
    assert!(h.logs.iter().any(|l| l.contains("Reloaded server configuration")));
}

#[test]
fn reload_refuses_what_needs_a_restart() {
    let mut h = harness();
    let next = Config {
        host: "127.0.0.2".into(),
        max_payload: 2048,
        ..h.server.config().clone()
    };
    h.input(Input::Reload(Box::new(next)));
    assert_eq!(h.server.config().max_payload, 1024 * 1024, "nothing applied");
    assert!(h
        .logs
        .iter()
        .any(|l| l.contains("config reload not supported for Host: old=0.0.0.0, new=127.0.0.2")));
}

#[test]
fn lame_duck_mode_tells_clients_and_closes_them_over_the_duration() {
    let config = Config {
        lame_duck_grace_period: Duration::from_secs(1),
        lame_duck_duration: Duration::from_secs(5),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let clients: Vec<_> = (0..4).map(|_| h.client(QUIET)).collect();
    h.input(Input::LameDuck);
    assert!(h.stopped_accepting);
    for c in &clients {
        let info = h.read_text(*c);
        assert!(info.contains("\"ldm\":true"), "{info}");
    }
    h.advance(Duration::from_millis(900));
    assert_eq!(h.server.connection_count(), 4, "nobody closed during the grace period");
    h.advance(Duration::from_millis(200));
    assert_eq!(h.server.connection_count(), 3, "then one at a time");
    h.advance(Duration::from_secs(4));
    assert_eq!(h.server.connection_count(), 0);
    assert!(h.exited);
    // A client arriving meanwhile is turned away.
    let late = h.connect();
    assert_eq!(h.closed(late), Some(CloseReason::ServerShutdown));
}

#[test]
fn same_seed_same_server() {
    let a = Harness::new(Config {
        seed: 9,
        ..Config::default()
    });
    let b = Harness::new(Config {
        seed: 9,
        ..Config::default()
    });
    assert_eq!(a.server.server_id(), b.server.server_id());
    assert_eq!(a.server.server_id().len(), 56);
}

/// The driver contract's single-mutation rule is asserted: a second input while the first
/// one's outputs wait is a driver bug.
#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "driver contract broken")]
fn an_input_before_the_last_outputs_are_drained_panics() {
    let mut server = natrix_core::Node::new(natrix_core::Config::default());
    let now = natrix_core::Instant::from_nanos(1);
    let peer = "127.0.0.1:1".parse().expect("address");
    // Accepting queues INFO (an Output::Write); nobody drains it.
    let _ = server.accept(now, peer);
    let _ = server.accept(now, peer);
}
