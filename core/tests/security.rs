//! Authentication, permissions and accounts through the core, in virtual time, with the bytes
//! nats-server sends.

use std::time::Duration;

use natrix_core::config::format::{parse, Sources};
use natrix_core::config::options::apply;
use natrix_core::testing::Harness;
use natrix_core::{CloseReason, Config, ConnId, Input};

struct NoFiles;
impl Sources for NoFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("open {path}: no such file or directory"))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

fn config(text: &str) -> Config {
    let map = parse("t.conf", text, &NoFiles).expect("parses");
    let mut config = Config::default();
    apply(&map, &mut config).expect("applies");
    config
}

fn config_errors(text: &str) -> Vec<String> {
    let map = parse("t.conf", text, &NoFiles).expect("parses");
    let mut config = Config::default();
    match apply(&map, &mut config) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn harness(text: &str) -> Harness {
    Harness::new(config(text))
}

const VIOLATION: &str = "-ERR 'Authorization Violation'\r\n";

fn info_of(h: &mut Harness, id: ConnId) -> serde_json::Value {
    let text = h.read_text(id);
    let json = text
        .strip_prefix("INFO ")
        .and_then(|t| t.strip_suffix(" \r\n"))
        .expect("an INFO line");
    serde_json::from_str(json).expect("INFO is JSON")
}

/// Connects with `connect` JSON and returns the id and what the server answered to
/// CONNECT + PING.
fn login(h: &mut Harness, connect: &str) -> (ConnId, String) {
    let id = h.connect();
    h.read(id);
    h.send(id, format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
    let reply = h.read_text(id);
    (id, reply)
}

#[test]
fn token_authentication() {
    let mut h = harness("authorization { token: s3cr3t }");
    let id = h.connect();
    let info = info_of(&mut h, id);
    assert_eq!(info["auth_required"], true);
    assert!(info.get("nonce").is_none(), "no nonce without nkey users");
    h.send(id, b"CONNECT {\"verbose\":false,\"auth_token\":\"s3cr3t\"}\r\nPING\r\n");
    assert_eq!(h.read_text(id), "PONG\r\n");

    let (bad, reply) = login(&mut h, r#"{"verbose":false,"auth_token":"wrong"}"#);
    assert_eq!(reply, VIOLATION);
    assert_eq!(h.closed(bad), Some(CloseReason::AuthenticationViolation));
    assert!(
        h.logs
            .iter()
            .any(|l| l.ends_with("- authentication error - Token \"[REDACTED]\"")),
        "{:?}",
        h.logs
    );
    assert_eq!(h.closed(id), None, "the good client is undisturbed");
}

#[test]
fn users_with_plain_and_bcrypt_passwords() {
    let hash = bcrypt::hash("pw2", 4).unwrap();
    let mut h = harness(&format!(
        "authorization {{ users = [ {{user: alice, password: pw1}}, {{user: bob, password: \"{hash}\"}} ] }}"
    ));
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"alice","pass":"pw1"}"#);
    assert_eq!(reply, "PONG\r\n");
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"bob","pass":"pw2"}"#);
    assert_eq!(reply, "PONG\r\n");
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"bob","pass":"pw1"}"#);
    assert_eq!(reply, VIOLATION);
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"carol","pass":"pw1"}"#);
    assert_eq!(reply, VIOLATION);
    let (_, reply) = login(&mut h, r#"{"verbose":false}"#);
    assert_eq!(reply, VIOLATION);
    assert!(
        h.logs
            .iter()
            .any(|l| l.ends_with("- authentication error - User \"carol\"")),
        "{:?}",
        h.logs
    );
}

