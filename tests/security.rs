//! Security against the real binary on every runtime: TLS (with client certificates made here
//! with rcgen), each authentication method through async-nats, permissions and accounts, and
//! bad input on the TLS port and in CONNECT.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use common::{scratch_dir, Natrix, Raw, RUNTIMES};
use futures::StreamExt;

const WAIT: Duration = Duration::from_secs(5);

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
struct Pki {
    dir: PathBuf,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    /// A client certificate from a CA the server does not trust.
    rogue_cert: PathBuf,
    rogue_key: PathBuf,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write pem");
    path
}

fn make_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().expect("key")).expect("ca")
}

fn client_cert(issuer: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "Acme");
    params.distinguished_name.push(rcgen::DnType::CommonName, "alice");
    params.subject_alt_names.push(rcgen::SanType::Rfc822Name(
        "alice@example.com".try_into().expect("email"),
    ));
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, issuer).expect("client cert");
    (cert.pem(), key.serialize_pem())
}

fn pki(name: &str) -> Pki {
    let dir = scratch_dir(name);
    let ca = make_ca("natrix test CA");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("params");
    params.distinguished_name.push(rcgen::DnType::CommonName, "natrix");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = rcgen::KeyPair::generate().expect("key");
    let server = params.signed_by(&server_key, &ca).expect("server cert");
    let (client_pem, client_key) = client_cert(&ca);
    let (rogue_pem, rogue_key) = client_cert(&make_ca("someone else"));
    Pki {
        ca: write(&dir, "ca.pem", &ca.pem()),
        server_cert: write(&dir, "server.pem", &server.pem()),
        server_key: write(&dir, "server-key.pem", &server_key.serialize_pem()),
        client_cert: write(&dir, "client.pem", &client_pem),
        client_key: write(&dir, "client-key.pem", &client_key),
        rogue_cert: write(&dir, "rogue.pem", &rogue_pem),
        rogue_key: write(&dir, "rogue-key.pem", &rogue_key),
        dir,
    }
}

/// Starts natrix with `conf` written to a file in `dir`.
fn start_with_conf(runtime: &str, dir: &Path, conf: &str) -> Natrix {
    let path = dir.join("natrix.conf");
    std::fs::write(&path, conf).expect("write conf");
    let path = path.to_string_lossy().into_owned();
    Natrix::start(runtime, &["-c", &path])
}

fn tls_options(pki: &Pki) -> async_nats::ConnectOptions {
    async_nats::ConnectOptions::new()
        .add_root_certificates(pki.ca.clone())
        .require_tls(true)
        .connection_timeout(WAIT)
}

async fn echo_works(client: &async_nats::Client, subject: &str) {
    let mut sub = client.subscribe(subject.to_string()).await.expect("subscribe");
    client.flush().await.expect("flush");
    // The subscription is in place once a request through the server round-trips.
    let _ = client.request("natrix.barrier", Bytes::new()).await;
    client.publish(subject.to_string(), "hi".into()).await.expect("publish");
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(msg.payload, Bytes::from("hi"));
}

async fn refused(options: async_nats::ConnectOptions, url: String) {
    let result = options.connection_timeout(WAIT).connect(url).await;
    assert!(result.is_err(), "connection should be refused");
}

