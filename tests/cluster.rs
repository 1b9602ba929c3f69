//! Clustering against the real binary: three natrix processes on loopback form a full mesh
//! (two of them only know the first; gossip closes the mesh), and async-nats clients on
//! different servers exchange messages and requests, share a queue group, and fail over when
//! their server dies. Every test runs each runtime.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{route_port, wait_for_remote_subs, wait_for_routes};
use common::{http_get, Natrix, RUNTIMES};
use futures::StreamExt;

const WAIT: Duration = common::cluster::WAIT;

/// Starts a server that accepts routes, dialing `seeds`.
fn start_node(runtime: &str, name: &str, seeds: &[u16]) -> Natrix {
    let routes: Vec<String> = seeds.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect();
    let routes = routes.join(",");
    let mut args = vec![
        "-m",
        "-1",
        "-n",
        name,
        "--cluster",
        "nats://127.0.0.1:-1",
        "--cluster_name",
        "natrix-test",
    ];
    if !routes.is_empty() {
        args.extend(["--routes", &routes]);
    }
    Natrix::start(runtime, &args)
}

/// Waits until the server monitored on `port` has `subs` client subscriptions (async-nats's
/// flush does not wait for the server).
fn wait_for_local_subs(monitor_port: u16, subs: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let connz = http_get(monitor_port, "/connz").json();
        let total: u64 = connz["connections"]
            .as_array()
            .map(|c| c.iter().filter_map(|c| c["subscriptions"].as_u64()).sum())
            .unwrap_or(0);
        if total >= subs {
            return;
        }
        assert!(Instant::now() < deadline, "subscriptions did not arrive: {connz}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Three servers in a full mesh; the second and third were only told about the first.
fn three_nodes(runtime: &str) -> Vec<Natrix> {
    let first = start_node(runtime, "n1", &[]);
    let seed = route_port(&first);
    let nodes = vec![
        first,
        start_node(runtime, "n2", &[seed]),
        start_node(runtime, "n3", &[seed]),
    ];
    for node in &nodes {
        wait_for_routes(node.monitor_port(), 2);
    }
    nodes
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
fn messages_and_requests_cross_servers() {
    for runtime_name in RUNTIMES {
        let nodes = three_nodes(runtime_name);
        runtime().block_on(async {
            let subscriber = async_nats::connect(nodes[0].url()).await.unwrap();
            let publisher = async_nats::connect(nodes[2].url()).await.unwrap();
            let responder = async_nats::connect(nodes[1].url()).await.unwrap();
            let mut events = subscriber.subscribe("events.>").await.unwrap();
            let mut service = responder.subscribe("svc.echo").await.unwrap();
            subscriber.flush().await.unwrap();
            responder.flush().await.unwrap();
            wait_for_remote_subs(nodes[2].monitor_port(), 2);
            tokio::spawn(async move {
                while let Some(request) = service.next().await {
                    if let Some(reply) = request.reply {
                        let mut answer = b"echo:".to_vec();
                        answer.extend_from_slice(&request.payload);
                        let _ = responder.publish(reply, answer.into()).await;
                    }
                }
            });
            for i in 0..200u32 {
                publisher
                    .publish(format!("events.{i}"), Bytes::from(i.to_string()))
                    .await
                    .unwrap();
            }
            publisher.flush().await.unwrap();
            for i in 0..200u32 {
                let message = tokio::time::timeout(WAIT, events.next()).await.unwrap().unwrap();
                assert_eq!(
                    message.subject.as_str(),
                    format!("events.{i}"),
                    "order across the route"
                );
                assert_eq!(message.payload, Bytes::from(i.to_string()));
            }
            // Nothing more: each message crossed once.
            assert!(tokio::time::timeout(Duration::from_millis(300), events.next())
                .await
                .is_err());
            // A request from the third server, answered on the second.
            let answer = tokio::time::timeout(WAIT, publisher.request("svc.echo", "ping".into()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(answer.payload, Bytes::from_static(b"echo:ping"));
        });
    }
}

#[test]
fn a_queue_group_spread_over_the_cluster_gets_each_message_once() {
    for runtime_name in RUNTIMES {
        let nodes = three_nodes(runtime_name);
        runtime().block_on(async {
            // Members on the second and third servers; the publisher is on the first, which has
            // none, so every message goes to one remote member.
            let mut members = Vec::new();
            for node in &nodes[1..] {
                let client = async_nats::connect(node.url()).await.unwrap();
                let sub = client.queue_subscribe("work", "workers".to_string()).await.unwrap();
                client.flush().await.unwrap();
                members.push((client, sub));
            }
            wait_for_remote_subs(nodes[0].monitor_port(), 2);
            let publisher = async_nats::connect(nodes[0].url()).await.unwrap();
            const COUNT: usize = 300;
            for i in 0..COUNT {
                publisher.publish("work", Bytes::from(i.to_string())).await.unwrap();
            }
            publisher.flush().await.unwrap();
            let mut seen = vec![0u32; COUNT];
            let mut per_member = Vec::new();
            let deadline = tokio::time::Instant::now() + WAIT;
            for (_, sub) in &mut members {
                let mut got = 0;
                while let Ok(Some(message)) = tokio::time::timeout(
                    Duration::from_millis(500).min(deadline - tokio::time::Instant::now()),
                    sub.next(),
                )
                .await
                {
                    let i: usize = std::str::from_utf8(&message.payload).unwrap().parse().unwrap();
                    seen[i] += 1;
                    got += 1;
                }
                per_member.push(got);
            }
            assert!(
                seen.iter().all(|&n| n == 1),
                "each message exactly once: {per_member:?}"
            );
            assert!(per_member.iter().all(|&n| n > 0), "both members served: {per_member:?}");

            // With a member on the publisher's own server, that member takes everything.
            let local = async_nats::connect(nodes[0].url()).await.unwrap();
            let mut local_sub = local.queue_subscribe("work", "workers".to_string()).await.unwrap();
            local.flush().await.unwrap();
            wait_for_local_subs(nodes[0].monitor_port(), 1);
            for i in 0..50 {
                publisher.publish("work", Bytes::from(i.to_string())).await.unwrap();
            }
            publisher.flush().await.unwrap();
            for i in 0..50 {
                tokio::time::timeout(WAIT, local_sub.next())
                    .await
                    .unwrap_or_else(|_| {
                        let connz = http_get(nodes[0].monitor_port(), "/connz?subs=detail").json();
                        let routez = http_get(nodes[0].monitor_port(), "/routez?subs=detail").json();
                        panic!("local member got {i} of 50 ({runtime_name}): {connz} {routez}")
                    })
                    .unwrap();
            }
            for (_, sub) in &mut members {
                assert!(tokio::time::timeout(Duration::from_millis(200), sub.next())
                    .await
                    .is_err());
            }
        });
    }
}

#[test]
fn a_client_fails_over_to_a_server_it_learned_from_the_cluster() {
    for runtime_name in RUNTIMES {
        let mut nodes = three_nodes(runtime_name);
        runtime().block_on(async {
            let receiver = async_nats::connect(nodes[1].url()).await.unwrap();
            let mut sub = receiver.subscribe("after").await.unwrap();
            receiver.flush().await.unwrap();
            // Only the first server's URL: the others arrive in INFO's connect_urls.
            let client = async_nats::ConnectOptions::new()
                .reconnect_delay_callback(|_| Duration::from_millis(100))
                .connect(nodes[0].url())
                .await
                .unwrap();
            client.flush().await.unwrap();
            assert_eq!(client.server_info().port, nodes[0].port);
            let urls = client.server_info().connect_urls;
            assert!(
                urls.iter().any(|u| u.ends_with(&format!(":{}", nodes[1].port))),
                "connect_urls name the other servers: {urls:?}"
            );
            wait_for_remote_subs(nodes[0].monitor_port(), 1);
            drop(nodes.remove(0));
            // Publish until the reconnected client's messages arrive on the other server.
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let _ = client.publish("after", "still here".into()).await;
                let _ = client.flush().await;
                if let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
                    assert_eq!(message.payload, Bytes::from_static(b"still here"));
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "client did not fail over");
            }
            assert_ne!(client.server_info().port, 0);
            assert!(nodes.iter().any(|n| n.port == client.server_info().port));
        });
    }
}

const ACCOUNTS: &str = r#"
accounts {
  SVC: {
    users: [{user: svc, password: svc}]
    exports: [{service: "time.now"}, {stream: "ticks.>"}]
  }
  APP: {
    users: [{user: app, password: app}]
    imports: [
      {service: {account: SVC, subject: "time.now"}}
      {stream: {account: SVC, subject: "ticks.>"}, prefix: "svc"}
    ]
  }
}
"#;

#[test]
fn accounts_and_imports_work_across_servers() {
    for runtime_name in RUNTIMES {
        let dir = common::scratch_dir("cluster-accounts");
        let conf = dir.join("accounts.conf");
        std::fs::write(&conf, ACCOUNTS).expect("write conf");
        let conf = conf.to_string_lossy().into_owned();
        let with_conf = |name: &str, seed: Option<u16>| {
            let route = seed.map(|p| format!("nats://127.0.0.1:{p}"));
            let mut args = vec![
                "-c",
                conf.as_str(),
                "-m",
                "-1",
                "-n",
                name,
                "--cluster",
                "nats://127.0.0.1:-1",
                "--cluster_name",
                "accounts",
            ];
            if let Some(route) = route.as_deref() {
                args.extend(["--routes", route]);
            }
            Natrix::start(runtime_name, &args)
        };
        let first = with_conf("a1", None);
        let second = with_conf("a2", Some(route_port(&first)));
        wait_for_routes(first.monitor_port(), 1);
        wait_for_routes(second.monitor_port(), 1);
        runtime().block_on(async {
            let login = |who: &str| async_nats::ConnectOptions::with_user_and_password(who.into(), who.into());
            let service = login("svc").connect(first.url()).await.unwrap();
            let app = login("app").connect(second.url()).await.unwrap();
            let other_app = login("app").connect(first.url()).await.unwrap();
            let requests = service.subscribe("time.now").await.unwrap();
            let mut ticks = app.subscribe("svc.ticks.>").await.unwrap();
            let mut plain = other_app.subscribe("time.now").await.unwrap();
            service.flush().await.unwrap();
            app.flush().await.unwrap();
            other_app.flush().await.unwrap();
            wait_for_remote_subs(second.monitor_port(), 2);
            wait_for_remote_subs(first.monitor_port(), 1);
            common::cluster::respond(service.clone(), requests, "12:00");
            // A request in APP on the second server reaches the service in SVC on the first,
            // and the response finds its way back.
            let answer = tokio::time::timeout(WAIT, app.request("time.now", "?".into()))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(answer.payload, Bytes::from_static(b"12:00"));
            // APP's own subscriber to the subject on the first server sees the request too (it
            // is a plain subscription in APP), exactly once.
            let seen = tokio::time::timeout(WAIT, plain.next()).await.unwrap().unwrap();
            assert_eq!(seen.payload, Bytes::from_static(b"?"));
            assert!(tokio::time::timeout(Duration::from_millis(300), plain.next())
                .await
                .is_err());
            // A stream SVC publishes on the first server reaches APP's importer on the second,
            // once, under the import's prefix.
            service.publish("ticks.1", "t1".into()).await.unwrap();
            service.flush().await.unwrap();
            let tick = tokio::time::timeout(WAIT, ticks.next()).await.unwrap().unwrap();
            assert_eq!(tick.subject.as_str(), "svc.ticks.1");
            assert!(tokio::time::timeout(Duration::from_millis(300), ticks.next())
                .await
                .is_err());
        });
    }
}

/// A CA and one certificate for every server (server and client use, `localhost` and
/// `127.0.0.1`), written to `dir`; returns (ca, cert, key) paths, and a certificate from
/// another CA.
fn route_pki(dir: &std::path::Path) -> [String; 5] {
    let ca_params = {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "route CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params
    };
    let issue = |ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>| {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "route");
        params.extended_key_usages = vec![
            rcgen::ExtendedKeyUsagePurpose::ServerAuth,
            rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, ca).expect("cert");
        (cert.pem(), key.serialize_pem())
    };
    let ca =
        rcgen::CertifiedIssuer::self_signed(ca_params.clone(), rcgen::KeyPair::generate().expect("key")).expect("ca");
    let other = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("key")).expect("ca");
    let (cert, key) = issue(&ca);
    let (rogue, rogue_key) = issue(&other);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write pem");
        path.to_string_lossy().into_owned()
    };
    [
        write("ca.pem", &ca.pem()),
        write("route.pem", &cert),
        write("route-key.pem", &key),
        write("rogue.pem", &rogue),
        write("rogue-key.pem", &rogue_key),
    ]
}