#[test]
fn bcrypt_checks_run_off_the_core_while_others_carry_on() {
    let hash = bcrypt::hash("pw", 4).unwrap();
    let mut h = harness(&format!(
        "authorization {{ users = [ {{user: slow, password: \"{hash}\"}}, {{user: fast, password: f}} ] }}"
    ));
    h.defer_password_checks = true;
    let (fast, _) = login(&mut h, r#"{"verbose":false,"user":"fast","pass":"f"}"#);
    let good = h.connect();
    h.read(good);
    // CONNECT and what follows it in the same read: held until the check is answered.
    h.send(
        good,
        b"CONNECT {\"verbose\":false,\"user\":\"slow\",\"pass\":\"pw\"}\r\nSUB a 1\r\nPING\r\n",
    );
    assert!(h.paused(good), "reading pauses while the password is checked");
    // A read that was already under way is held too.
    h.send(good, b"PUB a 1\r\nx\r\nPING\r\n");
    let bad = h.connect();
    h.read(bad);
    h.send(
        bad,
        b"CONNECT {\"verbose\":false,\"user\":\"slow\",\"pass\":\"nope\"}\r\n",
    );
    assert_eq!(h.password_checks.len(), 2);
    h.send(fast, b"PING\r\n");
    assert_eq!(h.read_text(fast), "PONG\r\n", "others are served meanwhile");
    assert_eq!(h.read_text(good), "");
    h.answer_password_checks();
    assert!(!h.paused(good));
    assert_eq!(h.read_text(good), "PONG\r\nMSG a 1 1\r\nx\r\nPONG\r\n");
    assert_eq!(h.read_text(bad), VIOLATION);
    assert_eq!(h.closed(bad), Some(CloseReason::AuthenticationViolation));
}

#[test]
fn single_user_from_the_authorization_block() {
    let mut h = harness("authorization { user: admin, password: pw }");
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"admin","pass":"pw"}"#);
    assert_eq!(reply, "PONG\r\n");
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"admin","pass":"pW"}"#);
    assert_eq!(reply, VIOLATION);
}

