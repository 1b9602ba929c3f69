//! Helpers for cluster tests: ports from start-up lines, and waiting for routes and interest
//! through the monitoring endpoints (natrix's and nats-server's alike).

use std::time::{Duration, Instant};

use super::{http_get, Natrix};

/// Answers every request on `requests` with `answer`, in the background.
pub fn respond(client: async_nats::Client, mut requests: async_nats::Subscriber, answer: &'static str) {
    use futures::StreamExt;
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = client.publish(reply, answer.into()).await;
            }
        }
    });
}

/// How long a cluster takes at most to form or converge in these tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// The route port from the start-up line (started with `--cluster nats://127.0.0.1:-1`).
pub fn route_port(server: &Natrix) -> u16 {
    server
        .logged_value("Listening for route connections on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .expect("natrix reported its route port")
}

/// Waits until `/routez` on `port` shows `routes` routes.
pub fn wait_for_routes(monitor_port: u16, routes: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let routez = http_get(monitor_port, "/routez").json();
        if routez["num_routes"].as_u64() == Some(routes) {
            return;
        }
        assert!(Instant::now() < deadline, "routes did not form: {routez}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the routes of the server monitored on `port` carry at least `subs` remote
/// subscriptions in total.
pub fn wait_for_remote_subs(monitor_port: u16, subs: u64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let routez = http_get(monitor_port, "/routez").json();
        let total: u64 = routez["routes"]
            .as_array()
            .map(|r| r.iter().filter_map(|r| r["subscriptions"].as_u64()).sum())
            .unwrap_or(0);
        if total >= subs {
            return;
        }
        assert!(Instant::now() < deadline, "interest did not arrive: {routez}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
