//! Monitoring against the real binary on every runtime: each endpoint's figures checked against
//! traffic the test made, closed connections with their reasons, paging and sorting, `/metrics`
//! read with a Prometheus parser, and the same data over `$SYS` requests.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{http_get, scratch_dir, Natrix, Raw, RUNTIMES};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(5);

fn start_with_conf(runtime: &str, conf: &str) -> Natrix {
    let dir = scratch_dir("monitoring");
    let path = dir.join("natrix.conf");
    std::fs::write(&path, conf).expect("write conf");
    let path = path.to_string_lossy().into_owned();
    Natrix::start(runtime, &["-m", "-1", "-c", &path])
}

/// A raw client that names itself and waits for PONG so the server has seen everything.
fn named_client(port: u16, name: &str) -> Raw {
    let (mut raw, _) = Raw::connect(port);
    raw.send(
        format!("CONNECT {{\"verbose\":false,\"name\":\"{name}\",\"lang\":\"raw\",\"version\":\"1.0\"}}\r\n")
            .as_bytes(),
    );
    sync(&mut raw);
    raw
}

fn sync(raw: &mut Raw) {
    raw.send(b"PING\r\n");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let line = raw.read_line(WAIT);
        if line == "PONG\r\n" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline && !line.is_empty(),
            "no PONG: {line:?}"
        );
    }
}

fn get(server: &Natrix, path: &str) -> Value {
    let response = http_get(server.monitor_port(), path);
    assert_eq!(response.status, 200, "{path}: {}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"), "{path}");
    response.json()
}