#[test]
fn nkey_signature_over_the_nonce() {
    let user = nkeys::KeyPair::new_user();
    let other = nkeys::KeyPair::new_user();
    let mut h = harness(&format!(
        "authorization {{ users = [ {{nkey: {}}} ] }}",
        user.public_key()
    ));
    let sign = |pair: &nkeys::KeyPair, nonce: &str| {
        let sig = pair.sign(nonce.as_bytes()).unwrap();
        base64url(&sig)
    };
    let id = h.connect();
    let info = info_of(&mut h, id);
    let nonce = info["nonce"].as_str().expect("a nonce").to_string();
    assert_eq!(nonce.len(), 15);
    let connect = format!(
        r#"{{"verbose":false,"nkey":"{}","sig":"{}"}}"#,
        user.public_key(),
        sign(&user, &nonce)
    );
    h.send(id, format!("CONNECT {connect}\r\nPING\r\n").as_bytes());
    assert_eq!(h.read_text(id), "PONG\r\n");

    // A signature by another key, or over another nonce, or none at all, is refused.
    for (pair, claimed) in [(&other, user.public_key()), (&user, other.public_key())] {
        let id = h.connect();
        let nonce = info_of(&mut h, id)["nonce"].as_str().unwrap().to_string();
        let connect = format!(
            r#"{{"verbose":false,"nkey":"{claimed}","sig":"{}"}}"#,
            sign(pair, &nonce)
        );
        h.send(id, format!("CONNECT {connect}\r\n").as_bytes());
        assert_eq!(h.read_text(id), VIOLATION);
    }
    let id = h.connect();
    h.read(id);
    h.send(
        id,
        format!(
            "CONNECT {{\"nkey\":\"{}\",\"sig\":\"{}\"}}\r\n",
            user.public_key(),
            sign(&user, "stale")
        )
        .as_bytes(),
    );
    assert_eq!(h.read_text(id), VIOLATION);
    assert!(h.logs.iter().any(|l| l.contains("authentication error - Nkey \"U")));
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[test]
fn no_auth_user_and_operations_before_connect() {
    let mut h = harness("authorization { users = [ {user: guest, password: x} ] }\nno_auth_user: guest");
    // Without credentials the client is the no_auth_user.
    let (_, reply) = login(&mut h, r#"{"verbose":false}"#);
    assert_eq!(reply, "PONG\r\n");
    // So is a client whose first operation is not CONNECT (telnet demos).
    let id = h.connect();
    h.read(id);
    h.send(id, b"PING\r\n");
    assert_eq!(h.read_text(id), "PONG\r\n");

    // Without a no_auth_user, an operation before CONNECT is a violation.
    let mut h = harness("authorization { token: t }");
    let id = h.connect();
    h.read(id);
    h.send(id, b"SUB foo 1\r\n");
    assert_eq!(h.read_text(id), VIOLATION);
    assert_eq!(h.closed(id), Some(CloseReason::AuthenticationViolation));
}

#[test]
fn auth_timeout() {
    let mut h = harness("authorization { token: t, timeout: 1.5 }");
    let slow = h.connect();
    let fast = h.connect();
    h.send(fast, b"CONNECT {\"auth_token\":\"t\",\"verbose\":false}\r\n");
    h.advance(Duration::from_millis(1400));
    assert_eq!(h.closed(slow), None);
    h.advance(Duration::from_millis(200));
    assert!(h.read_text(slow).ends_with("-ERR 'Authentication Timeout'\r\n"));
    assert_eq!(h.closed(slow), Some(CloseReason::AuthenticationTimeout));
    assert_eq!(h.closed(fast), None);
}

#[test]
fn auth_timeout_with_tls_starts_after_the_handshake() {
    let mut h = harness("tls { cert_file: c.pem, key_file: k.pem, timeout: 0.5 }\nauthorization { token: t }");
    let id = h.connect();
    let info = info_of(&mut h, id);
    assert_eq!(info["tls_required"], true);
    assert!(info.get("tls_verify").is_none());
    h.advance(Duration::from_millis(400));
    h.input(Input::TlsEstablished {
        conn: id,
        cert: None,
        session: Default::default(),
    });
    // The default auth timeout with TLS is the TLS timeout plus one second.
    h.advance(Duration::from_millis(1400));
    assert_eq!(h.closed(id), None);
    h.advance(Duration::from_millis(200));
    assert_eq!(h.closed(id), Some(CloseReason::AuthenticationTimeout));

    // A handshake that never completes is closed without a word.
    let id = h.connect();
    h.read(id);
    h.advance(Duration::from_millis(600));
    assert_eq!(h.closed(id), Some(CloseReason::TlsHandshakeError));
    assert_eq!(h.read_text(id), "");
    let id = h.connect();
    h.read(id);
    h.input(Input::TlsFailed {
        conn: id,
        error: "received corrupt message".into(),
    });
    assert_eq!(h.closed(id), Some(CloseReason::TlsHandshakeError));
    assert!(h
        .logs
        .iter()
        .any(|l| l.ends_with("TLS handshake error: received corrupt message")));
}

const PERMS: &str = r#"
authorization {
  users = [
    { user: a, password: a, permissions: {
        publish: { allow: ["orders.>", "_INBOX.>"], deny: ["orders.secret"] }
        subscribe: { allow: ["orders.*", "jobs workers", "_INBOX.>"], deny: ["orders.hidden"] }
    } }
    { user: svc, password: s, permissions: { subscribe: "requests", allow_responses: true } }
    { user: d, password: d }
  ]
  default_permissions: { publish: "public.>", subscribe: "public.>" }
}
"#;

#[test]
fn publish_permissions() {
    let mut h = harness(PERMS);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    let (watcher, _) = login(&mut h, r#"{"verbose":false,"user":"d","pass":"d"}"#);
    h.send(watcher, b"SUB public.> 1\r\nPING\r\n");
    h.read(watcher);
    h.send(a, b"PUB orders.new 2\r\nhi\r\nPING\r\n");
    assert_eq!(h.read_text(a), "PONG\r\n");
    h.send(a, b"PUB orders.secret 2\r\nhi\r\nPING\r\n");
    assert_eq!(
        h.read_text(a),
        "-ERR 'Permissions Violation for Publish to \"orders.secret\"'\r\nPONG\r\n"
    );
    h.send(a, b"PUB elsewhere 2\r\nhi\r\nPING\r\n");
    assert_eq!(
        h.read_text(a),
        "-ERR 'Permissions Violation for Publish to \"elsewhere\"'\r\nPONG\r\n"
    );
    assert_eq!(h.closed(a), None, "publish violations keep the connection");
    assert!(h
        .logs
        .iter()
        .any(|l| l.ends_with("Publish Violation - Subject \"orders.secret\"")));
    // default_permissions apply to users that name none.
    h.send(watcher, b"PUB public.x 1\r\nx\r\nPUB private 1\r\nx\r\nPING\r\n");
    assert_eq!(
        h.read_text(watcher),
        "MSG public.x 1 1\r\nx\r\n-ERR 'Permissions Violation for Publish to \"private\"'\r\nPONG\r\n"
    );
}

#[test]
fn subscribe_permissions_queues_and_deny_on_delivery() {
    let mut h = harness(PERMS);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    h.send(a, b"SUB orders.new 1\r\nSUB other 2\r\nSUB orders.hidden 3\r\nPING\r\n");
    assert_eq!(
        h.read_text(a),
        "-ERR 'Permissions Violation for Subscription to \"other\"'\r\n\
         -ERR 'Permissions Violation for Subscription to \"orders.hidden\"'\r\nPONG\r\n"
    );
    h.send(a, b"SUB jobs workers 4\r\nSUB jobs others 5\r\nSUB jobs 6\r\nPING\r\n");
    assert_eq!(
        h.read_text(a),
        "-ERR 'Permissions Violation for Subscription to \"jobs\" using queue \"others\"'\r\n\
         -ERR 'Permissions Violation for Subscription to \"jobs\"'\r\nPONG\r\n"
    );
    assert!(h
        .logs
        .iter()
        .any(|l| l.ends_with("Subscription Violation - Subject \"jobs\", Queue: \"others\", SID 5")));
    // A wildcard overlapping a denied subject is allowed, but never delivers the denied one.
    h.send(a, b"SUB orders.* 7\r\nPING\r\n");
    assert_eq!(h.read_text(a), "PONG\r\n");
    let (p, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    h.send(p, b"PUB orders.hidden 1\r\nx\r\nPUB orders.seen 1\r\ny\r\nPING\r\n");
    h.read(p);
    h.send(a, b"PING\r\n");
    assert_eq!(h.read_text(a), "MSG orders.seen 7 1\r\ny\r\nPONG\r\n");
    assert_eq!(h.closed(a), None);
}

#[test]
fn allow_responses_lets_a_service_answer_once() {
    let mut h = harness(PERMS);
    let (svc, _) = login(&mut h, r#"{"verbose":false,"user":"svc","pass":"s"}"#);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    h.send(svc, b"SUB requests 1\r\nPING\r\n");
    h.read(svc);
    h.send(svc, b"PUB _INBOX.x 1\r\nx\r\nPING\r\n");
    assert_eq!(
        h.read_text(svc),
        "-ERR 'Permissions Violation for Publish to \"_INBOX.x\"'\r\nPONG\r\n"
    );
    // a may publish to "requests"? It may not: its allow list is orders.> and _INBOX.>; use d.
    let (d, _) = login(&mut h, r#"{"verbose":false,"user":"svc","pass":"s"}"#);
    let _ = (a, d);
    // Grant the request path through a user allowed to publish it.
    let mut h = harness(
        "authorization { users = [ {user: svc, password: s, permissions: { subscribe: requests, allow_responses: true }}, {user: c, password: c} ] }",
    );
    let (svc, _) = login(&mut h, r#"{"verbose":false,"user":"svc","pass":"s"}"#);
    let (c, _) = login(&mut h, r#"{"verbose":false,"user":"c","pass":"c"}"#);
    h.send(svc, b"SUB requests 1\r\nPING\r\n");
    h.read(svc);
    h.send(c, b"SUB _INBOX.r 9\r\nPUB requests _INBOX.r 1\r\nq\r\nPING\r\n");
    h.read(c);
    assert_eq!(h.read_text(svc), "MSG requests 1 _INBOX.r 1\r\nq\r\n");
    h.send(svc, b"PUB _INBOX.r 1\r\na\r\nPUB _INBOX.r 1\r\nb\r\nPING\r\n");
    assert_eq!(
        h.read_text(svc),
        "-ERR 'Permissions Violation for Publish to \"_INBOX.r\"'\r\nPONG\r\n",
        "one response per request by default"
    );
    h.send(c, b"PING\r\n");
    assert_eq!(h.read_text(c), "MSG _INBOX.r 9 1\r\na\r\nPONG\r\n");
}

const ACCOUNTS: &str = r#"
accounts {
  A: {
    users: [ {user: a, password: a} ]
    exports: [ {stream: "pub.>"}, {service: "svc.>"}, {service: "many", response_type: stream} ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "pub.>"}, prefix: imp}
      {service: {account: A, subject: "svc.q"}, to: "ask"}
      {service: {account: A, subject: "many"}}
    ]
  }
  C: { users: [ {user: c, password: c} ] }
}
"#;

#[test]
fn accounts_are_isolated() {
    let mut h = harness(ACCOUNTS);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    let (c, _) = login(&mut h, r#"{"verbose":false,"user":"c","pass":"c"}"#);
    assert_eq!(h.server.account_of(a), Some("A"));
    assert_eq!(h.server.account_of(c), Some("C"));
    h.send(c, b"SUB > 1\r\nPING\r\n");
    h.read(c);
    h.send(a, b"SUB x 1\r\nPUB x 1\r\na\r\nPUB pub.foo 1\r\nb\r\nPING\r\n");
    assert_eq!(h.read_text(a), "MSG x 1 1\r\na\r\nPONG\r\n");
    h.send(c, b"PUB x 1\r\nc\r\nPING\r\n");
    assert_eq!(h.read_text(c), "MSG x 1 1\r\nc\r\nPONG\r\n", "C sees only its own x");
    h.send(a, b"PING\r\n");
    assert_eq!(h.read_text(a), "PONG\r\n", "A sees nothing of C's");
}

#[test]
fn stream_import_with_prefix() {
    let mut h = harness(ACCOUNTS);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    let (b, _) = login(&mut h, r#"{"verbose":false,"user":"b","pass":"b"}"#);
    h.send(b, b"SUB imp.pub.* 1\r\nSUB > 2\r\nPING\r\n");
    h.read(b);
    h.send(a, b"PUB pub.foo R.1 5\r\nhello\r\nPING\r\n");
    h.read(a);
    h.send(b, b"PING\r\n");
    let got = h.read_text(b);
    assert!(got.contains("MSG imp.pub.foo 1 R.1 5\r\nhello\r\n"), "{got}");
    assert!(got.contains("MSG imp.pub.foo 2 R.1 5\r\nhello\r\n"), "{got}");
    // Publishing on the import's subject in B never reaches A.
    h.send(a, b"SUB pub.> 9\r\nPING\r\n");
    h.read(a);
    h.send(b, b"PUB pub.foo 1\r\nx\r\nPUB imp.pub.foo 1\r\ny\r\nPING\r\n");
    h.read(b);
    h.send(a, b"PING\r\n");
    assert_eq!(h.read_text(a), "PONG\r\n");
}

#[test]
fn service_import_round_trip() {
    let mut h = harness(ACCOUNTS);
    let (a, _) = login(&mut h, r#"{"verbose":false,"headers":true,"user":"a","pass":"a"}"#);
    let (b, _) = login(
        &mut h,
        r#"{"verbose":false,"headers":true,"no_responders":true,"user":"b","pass":"b"}"#,
    );
    h.send(a, b"SUB svc.q 1\r\nPING\r\n");
    h.read(a);
    h.send(b, b"SUB INBOX.1 5\r\nPUB ask INBOX.1 3\r\nreq\r\nPING\r\n");
    assert_eq!(h.read_text(b), "PONG\r\n");
    let request = h.read_text(a);
    let line_end = request.find("\r\n").unwrap();
    let parts: Vec<&str> = request[..line_end].split(' ').collect();
    assert_eq!(parts[0..3], ["HMSG", "svc.q", "1"], "{request}");
    let reply = parts[3];
    assert!(reply.starts_with("_R_.") && reply.len() == 17, "{reply}");
    assert!(
        request[line_end + 2..].starts_with("NATS/1.0\r\nNats-Request-Info: {\"acc\":\"B\"}\r\n\r\nreq\r\n"),
        "{request}"
    );
    // The response crosses back to the requester's own reply subject, once.
    h.send(
        a,
        format!("PUB {reply} 2\r\nok\r\nPUB {reply} 2\r\nno\r\nPING\r\n").as_bytes(),
    );
    h.read(a);
    h.send(b, b"PING\r\n");
    assert_eq!(h.read_text(b), "MSG INBOX.1 5 2\r\nok\r\nPONG\r\n");

    // With nobody serving in A the requester gets no 503 through the import: it times out.
    h.send(a, b"UNSUB 1\r\nPING\r\n");
    h.read(a);
    h.send(b, b"PUB ask INBOX.1 0\r\n\r\nPING\r\n");
    assert_eq!(h.read_text(b), "PONG\r\n");
}

#[test]
fn stream_response_type_until_the_empty_message() {
    let mut h = harness(ACCOUNTS);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    let (b, _) = login(&mut h, r#"{"verbose":false,"user":"b","pass":"b"}"#);
    h.send(a, b"SUB many 1\r\nPING\r\n");
    h.read(a);
    h.send(b, b"SUB INBOX.s 5\r\nPUB many INBOX.s 1\r\nq\r\nPING\r\n");
    h.read(b);
    let request = h.read_text(a);
    let reply = request.split(' ').nth(3).unwrap().to_string();
    h.send(
        a,
        format!("PUB {reply} 2\r\nr1\r\nPUB {reply} 2\r\nr2\r\nPUB {reply} 0\r\n\r\nPUB {reply} 2\r\nr3\r\nPING\r\n")
            .as_bytes(),
    );
    h.read(a);
    h.send(b, b"PING\r\n");
    assert_eq!(
        h.read_text(b),
        "MSG INBOX.s 5 2\r\nr1\r\nMSG INBOX.s 5 2\r\nr2\r\nMSG INBOX.s 5 0\r\n\r\nPONG\r\n"
    );
}

#[test]
fn reload_applies_user_and_permission_changes() {
    let before = "authorization { users = [ {user: a, password: a}, {user: b, password: b} ] }";
    let after = "authorization { users = [ {user: a, password: a, permissions: { subscribe: \"ok.>\" }} ] }";
    let mut h = harness(before);
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    let (b, _) = login(&mut h, r#"{"verbose":false,"user":"b","pass":"b"}"#);
    h.send(a, b"SUB ok.1 1\r\nSUB nope 2\r\nPING\r\n");
    h.read(a);
    h.input(Input::Reload(Box::new(config(after))));
    // A removed user is closed quietly; a remaining one loses what it may no longer do.
    assert_eq!(h.read_text(b), "");
    assert_eq!(h.closed(b), Some(CloseReason::ClientClosed));
    assert_eq!(
        h.read_text(a),
        "-ERR 'Permissions Violation for Subscription to \"nope\" (sid \"2\")'\r\n"
    );
    assert!(h
        .logs
        .iter()
        .any(|l| l.ends_with("Removed sub \"nope\" (sid \"2\") for User \"a\" - not authorized")));
    assert_eq!(h.server.subscription_count(), 1);
    assert_eq!(h.closed(a), None);
}

#[test]
fn reload_refuses_a_changed_password() {
    let mut h = harness("authorization { users = [ {user: a, password: a} ] }");
    let (a, _) = login(&mut h, r#"{"verbose":false,"user":"a","pass":"a"}"#);
    h.input(Input::Reload(Box::new(config(
        "authorization { users = [ {user: a, password: a2} ] }",
    ))));
    assert_eq!(h.read_text(a), VIOLATION);
    assert_eq!(h.closed(a), Some(CloseReason::AuthenticationViolation));
}

#[test]
fn no_auth_user_hides_auth_required_and_the_system_only_file_admits_anonymous() {
    let mut h = harness("authorization { users = [ {user: guest, password: x} ] }\nno_auth_user: guest");
    let id = h.connect();
    assert!(info_of(&mut h, id).get("auth_required").is_none());
    let mut h = harness("accounts { $SYS: { users: [ {user: sys, password: sys} ] } }");
    let id = h.connect();
    assert_eq!(info_of(&mut h, id)["auth_required"], true);
    let (anon, reply) = login(&mut h, r#"{"verbose":false}"#);
    assert_eq!(reply, "PONG\r\n");
    assert_eq!(h.server.account_of(anon), Some("$G"));
    let (sys, reply) = login(&mut h, r#"{"verbose":false,"user":"sys","pass":"sys"}"#);
    assert_eq!(reply, "PONG\r\n");
    assert_eq!(h.server.account_of(sys), Some("$SYS"));
}

#[test]
fn connection_types_and_unbuilt_account_keys() {
    let mut h = harness(
        "authorization { users = [ {user: web, password: w, allowed_connection_types: [\"WEBSOCKET\"]}, \
         {user: std, password: s, allowed_connection_types: [\"standard\", \"websocket\"]} ] }",
    );
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"web","pass":"w"}"#);
    assert_eq!(reply, VIOLATION, "a websocket-only user cannot connect as a client");
    let (_, reply) = login(&mut h, r#"{"verbose":false,"user":"std","pass":"s"}"#);
    assert_eq!(reply, "PONG\r\n");

    let map = parse(
        "t.conf",
        "accounts { A: { limits: { max_conn: 5 }, users: [ {user: a} ] } }\nauthorization { auth_callout: {} }",
        &NoFiles,
    )
    .unwrap();
    let mut config = Config::default();
    let applied = apply(&map, &mut config).unwrap();
    let names: Vec<&str> = applied.not_implemented.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["accounts.A.limits", "authorization.auth_callout"]);
}

#[test]
fn configuration_errors_read_as_nats_servers() {
    assert_eq!(
        config_errors("authorization { token: t, user: u }"),
        ["t.conf:1:0: Cannot have a user/pass and token"]
    );
    assert_eq!(
        config_errors("accounts { A: { imports: [ {stream: {account: Z, subject: x}} ] } }"),
        ["t.conf:1:0: \"Z\" account not defined for stream import"]
    );
    assert_eq!(
        config_errors("accounts { A: {}, B: { imports: [ {service: {account: A, subject: x}} ] } }"),
        ["t.conf:1:0: Error adding service import \"x\": service import not authorized"]
    );
    assert_eq!(
        config_errors("accounts { A: { users: [{user: x}] }, B: { users: [{user: x}] } }"),
        ["t.conf:1:0: Duplicate user \"x\" detected"]
    );
    assert_eq!(
        config_errors("accounts { A: { exports: [ {stream: a, response_type: stream} ] } }"),
        ["t.conf:1:39: Detected response directive on non-service"]
    );
    assert_eq!(
        config_errors("authorization { users = [ {user: a} ] }\nno_auth_user: zz"),
        ["no_auth_user: \"zz\" not present as user in authorization block or account configuration"]
    );
    assert_eq!(
        config_errors("accounts: [A, A]"),
        ["t.conf:1:14: Duplicate Account Entry: A"]
    );
}