#[tokio::test]
async fn tls_with_client_certificates_mapped_to_users() {
    let pki = pki("tls-map");
    for runtime in RUNTIMES {
        let conf = format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify_and_map: true }}\n\
             authorization {{ users = [ {{user: \"alice@example.com\", permissions: {{publish: \"ok.>\", subscribe: \"ok.>\"}}}} ] }}\n",
            pki.server_cert, pki.server_key, pki.ca
        );
        let mut server = start_with_conf(runtime, &pki.dir, &conf);
        assert!(server.logged("TLS required for client connections"));
        let client = tls_options(&pki)
            .add_client_certificate(pki.client_cert.clone(), pki.client_key.clone())
            .connect(server.url())
            .await
            .expect("client with a certificate connects");
        assert!(client.server_info().tls_required);
        echo_works(&client, "ok.1").await;
        // No certificate, or one from another CA: the handshake fails.
        refused(tls_options(&pki), server.url()).await;
        refused(
            tls_options(&pki).add_client_certificate(pki.rogue_cert.clone(), pki.rogue_key.clone()),
            server.url(),
        )
        .await;
        server.wait_for_log("TLS handshake error");
        // The first client is undisturbed.
        echo_works(&client, "ok.2").await;
    }
}

#[tokio::test]
async fn plaintext_garbage_and_stalled_handshakes_on_a_tls_port() {
    let pki = pki("tls-bad");
    for runtime in RUNTIMES {
        let conf = format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, timeout: 0.5 }}\n",
            pki.server_cert, pki.server_key
        );
        let mut server = start_with_conf(runtime, &pki.dir, &conf);
        let good = tls_options(&pki).connect(server.url()).await.expect("tls client");

        // A plaintext client reads INFO (it says TLS is required), and is then cut off.
        let (mut plain, info) = Raw::connect(server.port);
        assert!(
            info.starts_with("INFO ") && info.contains("\"tls_required\":true"),
            "{info}"
        );
        plain.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
        let (rest, closed) = plain.read_for(Duration::from_secs(2));
        assert!(closed && rest.is_empty(), "closed={closed} {rest:?}");
        server.wait_for_log("TLS handshake error: tls: first record does not look like a TLS handshake");

        // Random bytes: the same.
        let (mut garbage, _) = Raw::connect(server.port);
        garbage.send(&[0x00, 0x01, 0xff, 0x42, 0x13, 0x37, 0x99, 0x10]);
        let (_, closed) = garbage.read_for(Duration::from_secs(2));
        assert!(closed);

        // Half a handshake, then silence: closed when the TLS timeout passes.
        let (mut stalled, _) = Raw::connect(server.port);
        stalled.send(&[0x16, 0x03, 0x01, 0x00, 0x50, 0x01]);
        let started = std::time::Instant::now();
        let (_, closed) = stalled.read_for(Duration::from_secs(3));
        assert!(closed, "a stalled handshake is cut off");
        assert!(started.elapsed() < Duration::from_secs(3));
        server.wait_for_log("TLS handshake timeout");

        echo_works(&good, "still.fine").await;
    }
}

#[tokio::test]
async fn mutual_tls_with_a_token() {
    let pki = pki("tls-verify");
    for runtime in RUNTIMES {
        let conf = format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true }}\n\
             authorization {{ token: s3cr3t }}\nhttp_port: -1\n",
            pki.server_cert, pki.server_key, pki.ca
        );
        let server = start_with_conf(runtime, &pki.dir, &conf);
        let with_cert = || tls_options(&pki).add_client_certificate(pki.client_cert.clone(), pki.client_key.clone());
        let client = with_cert()
            .token("s3cr3t".to_string())
            .connect(server.url())
            .await
            .expect("certificate and token");
        assert!(client.server_info().tls_required && client.server_info().auth_required);
        echo_works(&client, "m.1").await;
        assert!(
            server.logged("TLS version 1.3, cipher suite TLS_"),
            "the handshake is logged at debug"
        );
        refused(with_cert().token("wrong".to_string()), server.url()).await;
    }
}

#[tokio::test]
async fn token_user_password_and_bcrypt() {
    let hash = bcrypt::hash("pw2", 4).expect("bcrypt");
    for runtime in RUNTIMES {
        let dir = scratch_dir("auth");
        let conf = format!(
            "authorization {{ users = [ {{user: alice, password: pw1}}, {{user: bob, password: \"{hash}\"}} ] }}\n"
        );
        let mut server = start_with_conf(runtime, &dir, &conf);
        assert!(server.logged("Plaintext passwords detected, use nkeys or bcrypt"));
        let alice = async_nats::ConnectOptions::with_user_and_password("alice".into(), "pw1".into())
            .connect(server.url())
            .await
            .expect("alice");
        echo_works(&alice, "a").await;
        let bob = async_nats::ConnectOptions::with_user_and_password("bob".into(), "pw2".into())
            .connect(server.url())
            .await
            .expect("bob, bcrypt");
        echo_works(&bob, "b").await;
        refused(
            async_nats::ConnectOptions::with_user_and_password("bob".into(), "pw1".into()),
            server.url(),
        )
        .await;
        server.wait_for_log("authentication error - User \"bob\"");
        refused(async_nats::ConnectOptions::new(), server.url()).await;

        // The exact bytes, on a raw connection.
        let (mut raw, info) = Raw::connect(server.port);
        assert!(info.contains("\"auth_required\":true"), "{info}");
        raw.send(b"CONNECT {\"verbose\":false,\"user\":\"alice\",\"pass\":\"nope\"}\r\n");
        assert_eq!(raw.read_line(WAIT), "-ERR 'Authorization Violation'\r\n");
        let (_, closed) = raw.read_for(Duration::from_secs(1));
        assert!(closed);

        let token_dir = scratch_dir("token");
        let token_server = start_with_conf(runtime, &token_dir, "authorization { token: t0k3n }\n");
        let client = async_nats::ConnectOptions::with_token("t0k3n".into())
            .connect(token_server.url())
            .await
            .expect("token");
        echo_works(&client, "t").await;
        refused(
            async_nats::ConnectOptions::with_token("nope".into()),
            token_server.url(),
        )
        .await;
        echo_works(&alice, "a.still").await;
    }
}

