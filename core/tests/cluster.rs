//! Routes in virtual time: the handshake, interest propagation (`RS+`/`RS-` with queue
//! weights), the one-hop rule, queue groups preferring local members, and gossip.

use natrix_core::config::cluster::ClusterSettings;
use natrix_core::testing::Harness;
use natrix_core::Config;

fn clustered() -> Harness {
    Harness::new(Config {
        cluster: Some(ClusterSettings {
            name: Some("C1".to_string()),
            host: "127.0.0.1".to_string(),
            ..ClusterSettings::default()
        }),
        ..Config::default()
    })
}

const CONNECT: &str = r#"{"verbose":false,"protocol":1}"#;

#[test]
fn an_accepted_route_is_introduced_and_gets_our_interest() {
    let mut h = clustered();
    let client = h.client(CONNECT);
    h.send(client, b"SUB foo 1\r\nSUB bar q 2\r\nSUB bar q 3\r\n");
    let route = h.route("NPEER1", "C1");
    let sent = h.read_text(route);
    assert!(sent.starts_with("INFO {"), "{sent}");
    assert!(sent.contains(r#""cluster":"C1""#), "{sent}");
    assert!(sent.contains(r#""ip":"nats-route://127.0.0.1:6222/""#), "{sent}");
    assert!(sent.contains("RS+ $G foo\r\n"), "{sent}");
    assert!(sent.contains("RS+ $G bar q 2\r\n"), "{sent}");
    // Clients learn the peer's client URL.
    let info = h.read_text(client);
    assert!(
        info.contains(r#""connect_urls":["#) && info.contains("10.0.0.9:4222"),
        "{info}"
    );
    assert_eq!(h.server.route_count(), 1);
}

#[test]
fn interest_changes_reach_routes_once_per_subject_and_with_queue_weights() {
    let mut h = clustered();
    let route = h.route("NPEER1", "C1");
    h.read(route);
    let a = h.client(CONNECT);
    let b = h.client(CONNECT);
    h.send(a, b"SUB foo 1\r\n");
    h.send(b, b"SUB foo 1\r\n");
    h.send(a, b"SUB work w 2\r\n");
    h.send(b, b"SUB work w 2\r\n");
    assert_eq!(
        h.read_text(route),
        "RS+ $G foo\r\nRS+ $G work w 1\r\nRS+ $G work w 2\r\n"
    );
    h.send(a, b"UNSUB 1\r\nUNSUB 2\r\n");
    assert_eq!(h.read_text(route), "RS+ $G work w 1\r\n");
    h.input(natrix_core::Input::Closed {
        conn: b,
        reason: natrix_core::CloseReason::ClientClosed,
    });
    let gone = h.read_text(route);
    assert!(
        gone.contains("RS- $G foo\r\n") && gone.contains("RS- $G work w\r\n"),
        "{gone}"
    );
}

#[test]
fn routed_messages_reach_local_clients_but_never_another_route() {
    let mut h = clustered();
    let one = h.route("NPEER1", "C1");
    let two = h.route("NPEER2", "C1");
    let client = h.client(CONNECT);
    h.send(client, b"SUB foo 7\r\n");
    h.send(two, b"RS+ $G foo\r\n");
    h.read(one);
    h.read(two);
    h.send(one, b"RMSG $G foo reply 5\r\nhello\r\n");
    assert_eq!(h.read_text(client), "MSG foo 7 reply 5\r\nhello\r\n");
    assert_eq!(h.read_text(two), "", "one hop only");
    // A client's publish goes to the route with interest, once.
    h.send(client, b"PUB foo 2\r\nhi\r\n");
    assert_eq!(h.read_text(two), "RMSG $G foo 2\r\nhi\r\n");
    assert_eq!(h.read_text(one), "");
}

#[test]
fn queue_groups_prefer_local_members_and_fall_back_to_one_remote() {
    let mut h = clustered();
    let route = h.route("NPEER1", "C1");
    h.send(route, b"RS+ $G work w 3\r\n");
    h.read(route);
    let publisher = h.client(CONNECT);
    h.send(publisher, b"PUB work _INBOX.1 2\r\nhi\r\n");
    assert_eq!(h.read_text(route), "RMSG $G work + _INBOX.1 w 2\r\nhi\r\n");
    let member = h.client(CONNECT);
    h.send(member, b"SUB work w 1\r\n");
    h.read(route);
    h.advance(std::time::Duration::from_secs(3));
    for _ in 0..20 {
        h.send(publisher, b"PUB work 2\r\nhi\r\n");
    }
    assert_eq!(h.read_text(member).matches("MSG work 1 2").count(), 20);
    let forwarded = h.read_text(route);
    assert!(!forwarded.contains("RMSG"), "{forwarded}");
    // From a route, only the named groups are served, and only locally.
    h.send(route, b"RMSG $G work | other 2\r\nhi\r\n");
    assert_eq!(h.read_text(member), "");
    h.send(route, b"RMSG $G work | w 2\r\nhi\r\n");
    assert_eq!(h.read_text(member), "MSG work 1 2\r\nhi\r\n");
}

#[test]
fn a_newcomer_is_gossiped_to_the_other_routes() {
    let mut h = clustered();
    let one = h.route("NPEER1", "C1");
    h.read(one);
    let _two = h.route("NPEER2", "C1");
    let gossip = h.read_text(one);
    assert!(gossip.contains(r#""server_id":"NPEER2""#), "{gossip}");
    assert!(gossip.contains(r#""ip":"nats-route://127.0.0.1:6222/""#), "{gossip}");
    // A server we hear of through gossip is dialed.
    h.send(
        one,
        br#"INFO {"server_id":"NPEER3","cluster":"C1","port":7000,"ip":"nats-route://10.1.1.1:7000/"}
"#,
    );
    h.advance(std::time::Duration::from_millis(1));
    assert!(
        h.dials.iter().any(|(_, address)| address == "10.1.1.1:7000"),
        "{:?}",
        h.dials
    );
}

#[test]
fn a_route_from_another_cluster_is_refused() {
    let mut h = clustered();
    let route = h.route("NPEER1", "OTHER");
    let sent = h.read_text(route);
    assert!(
        sent.contains(r#"-ERR 'Rejecting connection, cluster name "OTHER" does not match "C1"'"#),
        "{sent}"
    );
    assert_eq!(h.closed(route), Some(natrix_core::CloseReason::ClusterNameConflict));
}

#[test]
fn lame_duck_mode_is_announced_to_routes_and_heard_from_them() {
    let mut h = clustered();
    let client = h.client(CONNECT);
    let route = h.route("NPEER1", "C1");
    h.read(route);
    assert!(h.read_text(client).contains("10.0.0.9:4222"));
    // The peer enters lame duck mode: its URL is withdrawn from our clients.
    h.send(
        route,
        b"INFO {\"server_id\":\"NPEER1\",\"cluster\":\"C1\",\"connect_urls\":[\"10.0.0.9:4222\"],\"ldm\":true}\r\n",
    );
    let info = h.read_text(client);
    assert!(info.starts_with("INFO ") && !info.contains("10.0.0.9:4222"), "{info}");
    // We enter it: the route hears INFO with ldm.
    h.input(natrix_core::Input::LameDuck);
    let sent = h.read_text(route);
    assert!(sent.contains(r#""ldm":true"#), "{sent}");
}

#[test]
fn cluster_settings_need_a_restart() {
    let mut h = clustered();
    let mut next = h.server.config().clone();
    if let Some(cluster) = next.cluster.as_mut() {
        cluster.name = Some("renamed".to_string());
    }
    h.input(natrix_core::Input::Reload(Box::new(next)));
    assert!(
        h.logs
            .iter()
            .any(|l| l.contains("config reload not supported for Cluster")),
        "{:?}",
        h.logs
    );
    assert_eq!(h.server.cluster_name(), Some("C1"));
}

#[test]
fn route_credentials_are_checked_and_a_bcrypt_password_off_the_core() {
    let hash = bcrypt::hash("s3cret", 4).expect("hash");
    let mut h = Harness::new(Config {
        cluster: Some(ClusterSettings {
            name: Some("C1".to_string()),
            host: "127.0.0.1".to_string(),
            user: Some("ruser".to_string()),
            password: Some(hash),
            ..ClusterSettings::default()
        }),
        ..Config::default()
    });
    h.defer_password_checks = true;
    let connect = |pass: &str| {
        format!(
            "CONNECT {{\"user\":\"ruser\",\"pass\":\"{pass}\",\"cluster\":\"C1\",\"name\":\"NPEER1\"}}\r\nINFO {{\"server_id\":\"NPEER1\",\"cluster\":\"C1\"}}\r\n"
        )
    };
    let route = h.accept_route();
    assert!(h.read_text(route).contains(r#""auth_required":true"#));
    h.send(route, connect("s3cret").as_bytes());
    // The INFO that came with CONNECT waits for the check.
    assert_eq!(h.server.route_count(), 0);
    assert!(h.paused(route));
    h.answer_password_checks();
    assert_eq!(h.server.route_count(), 1);
    assert!(!h.paused(route));

    let bad = h.accept_route();
    h.read(bad);
    h.send(bad, connect("wrong").as_bytes());
    h.answer_password_checks();
    assert!(h.read_text(bad).contains("-ERR 'Authorization Violation'"));
    assert_eq!(h.closed(bad), Some(natrix_core::CloseReason::AuthenticationViolation));
    // Anything but CONNECT first is refused too.
    let early = h.accept_route();
    h.read(early);
    h.send(early, b"INFO {\"server_id\":\"NPEER2\",\"cluster\":\"C1\"}\r\n");
    assert_eq!(h.closed(early), Some(natrix_core::CloseReason::AuthenticationViolation));
    assert_eq!(h.server.route_count(), 1);
}

mod peer_input {
    use super::*;
    use proptest::prelude::*;

    fn route_line() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(b"RS+ $G foo\r\n".to_vec()),
            Just(b"RS+ $G foo q 3\r\n".to_vec()),
            Just(b"RS- $G foo\r\n".to_vec()),
            Just(b"RS+ NOPE foo\r\n".to_vec()),
            Just(b"RMSG $G foo + r q 2\r\nhi\r\n".to_vec()),
            Just(b"HMSG $G foo 12 12\r\nNATS/1.0\r\n\r\n\r\n".to_vec()),
            Just(b"PING\r\n".to_vec()),
            Just(br#"INFO {"server_id":"NOTHER","ip":"nats-route://h:1/","cluster":"C1"}"#.to_vec()),
            Just(br#"INFO {"server_id":"NPEER1","connect_urls":["x:1"]}"#.to_vec()),
            Just(br#"CONNECT {"cluster":"C1","name":"NPEER1"}"#.to_vec()),
            proptest::collection::vec(any::<u8>(), 0..60),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever a route sends, the server neither panics nor leaves remote interest behind
        /// once the route is gone.
        #[test]
        fn anything_a_route_sends_is_survived(lines in proptest::collection::vec(route_line(), 0..12)) {
            let mut h = clustered();
            let client = h.client(CONNECT);
            h.send(client, b"SUB foo 1\r\n");
            let route = h.route("NPEER1", "C1");
            for mut line in lines {
                line.extend_from_slice(b"\r\n");
                h.send(route, &line);
            }
            h.input(natrix_core::Input::Closed { conn: route, reason: natrix_core::CloseReason::ClientClosed });
            prop_assert_eq!(h.server.route_count(), 0);
            prop_assert_eq!(h.server.subscription_count(), 1);
        }
    }
}
