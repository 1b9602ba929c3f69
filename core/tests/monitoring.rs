//! Monitoring through the core in virtual time: times, round trips, the closed-connection ring
//! and the `$SYS` envelopes.

use std::time::Duration;

use natrix_core::config::Config;
use natrix_core::testing::Harness;

fn get(h: &mut Harness, path: &str) -> (u16, serde_json::Value) {
    let now = h.now;
    let response = h.server.monitor(now, format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
    let text = String::from_utf8(response).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::String(body.to_string())),
    )
}

#[test]
fn uptime_idle_rtt_and_times() {
    let mut h = Harness::new(Config {
        start_unix_nanos: 1_795_331_200_000_000_000,
        ..Config::default()
    });
    let id = h.client(r#"{"verbose":false,"name":"c"}"#);
    // The early PING measures the round trip when the client answers.
    let mut waited = Duration::ZERO;
    while !h.read_text(id).contains("PING") {
        h.advance(Duration::from_millis(1));
        waited += Duration::from_millis(1);
        assert!(waited < Duration::from_secs(3), "the early PING comes within 2.4s");
    }
    h.advance(Duration::from_millis(3));
    h.send(id, b"PONG\r\n");
    h.advance(Duration::from_secs(65) - waited - Duration::from_millis(3));
    let (status, connz) = get(&mut h, "/connz");
    assert_eq!(status, 200);
    let conn = &connz["connections"][0];
    assert_eq!(conn["uptime"], "1m5s");
    // The PING went out between two of the test's 1 ms steps.
    let rtt = conn["rtt"].as_str().unwrap();
    assert!(rtt.starts_with("3.") && rtt.ends_with("ms"), "{rtt}");
    assert_eq!(conn["start"], "2026-11-22T07:06:41Z");
    let (_, varz) = get(&mut h, "/varz");
    assert_eq!(varz["uptime"], "1m6s");
    assert_eq!(varz["start"], "2026-11-22T07:06:40Z");
}

#[test]
fn the_closed_ring_is_bounded_and_ordered() {
    let mut h = Harness::new(Config {
        max_closed_clients: 3,
        ..Config::default()
    });
    for i in 0..5 {
        let id = h.client(&format!(r#"{{"verbose":false,"name":"c{i}"}}"#));
        h.input(natrix_core::Input::Closed {
            conn: id,
            reason: natrix_core::CloseReason::ClientClosed,
        });
    }
    let (_, closed) = get(&mut h, "/connz?state=closed");
    let names: Vec<&str> = closed["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c2", "c3", "c4"]);
    assert_eq!(closed["connections"][0]["reason"], "Client Closed");
    let (status, text) = get(&mut h, "/connz?state=bogus");
    assert_eq!(
        (status, text.as_str().unwrap()),
        (400, "Error decoding state for bogus")
    );
}

#[test]
fn sys_requests_in_the_system_account() {
    let mut h = Harness::new(Config::default());
    // $SYS exists by default but nobody can log into it; a direct call shows the envelope.
    let reply = h.server.sys_request(b"$SYS.REQ.SERVER.PING.VARZ", b"").unwrap();
    let value: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(value["server"]["ver"], "2.10.0");
    assert_eq!(value["data"]["server_id"], value["server"]["id"]);
    let bad = h
        .server
        .sys_request(b"$SYS.REQ.SERVER.PING.CONNZ", b"not json")
        .unwrap();
    let bad: serde_json::Value = serde_json::from_slice(&bad).unwrap();
    assert_eq!(bad["error"]["code"], 400);
    assert!(bad.get("data").is_none());
    assert!(h.server.sys_request(b"$SYS.REQ.SERVER.NOTME.VARZ", b"").is_none());
    assert!(h
        .server
        .sys_request(b"$SYS.REQ.SERVER.PING.VARZ", br#"{"server_name":"elsewhere"}"#)
        .is_none());
}