#[tokio::test]
async fn nkey_users() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let other = nkeys::KeyPair::new_user().seed().expect("seed");
    for runtime in RUNTIMES {
        let dir = scratch_dir("nkey");
        let conf = format!("authorization {{ users = [ {{nkey: {}}} ] }}\n", user.public_key());
        let mut server = start_with_conf(runtime, &dir, &conf);
        let client = async_nats::ConnectOptions::with_nkey(seed.clone())
            .connect(server.url())
            .await
            .expect("nkey user");
        echo_works(&client, "n").await;
        refused(async_nats::ConnectOptions::with_nkey(other.clone()), server.url()).await;
        server.wait_for_log("authentication error - Nkey");

        // A signature over some other nonce is refused.
        let (mut raw, info) = Raw::connect(server.port);
        assert!(info.contains("\"nonce\":\""), "{info}");
        let sig = user.sign(b"not the nonce").expect("sign");
        let sig = base64url(&sig);
        raw.send(
            format!(
                "CONNECT {{\"verbose\":false,\"nkey\":\"{}\",\"sig\":\"{sig}\"}}\r\n",
                user.public_key()
            )
            .as_bytes(),
        );
        assert_eq!(raw.read_line(WAIT), "-ERR 'Authorization Violation'\r\n");
        echo_works(&client, "n.still").await;
    }
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

#[tokio::test]
async fn permission_violations_keep_the_connection() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("perms");
        let conf = r#"
authorization { users = [
  { user: a, password: a, permissions: {
      publish: { allow: "orders.>", deny: "orders.secret" },
      subscribe: { allow: ["orders.*", "jobs workers"] } } }
] }
"#;
        let server = start_with_conf(runtime, &dir, conf);
        let (mut raw, _) = Raw::connect(server.port);
        raw.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\n");
        raw.send(b"SUB orders.* 1\r\nSUB other 2\r\nSUB jobs workers 3\r\nSUB jobs idlers 4\r\n");
        raw.send(b"PUB orders.new 1\r\nx\r\nPUB orders.secret 1\r\ny\r\nPUB other 1\r\nz\r\nPING\r\n");
        let expected = "-ERR 'Permissions Violation for Subscription to \"other\"'\r\n\
            -ERR 'Permissions Violation for Subscription to \"jobs\" using queue \"idlers\"'\r\n\
            MSG orders.new 1 1\r\nx\r\n\
            -ERR 'Permissions Violation for Publish to \"orders.secret\"'\r\n\
            -ERR 'Permissions Violation for Publish to \"other\"'\r\n\
            PONG\r\n";
        assert_eq!(raw.read_exact_text(expected.len(), WAIT), expected);
        raw.send(b"PING\r\n");
        assert_eq!(raw.read_line(WAIT), "PONG\r\n", "still open");
    }
}

const ACCOUNTS: &str = r#"
accounts {
  A: {
    users: [ {user: a, password: a} ]
    exports: [ {stream: "prices.>"}, {service: "help.>"} ]
  }
  B: {
    users: [ {user: b, password: b} ]
    imports: [
      {stream: {account: A, subject: "prices.>"}, prefix: feed}
      {service: {account: A, subject: "help.me"}, to: "ask"}
    ]
  }
  C: { users: [ {user: c, password: c} ] }
}
"#;