#[test]
fn routes_run_over_tls_and_refuse_a_stranger() {
    let dir = common::scratch_dir("cluster-tls");
    let [ca, cert, key, rogue, rogue_key] = route_pki(&dir);
    let conf = |name: &str, cert: &str, key: &str, seed: Option<u16>| {
        let routes = seed
            .map(|p| format!("routes: [\"nats-route://127.0.0.1:{p}\"]"))
            .unwrap_or_default();
        let text = format!(
            "cluster {{\n  name: tls\n  listen: \"127.0.0.1:-1\"\n  {routes}\n  tls {{\n    cert_file: \"{cert}\"\n    key_file: \"{key}\"\n    ca_file: \"{ca}\"\n    verify: true\n    timeout: 2\n  }}\n}}\n"
        );
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, text).expect("write conf");
        path.to_string_lossy().into_owned()
    };
    for runtime_name in RUNTIMES {
        let first = Natrix::start(runtime_name, &["-m", "-1", "-c", &conf("t1", &cert, &key, None)]);
        let seed = route_port(&first);
        // The other runtime dials, so both runtimes play both sides of the handshake.
        let other = if *runtime_name == "tokio" { "mio" } else { "tokio" };
        let second = Natrix::start(other, &["-m", "-1", "-c", &conf("t2", &cert, &key, Some(seed))]);
        wait_for_routes(first.monitor_port(), 1);
        wait_for_routes(second.monitor_port(), 1);
        runtime().block_on(async {
            let a = async_nats::connect(first.url()).await.unwrap();
            let b = async_nats::connect(second.url()).await.unwrap();
            let mut sub = a.subscribe("secret").await.unwrap();
            a.flush().await.unwrap();
            wait_for_remote_subs(second.monitor_port(), 1);
            b.publish("secret", "over tls".into()).await.unwrap();
            b.flush().await.unwrap();
            let message = tokio::time::timeout(WAIT, sub.next()).await.unwrap().unwrap();
            assert_eq!(message.payload, Bytes::from_static(b"over tls"));
        });
        // A server whose certificate another CA signed cannot join.
        let mut first = first;
        let _stranger = Natrix::start(runtime_name, &["-c", &conf("t3", &rogue, &rogue_key, Some(seed))]);
        first.wait_for_log("TLS handshake error");
        assert_eq!(http_get(first.monitor_port(), "/routez").json()["num_routes"], 1);
    }
}
