//! `/metrics`: the monitoring figures in Prometheus' text format, under the names the official
//! prometheus-nats-exporter gives them (`gnatsd_varz_in_msgs` ...), so existing dashboards and
//! alerts work without running the exporter. Every metric is a gauge labelled with the server
//! id, as the exporter publishes them.

use std::fmt::Write as _;

use super::Report;

/// Builds the text exposition.
struct Exposition {
    out: String,
    server_id: String,
}

impl Exposition {
    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} gauge");
        let _ = writeln!(self.out, "{name}{{server_id=\"{}\"}} {}", self.server_id, number(value));
    }

    fn info(&mut self, name: &str, help: &str, value: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} gauge");
        let _ = writeln!(
            self.out,
            "{name}{{server_id=\"{}\",value=\"{}\"}} 1",
            self.server_id,
            escape(value)
        );
    }
}

/// A sample value: integers without a fraction.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Report<'_> {
    /// The Prometheus text exposition of varz, subsz, connz totals and health.
    pub fn metrics(&self) -> String {
        let varz = self.varz();
        let mut m = Exposition {
            out: String::with_capacity(8 * 1024),
            server_id: self.server_id.clone(),
        };
        let start_ms = (self.config.start_unix_nanos / 1_000_000) as f64;
        m.info("gnatsd_varz_server_id", "server_id", &varz.server_id);
        m.info("gnatsd_varz_server_name", "server_name", &varz.server_name);
        m.info("gnatsd_varz_version", "version", &varz.version);
        let gauges: [(&str, f64); 29] = [
            ("auth_timeout", varz.auth_timeout),
            ("config_load_time", start_ms),
            ("connections", varz.connections as f64),
            ("cores", f64::from(varz.cores)),
            ("cpu", varz.cpu),
            ("gomaxprocs", f64::from(varz.gomaxprocs)),
            ("http_port", f64::from(varz.http_port)),
            ("https_port", f64::from(varz.https_port)),
            ("in_bytes", varz.in_bytes as f64),
            ("in_msgs", varz.in_msgs as f64),
            ("leafnodes", varz.leafnodes as f64),
            ("max_connections", varz.max_connections as f64),
            ("max_control_line", varz.max_control_line as f64),
            ("max_payload", varz.max_payload as f64),
            ("max_pending", varz.max_pending as f64),
            ("mem", varz.mem as f64),
            ("out_bytes", varz.out_bytes as f64),
            ("out_msgs", varz.out_msgs as f64),
            ("ping_interval", varz.ping_interval as f64),
            ("ping_max", f64::from(varz.ping_max)),
            ("port", f64::from(varz.port)),
            ("proto", f64::from(varz.proto)),
            ("remotes", varz.remotes as f64),
            ("routes", varz.routes as f64),
            ("slow_consumers", varz.slow_consumers as f64),
            ("start", start_ms),
            ("subscriptions", varz.subscriptions as f64),
            ("tls_timeout", varz.tls_timeout),
            ("total_connections", varz.total_connections as f64),
        ];
        for (name, value) in gauges {
            m.gauge(&format!("gnatsd_varz_{name}"), name, value);
        }
        m.gauge(
            "gnatsd_varz_write_deadline",
            "write_deadline",
            varz.write_deadline as f64,
        );
        m.gauge(
            "gnatsd_varz_stale_connections",
            "stale_connections",
            varz.stale_connections as f64,
        );
        m.gauge(
            "gnatsd_varz_uptime_seconds",
            "uptime_seconds (natrix)",
            self.now
                .saturating_duration_since(crate::time::Instant::ZERO)
                .as_secs_f64(),
        );
        for (path, count) in &varz.http_req_stats {
            let key = path.trim_start_matches('/');
            let key = if key.is_empty() { "root" } else { key };
            let name = format!("gnatsd_varz_http_req_stats_{key}");
            m.gauge(&name, &format!("http_req_stats_{key}"), *count as f64);
        }
        let subs = self.sublist_stats(None);
        for (name, value) in [
            ("num_subscriptions", subs.num_subscriptions as f64),
            ("num_cache", subs.num_cache as f64),
            ("num_inserts", subs.num_inserts as f64),
            ("num_removes", subs.num_removes as f64),
            ("num_matches", subs.num_matches as f64),
            ("cache_hit_rate", subs.cache_hit_rate),
            ("max_fanout", subs.max_fanout as f64),
            ("avg_fanout", subs.avg_fanout),
        ] {
            m.gauge(&format!("gnatsd_subsz_{name}"), name, value);
        }
        let mut totals = [0f64; 6];
        for conn in self.clients() {
            totals[0] += conn.out.pending() as f64;
            totals[1] += conn.subs.len() as f64;
            totals[2] += conn.inbound.bytes as f64;
            totals[3] += conn.outbound.bytes as f64;
            totals[4] += conn.inbound.msgs as f64;
            totals[5] += conn.outbound.msgs as f64;
        }
        m.gauge(
            "gnatsd_connz_num_connections",
            "num_connections",
            self.connection_count() as f64,
        );
        m.gauge("gnatsd_connz_total", "total", self.connection_count() as f64);
        for (i, name) in [
            "pending_bytes",
            "subscriptions",
            "in_bytes",
            "out_bytes",
            "in_msgs",
            "out_msgs",
        ]
        .iter()
        .enumerate()
        {
            m.gauge(&format!("gnatsd_connz_{name}"), name, totals[i]);
        }
        m.gauge("gnatsd_routez_num_routes", "num_routes", 0.0);
        let healthy = self.healthz().status == "ok";
        m.gauge("gnatsd_healthz_status", "status", if healthy { 0.0 } else { 1.0 });
        m.out
    }
}