#[tokio::test]
async fn accounts_isolate_and_share_through_imports() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("accounts");
        let server = start_with_conf(runtime, &dir, ACCOUNTS);
        let login = |user: &str| async_nats::ConnectOptions::with_user_and_password(user.into(), user.into());
        let a = login("a").connect(server.url()).await.expect("a");
        let b = login("b").connect(server.url()).await.expect("b");
        let c = login("c").connect(server.url()).await.expect("c");

        // Same subject, different accounts: no leakage.
        let mut c_prices = c.subscribe("prices.>").await.expect("sub");
        let mut c_feed = c.subscribe("feed.>").await.expect("sub");
        let mut b_feed = b.subscribe("feed.prices.*").await.expect("sub");
        let mut b_plain = b.subscribe("prices.eur").await.expect("sub");
        for client in [&a, &b, &c] {
            let _ = client.request("barrier", Bytes::new()).await;
        }
        a.publish("prices.eur", "1.08".into()).await.expect("publish");
        a.flush().await.expect("flush");
        let msg = tokio::time::timeout(WAIT, b_feed.next())
            .await
            .expect("stream import")
            .expect("open");
        assert_eq!(msg.subject.as_str(), "feed.prices.eur");
        assert_eq!(msg.payload, Bytes::from("1.08"));
        assert!(tokio::time::timeout(Duration::from_millis(300), b_plain.next())
            .await
            .is_err());
        assert!(tokio::time::timeout(Duration::from_millis(300), c_prices.next())
            .await
            .is_err());
        assert!(tokio::time::timeout(Duration::from_millis(100), c_feed.next())
            .await
            .is_err());

        // A service import: B asks on its own subject, A answers, the reply comes back.
        let mut service = a.subscribe("help.>").await.expect("service");
        let _ = a.request("barrier", Bytes::new()).await;
        let responder = a.clone();
        tokio::spawn(async move {
            if let Some(request) = service.next().await {
                assert_eq!(request.subject.as_str(), "help.me");
                let info = request
                    .headers
                    .as_ref()
                    .and_then(|h| h.get("Nats-Request-Info"))
                    .map(|v| v.to_string());
                let reply = request.reply.expect("a reply subject");
                assert!(reply.starts_with("_R_."));
                let body = format!("helped {}", info.unwrap_or_default());
                responder.publish(reply, body.into()).await.expect("respond");
                responder.flush().await.expect("flush");
            }
        });
        let response = tokio::time::timeout(WAIT, b.request("ask", "please".into()))
            .await
            .expect("in time")
            .expect("response");
        assert_eq!(response.payload, Bytes::from("helped {\"acc\":\"B\"}"));
    }
}

#[tokio::test]
async fn bad_connects_are_refused_without_disturbing_others() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("bad-connect");
        let server = start_with_conf(runtime, &dir, "authorization { token: t }\n");
        let good = async_nats::ConnectOptions::with_token("t".into())
            .connect(server.url())
            .await
            .expect("good client");

        // Invalid JSON: closed (nats-server sends no -ERR for it).
        let (mut raw, _) = Raw::connect(server.port);
        raw.send(b"CONNECT {\"auth_token\": t}\r\n");
        let (_, closed) = raw.read_for(Duration::from_secs(1));
        assert!(closed);

        // An oversized CONNECT.
        let (mut raw, _) = Raw::connect(server.port);
        let huge = format!("CONNECT {{\"auth_token\":\"{}\"}}\r\n", "x".repeat(10_000));
        raw.send(huge.as_bytes());
        assert_eq!(raw.read_line(WAIT), "-ERR 'maximum control line exceeded'\r\n");

        // An operation before CONNECT.
        let (mut raw, _) = Raw::connect(server.port);
        raw.send(b"SUB x 1\r\n");
        assert_eq!(raw.read_line(WAIT), "-ERR 'Authorization Violation'\r\n");

        // Silence: the auth timeout.
        let (mut raw, _) = Raw::connect(server.port);
        assert_eq!(
            raw.read_line(Duration::from_secs(4)),
            "-ERR 'Authentication Timeout'\r\n"
        );

        echo_works(&good, "ok").await;
    }
}