#[test]
fn varz_connz_and_subsz_count_exactly() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &["-m", "-1"]);
        let mut sub = named_client(server.port, "subscriber");
        sub.send(b"SUB orders.* 1\r\nSUB orders.new 2\r\nSUB jobs workers 3\r\n");
        sync(&mut sub);
        let mut publisher = named_client(server.port, "publisher");
        // 10 messages of 5 bytes on orders.new (two subscriptions each), 3 of 2 bytes on jobs.
        for _ in 0..10 {
            publisher.send(b"PUB orders.new 5\r\nhello\r\n");
        }
        for _ in 0..3 {
            publisher.send(b"PUB jobs 2\r\nhi\r\n");
        }
        sync(&mut publisher);
        sync(&mut sub);

        let varz = get(&server, "/varz");
        assert_eq!(varz["connections"], 2);
        assert_eq!(varz["total_connections"], 2);
        assert_eq!(varz["in_msgs"], 13);
        assert_eq!(varz["in_bytes"], 56);
        assert_eq!(varz["out_msgs"], 23);
        assert_eq!(varz["out_bytes"], 106);
        assert_eq!(varz["subscriptions"], 3);
        assert_eq!(varz["max_payload"], 1048576);
        assert_eq!(varz["http_port"], server.monitor_port());
        assert!(varz["mem"].as_u64().is_some() && varz["start"].as_str().is_some_and(|s| s.ends_with('Z')));

        let connz = get(&server, "/connz?subs=1");
        assert_eq!(connz["num_connections"], 2);
        assert_eq!(connz["total"], 2);
        assert_eq!(connz["limit"], 1024);
        let conns = connz["connections"].as_array().expect("connections");
        let by_name = |name: &str| conns.iter().find(|c| c["name"] == name).cloned().expect("named conn");
        let s = by_name("subscriber");
        assert_eq!((s["out_msgs"].as_u64(), s["out_bytes"].as_u64()), (Some(23), Some(106)));
        assert_eq!(
            (s["subscriptions"].as_u64(), s["lang"].as_str()),
            (Some(3), Some("raw"))
        );
        let mut subjects: Vec<&str> = s["subscriptions_list"]
            .as_array()
            .expect("subs=1 lists subjects")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        subjects.sort_unstable();
        assert_eq!(subjects, ["jobs", "orders.*", "orders.new"]);
        let p = by_name("publisher");
        assert_eq!((p["in_msgs"].as_u64(), p["in_bytes"].as_u64()), (Some(13), Some(56)));
        assert_eq!(p["kind"], "Client");

        // Sorting and paging.
        let sorted = get(&server, "/connz?sort=bytes_to&limit=1");
        assert_eq!(sorted["num_connections"], 1);
        assert_eq!(sorted["total"], 2);
        assert_eq!(sorted["connections"][0]["name"], "subscriber");
        let second = get(&server, "/connz?sort=bytes_to&limit=1&offset=1");
        assert_eq!(second["connections"][0]["name"], "publisher");
        let cid = p["cid"].as_u64().expect("cid");
        let one = get(&server, &format!("/connz?cid={cid}"));
        assert_eq!(one["connections"][0]["name"], "publisher");
        let detail = get(&server, "/connz?subs=detail&sort=subs");
        let first = &detail["connections"][0]["subscriptions_list_detail"];
        assert!(first
            .as_array()
            .is_some_and(|d| d.iter().any(|s| s["qgroup"] == "workers")));

        let bad = http_get(server.monitor_port(), "/connz?sort=bogus");
        assert_eq!((bad.status, bad.body.as_str()), (400, "invalid sorting option: bogus"));
        let bad = http_get(server.monitor_port(), "/connz?sort=stop");
        assert_eq!(bad.body, "sort by stop only valid on closed connections");
        let bad = http_get(server.monitor_port(), "/connz?limit=abc");
        assert_eq!(
            bad.body,
            "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax"
        );

        let subsz = get(&server, "/subsz?subs=1");
        assert_eq!(subsz["num_subscriptions"], 3);
        assert_eq!(subsz["total"], 3);
        assert!(subsz["num_matches"].as_u64().is_some_and(|m| m >= 13));
        let tested = get(&server, "/subscriptionsz?subs=1&test=orders.new");
        assert_eq!(
            tested["total"], 3,
            "orders.* and orders.new match; queue subscriptions are kept"
        );
        assert_eq!(http_get(server.monitor_port(), "/subsz?test=orders.*").status, 400);

        for path in ["/routez", "/gatewayz", "/leafz", "/accountz", "/accstatz", "/jsz"] {
            let body = get(&server, path);
            assert!(body["server_id"].is_string(), "{path}");
        }
        // JetStream off: nats-server 2.15.1's shape, keys in its order (API level aside).
        let jsz = get(&server, "/jsz");
        assert_eq!(jsz["disabled"], true);
        let keys: Vec<&str> = jsz.as_object().expect("object").keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "memory",
                "storage",
                "reserved_memory",
                "reserved_storage",
                "accounts",
                "ha_assets",
                "api",
                "server_id",
                "now",
                "disabled",
                "config",
                "streams",
                "consumers",
                "messages",
                "bytes",
                "total"
            ]
        );
        assert_eq!(jsz["config"], serde_json::json!({"max_memory": 0, "max_storage": 0}));
        assert_eq!(get(&server, "/varz")["jetstream"], serde_json::json!({}));
        assert_eq!(get(&server, "/accstatz")["account_statz"][0]["conns"], 2);
        let health = http_get(server.monitor_port(), "/healthz");
        assert_eq!((health.status, health.body.as_str()), (200, "{\"status\":\"ok\"}"));
        assert_eq!(http_get(server.monitor_port(), "/nope").status, 404);
        assert_eq!(get(&server, "/varz")["http_req_stats"]["/connz"], 8);
    }
}

