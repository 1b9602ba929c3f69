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

#[test]
fn jsz_over_the_system_account_and_http_with_jetstream() {
    let config = Config {
        jetstream: Some(natrix_core::config::jetstream::JetStreamSettings {
            store_dir: "js".into(),
            max_memory: 1 << 30,
            max_store: 1 << 40,
            domain: Some("hub".into()),
            ..Default::default()
        }),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let client = h.client(r#"{"verbose":false,"headers":true}"#);
    let create = r#"{"name":"S","subjects":["s.>"],"max_bytes":1000}"#;
    let requests = format!(
        "SUB _INBOX.1 1\r\nPUB $JS.API.STREAM.CREATE.S _INBOX.1 {}\r\n{create}\r\n",
        create.len()
    );
    h.send(client, requests.as_bytes());
    h.send(client, b"PUB s.a _INBOX.1 2\r\nhi\r\n");
    let mut answers = h.read_text(client);
    for _ in 0..10 {
        if answers.contains("\"seq\":1") {
            break;
        }
        h.advance(Duration::from_millis(1));
        answers.push_str(&h.read_text(client));
    }
    assert!(answers.contains("\"seq\":1"), "{answers}");

    let reply = h
        .server
        .sys_request(b"$SYS.REQ.SERVER.PING.JSZ", br#"{"streams":true}"#)
        .expect("an answer");
    let value: serde_json::Value = serde_json::from_slice(&reply).expect("JSON");
    assert_eq!(value["server"]["jetstream"], true);
    assert_eq!(value["server"]["domain"], "hub");
    let data = &value["data"];
    assert_eq!(
        (data["streams"].as_u64(), data["messages"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(data["reserved_storage"], 1000, "max_bytes reserves storage");
    assert_eq!(data["api"], serde_json::json!({"total": 1, "errors": 0}));
    assert_eq!(data["config"]["domain"], "hub");
    assert_eq!(data["config"]["sync_always"], true, "acknowledged after the fsync");
    let detail = &data["account_details"][0];
    assert_eq!(detail["name"], "$G");
    assert_eq!(detail["stream_detail"][0]["name"], "S");
    assert!(
        detail["stream_detail"][0].get("config").is_none(),
        "config only when asked"
    );
    // Another domain's request is not for this server.
    assert!(h
        .server
        .sys_request(b"$SYS.REQ.SERVER.PING.JSZ", br#"{"domain":"leaf"}"#)
        .is_none());

    let (status, jsz) = get(&mut h, "/jsz?acc=$G&streams=true&config=true");
    assert_eq!(status, 200);
    assert_eq!(jsz["account_details"][0]["stream_detail"][0]["config"]["name"], "S");
    let (status, text) = get(&mut h, "/jsz?streams=maybe");
    assert_eq!(status, 400);
    assert_eq!(
        text,
        "Error decoding boolean for 'streams': strconv.ParseBool: parsing \"maybe\": invalid syntax"
    );
    let (_, accountz) = get(&mut h, "/accountz?acc=$G");
    assert_eq!(accountz["account_detail"]["jetstream_enabled"], true);
    let (_, accountz) = get(&mut h, "/accountz?acc=$SYS");
    assert_eq!(accountz["account_detail"]["jetstream_enabled"], false);
    let (_, varz) = get(&mut h, "/varz");
    assert_eq!(varz["jetstream"]["stats"]["accounts"], 1);
    assert_eq!(varz["jetstream"]["limits"]["default_max_consumers"], 1000);
}