#[tokio::test]
async fn reload_removes_users_and_permissions() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("reload-auth");
        let before = "authorization { users = [ {user: a, password: a}, {user: b, password: b} ] }\n";
        let after = "authorization { users = [ {user: a, password: a, permissions: {subscribe: \"keep.>\"}} ] }\n";
        let mut server = start_with_conf(runtime, &dir, before);
        let (mut a, _) = Raw::connect(server.port);
        a.send(b"CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"a\"}\r\nSUB keep.1 1\r\nSUB drop 2\r\nPING\r\n");
        assert_eq!(a.read_line(WAIT), "PONG\r\n");
        let (mut b, _) = Raw::connect(server.port);
        b.send(b"CONNECT {\"verbose\":false,\"user\":\"b\",\"pass\":\"b\"}\r\nPING\r\n");
        assert_eq!(b.read_line(WAIT), "PONG\r\n");
        std::fs::write(dir.join("natrix.conf"), after).expect("rewrite conf");
        server.signal("HUP");
        server.wait_for_log("Reloaded server configuration");
        assert_eq!(
            a.read_line(WAIT),
            "-ERR 'Permissions Violation for Subscription to \"drop\" (sid \"2\")'\r\n"
        );
        let (_, closed) = b.read_for(Duration::from_secs(1));
        assert!(closed, "a removed user is disconnected");
        a.send(b"PING\r\n");
        assert_eq!(a.read_line(WAIT), "PONG\r\n");
    }
}

#[tokio::test]
async fn tls_handshake_first() {
    let pki = pki("tls-first");
    for runtime in RUNTIMES {
        let conf = format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, handshake_first: true }}\n",
            pki.server_cert, pki.server_key
        );
        let server = start_with_conf(runtime, &pki.dir, &conf);
        assert!(server.logged("Clients that are not using \"TLS Handshake First\" option will fail to connect"));
        let client = tls_options(&pki)
            .tls_first()
            .connect(server.url())
            .await
            .expect("tls first");
        echo_works(&client, "first").await;
        // A client expecting INFO in plaintext hears nothing and gives up.
        let stream = std::net::TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        let mut raw = Raw::from_stream(stream);
        let (text, _) = raw.read_for(Duration::from_millis(500));
        assert_eq!(text, "", "no plaintext INFO");
    }
}

#[tokio::test]
async fn tls_handshake_first_with_a_fallback_delay() {
    let pki = pki("tls-first-auto");
    for (value, delay) in [
        ("auto", Duration::from_millis(50)),
        ("\"300ms\"", Duration::from_millis(300)),
    ] {
        for runtime in RUNTIMES {
            let conf = format!(
                "tls {{ cert_file: {:?}, key_file: {:?}, handshake_first: {value} }}\n",
                pki.server_cert, pki.server_key
            );
            let server = start_with_conf(runtime, &pki.dir, &conf);
            // Both kinds of client connect, so the warning for handshake-first-only is not given.
            assert!(!server.logged("will fail to connect"), "{runtime} {value}");
            let first = tls_options(&pki)
                .tls_first()
                .connect(server.url())
                .await
                .unwrap_or_else(|e| panic!("{runtime} {value}: a TLS-first client: {e}"));
            echo_works(&first, "auto.first").await;
            let classic = tls_options(&pki)
                .connect(server.url())
                .await
                .unwrap_or_else(|e| panic!("{runtime} {value}: a client waiting for INFO: {e}"));
            echo_works(&classic, "auto.classic").await;
            // A silent client gets INFO in plaintext once the delay has passed, not before.
            let started = std::time::Instant::now();
            let (_raw, info) = Raw::connect(server.port);
            assert!(
                info.starts_with("INFO ") && info.contains("\"tls_required\":true"),
                "{info}"
            );
            assert!(
                started.elapsed() >= delay,
                "{runtime} {value}: INFO after {:?}",
                started.elapsed()
            );
        }
    }
}