#[test]
fn closed_connections_keep_their_reasons() {
    for runtime in RUNTIMES {
        let conf = "authorization { users = [ {user: a, password: a} ] }\n\
                    ping_interval: \"200ms\"\nping_max: 1\nmax_pending: 64KB\nmax_payload: 1KB\n";
        let server = start_with_conf(runtime, conf);
        // Authentication failure.
        let (mut bad, _) = Raw::connect(server.port);
        bad.send(b"CONNECT {\"user\":\"a\",\"pass\":\"wrong\"}\r\n");
        let _ = bad.read_for(Duration::from_millis(300));
        // The client closes.
        let mut quitter = Raw::connect(server.port).0;
        quitter.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"name\":\"quitter\"}\r\n");
        sync(&mut quitter);
        drop(quitter);
        // A subscriber that never reads while 8 MB are published to it.
        let mut slow = Raw::connect(server.port).0;
        slow.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"name\":\"slow\"}\r\nSUB flood 1\r\n");
        sync(&mut slow);
        let mut flood = Raw::connect(server.port).0;
        flood.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\",\"name\":\"flood\"}\r\n");
        let payload = vec![b'x'; 1000];
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend_from_slice(b"PUB flood 1000\r\n");
            batch.extend_from_slice(&payload);
            batch.extend_from_slice(b"\r\n");
        }
        for _ in 0..80 {
            flood.send(&batch);
        }
        // A client that never answers PINGs goes stale; the flooder answers... it does not
        // either, so it is also closed as stale, which is fine: only the reasons matter.
        std::thread::sleep(Duration::from_millis(1500));
        let closed = get(&server, "/connz?state=closed&sort=reason&auth=1");
        let reasons: Vec<&str> = closed["connections"]
            .as_array()
            .expect("closed connections")
            .iter()
            .filter_map(|c| c["reason"].as_str())
            .collect();
        for expected in [
            "Authentication Failure",
            "Client Closed",
            "Slow Consumer (Pending Bytes)",
            "Stale Connection",
        ] {
            assert!(reasons.contains(&expected), "{expected} missing from {reasons:?}");
        }
        let quit = closed["connections"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == "quitter"))
            .expect("the quitter");
        assert!(quit["stop"].as_str().is_some());
        assert_eq!(quit["authorized_user"], "a");
        let all = get(&server, "/connz?state=all");
        assert!(all["total"].as_u64().is_some_and(|t| t >= 4));
        let varz = get(&server, "/varz");
        assert!(varz["slow_consumers"].as_u64().is_some_and(|n| n >= 1));
        assert!(varz["stale_connections"].as_u64().is_some_and(|n| n >= 1));
    }
}

#[test]
fn metrics_parse_and_agree_with_varz() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &["-m", "-1"]);
        let mut client = named_client(server.port, "m");
        client.send(b"SUB a 1\r\nPUB a 3\r\nabc\r\nPUB a 3\r\nabc\r\n");
        sync(&mut client);
        let response = http_get(server.monitor_port(), "/metrics");
        assert_eq!(response.status, 200);
        assert!(response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")));
        let lines = response.body.lines().map(|l| Ok(l.to_string()));
        let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
        let value = |name: &str| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name)
                .map(|s| match s.value {
                    prometheus_parse::Value::Gauge(v) => v,
                    _ => f64::NAN,
                })
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let varz = get(&server, "/varz");
        for name in [
            "in_msgs",
            "out_msgs",
            "in_bytes",
            "out_bytes",
            "connections",
            "subscriptions",
            "slow_consumers",
        ] {
            assert_eq!(
                value(&format!("gnatsd_varz_{name}")),
                varz[name].as_f64().expect("number"),
                "{name}"
            );
        }
        assert_eq!(value("gnatsd_varz_in_msgs"), 2.0);
        assert_eq!(value("gnatsd_connz_num_connections"), 1.0);
        assert_eq!(value("gnatsd_healthz_status"), 0.0);
        assert!(value("gnatsd_varz_mem") >= 0.0);
    }
}

