//! A mixed cluster: Debian's nats-server (2.9.x, installed by `.ci/run`) and two natrix servers
//! (one per runtime) that only know the nats-server's route port. nats-server gossips each natrix
//! to the other, the mesh closes, and messages and a queue group cross both kinds of server.
//!
//! Without a `nats-server` binary the test says so and passes, unless `CI` is set: CI installs
//! one, so there its absence is a failure.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{wait_for_routes, WAIT};
use common::{http_get, Natrix};
use futures::StreamExt;

/// A nats-server process; killed on drop.
struct NatsServer {
    child: Child,
    port: u16,
    cluster_port: u16,
    monitor_port: u16,
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nats_server_binary() -> Option<String> {
    let candidates = ["nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"];
    candidates
        .iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(|c| c.to_string())
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn start_nats_server(binary: &str) -> NatsServer {
    let (port, cluster_port, monitor_port) = (free_port(), free_port(), free_port());
    let mut child = Command::new(binary)
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &monitor_port.to_string(),
            "-n",
            "gnatsd",
            "--cluster",
            &format!("nats://127.0.0.1:{cluster_port}"),
            "--cluster_name",
            "mixed",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nats-server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + WAIT;
    loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("nats-server did not start");
        if line.contains("Server is ready") {
            break;
        }
    }
    NatsServer {
        child,
        port,
        cluster_port,
        monitor_port,
    }
}

fn start_natrix(runtime: &str, name: &str, seed: u16) -> Natrix {
    let route = format!("nats://127.0.0.1:{seed}");
    Natrix::start(
        runtime,
        &[
            "-m",
            "-1",
            "-n",
            name,
            "--cluster",
            "nats://127.0.0.1:-1",
            "--cluster_name",
            "mixed",
            "--routes",
            &route,
        ],
    )
}

#[test]
fn natrix_and_nats_server_form_one_cluster() {
    let Some(binary) = nats_server_binary() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install nats-server (apt-get install nats-server)"
        );
        eprintln!("nats-server is not installed: interoperability not tested");
        return;
    };
    let gnatsd = start_nats_server(&binary);
    let natrix_tokio = start_natrix("tokio", "natrix-tokio", gnatsd.cluster_port);
    let natrix_mio = start_natrix("mio", "natrix-mio", gnatsd.cluster_port);
    wait_for_routes(gnatsd.monitor_port, 2);
    wait_for_routes(natrix_tokio.monitor_port(), 2);
    wait_for_routes(natrix_mio.monitor_port(), 2);
    let gnatsd_url = format!("nats://127.0.0.1:{}", gnatsd.port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let on_gnatsd = async_nats::connect(&gnatsd_url).await.unwrap();
        let on_tokio = async_nats::connect(natrix_tokio.url()).await.unwrap();
        let on_mio = async_nats::connect(natrix_mio.url()).await.unwrap();

        // natrix -> nats-server, with headers.
        let mut at_gnatsd = on_gnatsd.subscribe("to.gnatsd").await.unwrap();
        on_gnatsd.flush().await.unwrap();
        wait_for_route_interest(natrix_tokio.monitor_port(), "to.gnatsd", 1);
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("X-Origin", "natrix");
        on_tokio
            .publish_with_headers("to.gnatsd", headers, "from natrix".into())
            .await
            .unwrap();
        on_tokio.flush().await.unwrap();
        let message = tokio::time::timeout(WAIT, at_gnatsd.next()).await.unwrap().unwrap();
        assert_eq!(message.payload, Bytes::from_static(b"from natrix"));
        let origin = message.headers.as_ref().and_then(|h| h.get("X-Origin"));
        assert_eq!(origin.map(|v| v.as_str()), Some("natrix"));

        // nats-server -> both natrix servers, in order, once each.
        let mut at_tokio = on_tokio.subscribe("to.natrix").await.unwrap();
        let mut at_mio = on_mio.subscribe("to.natrix").await.unwrap();
        on_tokio.flush().await.unwrap();
        on_mio.flush().await.unwrap();
        wait_for_route_interest(gnatsd.monitor_port, "to.natrix", 2);
        for i in 0..100 {
            on_gnatsd
                .publish("to.natrix", Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        on_gnatsd.flush().await.unwrap();
        for sub in [&mut at_tokio, &mut at_mio] {
            for i in 0..100 {
                let message = tokio::time::timeout(WAIT, sub.next()).await.unwrap().unwrap();
                assert_eq!(message.payload, Bytes::from(i.to_string()));
            }
            assert!(tokio::time::timeout(Duration::from_millis(200), sub.next())
                .await
                .is_err());
        }

        // A request from natrix answered on nats-server.
        let service = on_gnatsd.subscribe("svc").await.unwrap();
        on_gnatsd.flush().await.unwrap();
        wait_for_route_interest(natrix_mio.monitor_port(), "svc", 1);
        common::cluster::respond(on_gnatsd.clone(), service, "pong");
        let answer = tokio::time::timeout(WAIT, on_mio.request("svc", "ping".into()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer.payload, Bytes::from_static(b"pong"));

        // A queue group with a member on nats-server and one on natrix, fed from the other
        // natrix server (no member there): each message reaches exactly one member.
        let mut gnatsd_member = on_gnatsd.queue_subscribe("jobs", "workers".to_string()).await.unwrap();
        let mut natrix_member = on_tokio.queue_subscribe("jobs", "workers".to_string()).await.unwrap();
        on_gnatsd.flush().await.unwrap();
        on_tokio.flush().await.unwrap();
        wait_for_queue_weight(natrix_mio.monitor_port(), 2);
        const COUNT: usize = 300;
        for i in 0..COUNT {
            on_mio.publish("jobs", Bytes::from(i.to_string())).await.unwrap();
        }
        on_mio.flush().await.unwrap();
        let mut seen = vec![0u32; COUNT];
        let mut per_member = [0usize; 2];
        for (n, sub) in [&mut gnatsd_member, &mut natrix_member].into_iter().enumerate() {
            while let Ok(Some(message)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
                let i: usize = std::str::from_utf8(&message.payload).unwrap().parse().unwrap();
                seen[i] += 1;
                per_member[n] += 1;
            }
        }
        assert!(seen.iter().all(|&n| n == 1), "each job exactly once: {per_member:?}");
        assert!(
            per_member.iter().all(|&n| n > 0),
            "both kinds of server served: {per_member:?}"
        );
    });
}

/// Waits until the routes of a server (nats-server's or natrix's) carry `routes` interests in
/// `subject`. Counting subscriptions is not enough: nats-server announces interest of its own.
fn wait_for_route_interest(monitor_port: u16, subject: &str, routes: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let routez = http_get(monitor_port, "/routez?subs=1").json();
        let count = routez["routes"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter(|r| {
                        r["subscriptions_list"]
                            .as_array()
                            .is_some_and(|l| l.iter().any(|s| s.as_str() == Some(subject)))
                    })
                    .count()
            })
            .unwrap_or(0);
        if count >= routes {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not learn {subject}: {routez}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the routes of a natrix server carry `members` queue interests in `jobs`.
fn wait_for_queue_weight(monitor_port: u16, members: usize) {
    let deadline = Instant::now() + WAIT;
    loop {
        let routez = http_get(monitor_port, "/routez?subs=detail").json();
        let count = routez["routes"]
            .as_array()
            .map(|r| {
                r.iter()
                    .flat_map(|r| r["subscriptions_list_detail"].as_array().cloned().unwrap_or_default())
                    .filter(|s| s["subject"] == "jobs")
                    .count()
            })
            .unwrap_or(0);
        if count >= members {
            return;
        }
        assert!(Instant::now() < deadline, "queue interest did not arrive: {routez}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