/// Runs the openssl command line in `dir`; panics with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command line (Debian's openssl package)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The quickest way to a client certificate, as operators do it: `openssl req -newkey` and then
/// `openssl x509 -req` without an extensions file, which makes a version 1 certificate.
fn openssl_v1_client(dir: &Path, name: &str, ca: &str) {
    let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=alice",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "30",
        ],
    );
    let text = std::process::Command::new("openssl")
        .args(["x509", "-in", &pem, "-noout", "-text"])
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
        "openssl made a version 1 certificate"
    );
}

/// A NATS client over rustls that presents `cert` as it is (async-nats, through rustls's key
/// check, cannot load a version 1 certificate at all): INFO in plaintext, the handshake, then
/// `CONNECT` and `PING`. What came back after INFO, or why nothing did.
fn tls_ping_with_certificate(port: u16, dir: &Path, cert: &str, key: &str) -> Result<String, String> {
    use natrix_driver::tls::rustls;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::io::{BufRead, Read, Write};

    #[derive(Debug)]
    struct Present(std::sync::Arc<rustls::sign::CertifiedKey>);
    impl rustls::client::ResolvesClientCert for Present {
        fn resolve(
            &self,
            _: &[&[u8]],
            _: &[rustls::SignatureScheme],
        ) -> Option<std::sync::Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
        fn has_certs(&self) -> bool {
            true
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).expect("ca") {
        roots.add(ca.expect("ca pem")).expect("root");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join(cert))
        .expect("cert")
        .map(|c| c.expect("cert pem"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join(key)).expect("key");
    let signing = provider.key_provider.load_private_key(key).expect("signing key");
    let certified = std::sync::Arc::new(rustls::sign::CertifiedKey::new(chain, signing));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_client_cert_resolver(std::sync::Arc::new(Present(certified)));
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    let mut reader = std::io::BufReader::new(tcp);
    let mut info = String::new();
    reader.read_line(&mut info).map_err(|e| e.to_string())?;
    assert!(info.starts_with("INFO "), "{info}");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let session = rustls::ClientConnection::new(std::sync::Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(session, reader.into_inner());
    tls.write_all(b"CONNECT {\"verbose\":false}\r\nPING\r\n")
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 512];
    while !got.ends_with(b"PONG\r\n") {
        match tls.read(&mut chunk) {
            Ok(0) => return Err("closed".to_string()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn version_1_client_certificates_made_with_openssl() {
    let dir = scratch_dir("tls-v1");
    let ca = |name: &str| {
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-days",
                "30",
                "-subj",
                &format!("/CN={name}"),
            ],
        )
    };
    ca("ca");
    ca("rogue-ca");
    write(&dir, "server.ext", "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=natrix",
        ],
    );
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "30",
            "-extfile",
            "server.ext",
        ],
    );
    openssl_v1_client(&dir, "client", "ca");
    openssl_v1_client(&dir, "rogue", "rogue-ca");
    // A version 1 certificate whose signature was tampered with.
    let der = {
        openssl(
            &dir,
            &["x509", "-in", "client.pem", "-outform", "DER", "-out", "client.der"],
        );
        let mut der = std::fs::read(dir.join("client.der")).expect("der");
        let last = der.len() - 1;
        der[last] ^= 0x01;
        der
    };
    std::fs::write(dir.join("tampered.der"), der).expect("write");
    openssl(
        &dir,
        &["x509", "-inform", "DER", "-in", "tampered.der", "-out", "tampered.pem"],
    );
    for runtime in RUNTIMES {
        let conf = format!(
            "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true }}\n",
            dir.join("server.pem"),
            dir.join("server.key"),
            dir.join("ca.pem")
        );
        let mut server = start_with_conf(runtime, &dir, &conf);
        let pong = tls_ping_with_certificate(server.port, &dir, "client.pem", "client.key");
        assert_eq!(
            pong.as_deref(),
            Ok("PONG\r\n"),
            "{runtime}: a version 1 certificate is accepted"
        );
        // The chain is still checked: another CA's certificate, or a broken signature, is refused.
        let rogue = tls_ping_with_certificate(server.port, &dir, "rogue.pem", "rogue.key");
        assert!(rogue.is_err(), "{runtime}: {rogue:?}");
        let tampered = tls_ping_with_certificate(server.port, &dir, "tampered.pem", "client.key");
        assert!(tampered.is_err(), "{runtime}: {tampered:?}");
        server.wait_for_log("TLS handshake error");
    }
}