#[tokio::test]
async fn system_account_requests() {
    for runtime in RUNTIMES {
        let conf = "accounts { SYS: { users: [ {user: sys, password: sys} ] }, APP: { users: [ {user: app, password: app} ] } }\n\
                    system_account: SYS\n";
        let server = start_with_conf(runtime, conf);
        let sys = async_nats::ConnectOptions::with_user_and_password("sys".into(), "sys".into())
            .connect(server.url())
            .await
            .expect("system user");
        let app = async_nats::ConnectOptions::with_user_and_password("app".into(), "app".into())
            .name("app-client")
            .connect(server.url())
            .await
            .expect("app user");
        app.publish("x", Bytes::from_static(b"12345")).await.expect("publish");
        app.flush().await.expect("flush");
        let _ = app.request("barrier", Bytes::new()).await;

        let ask = |subject: &'static str, body: &'static str| {
            let sys = sys.clone();
            async move {
                let reply = tokio::time::timeout(WAIT, sys.request(subject, Bytes::from_static(body.as_bytes())))
                    .await
                    .expect("in time")
                    .expect("a reply");
                serde_json::from_slice::<Value>(&reply.payload).expect("JSON reply")
            }
        };
        let varz = ask("$SYS.REQ.SERVER.PING.VARZ", "").await;
        assert_eq!(varz["server"]["id"], varz["data"]["server_id"]);
        assert!(varz["data"]["in_msgs"].as_u64().is_some_and(|n| n >= 2));
        assert_eq!(varz["data"]["system_account"], "SYS");
        let id = varz["server"]["id"].as_str().expect("id").to_string();
        let stats = ask("$SYS.REQ.SERVER.PING", "").await;
        assert_eq!(stats["statsz"]["connections"], 2);
        let connz = ask("$SYS.REQ.SERVER.PING.CONNZ", r#"{"acc":"APP","subscriptions":true}"#).await;
        assert_eq!(connz["data"]["num_connections"], 1);
        assert_eq!(connz["data"]["connections"][0]["name"], "app-client");
        let bad = ask("$SYS.REQ.SERVER.PING.CONNZ", r#"{"sort":"bogus"}"#).await;
        assert_eq!(bad["error"]["code"], 500);
        assert_eq!(bad["error"]["description"], "invalid sorting option: bogus");
        assert!(bad["data"].is_null());
        let health = ask("$SYS.REQ.SERVER.PING.HEALTHZ", "").await;
        assert_eq!(health["data"]["status"], "ok");
        let subject: &'static str = Box::leak(format!("$SYS.REQ.SERVER.{id}.SUBSZ").into_boxed_str());
        let subsz = ask(subject, "").await;
        assert!(subsz["data"]["num_subscriptions"].as_u64().is_some());
        // Outside the system account nobody answers.
        let error = app
            .request("$SYS.REQ.SERVER.PING.VARZ", Bytes::new())
            .await
            .expect_err("no responders outside $SYS");
        assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders);
        // A kind the server does not serve has no responders; a request whose filter names
        // another server reaches this one, which stays silent (nats-server 2.15.1 does both).
        let error = sys
            .request("$SYS.REQ.SERVER.PING.NOPE", Bytes::new())
            .await
            .expect_err("no responders for an unknown kind");
        assert_eq!(error.kind(), async_nats::RequestErrorKind::NoResponders);
        let filtered = tokio::time::timeout(
            Duration::from_millis(300),
            sys.request(
                "$SYS.REQ.SERVER.PING.VARZ",
                Bytes::from_static(br#"{"server_name":"elsewhere"}"#),
            ),
        )
        .await;
        assert!(filtered.is_err(), "a filtered request gets no answer: {filtered:?}");
    }
}

#[test]
fn base_path_and_jsonp() {
    for runtime in RUNTIMES {
        let server = start_with_conf(runtime, "http_base_path: \"/nats\"\n");
        assert_eq!(http_get(server.monitor_port(), "/varz").status, 404);
        assert_eq!(http_get(server.monitor_port(), "/nats/varz").status, 200);
        let wrapped = http_get(server.monitor_port(), "/nats/healthz?callback=cb");
        assert_eq!(wrapped.body, "cb({\"status\":\"ok\"})");
        assert_eq!(wrapped.header("content-type"), Some("application/javascript"));
    }
}
