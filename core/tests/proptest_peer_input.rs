//! What peers control never panics the core: monitoring requests, `$SYS` request bodies,
//! CONNECTs with credentials (traced and redacted), and security configuration sections.

use natrix_core::config::format::{parse, Sources};
use natrix_core::config::options::apply;
use natrix_core::testing::Harness;
use natrix_core::{Config, Instant};
use proptest::prelude::*;

struct NoFiles;

impl Sources for NoFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("open {path}: no such file or directory"))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

fn http_like() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        ("[A-Z]{0,6}", "[/a-z?=&%+0-9.*>_-]{0,40}", "(HTTP/1\\.[01])?")
            .prop_map(|(m, p, v)| { format!("{m} {p} {v}\r\nHost: x\r\n\r\n").into_bytes() }),
        proptest::sample::select(vec![
            "/connz?sort=",
            "/connz?state=",
            "/connz?limit=",
            "/connz?cid=",
            "/subsz?test=",
            "/accountz?acc=",
            "/healthz?js-enabled-only=",
            "/connz?subs=",
            "/varz?callback=",
        ])
        .prop_flat_map(
            |p| ("[a-z0-9%.*>-]{0,12}").prop_map(move |v| format!("GET {p}{v} HTTP/1.1\r\n\r\n").into_bytes())
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn monitoring_requests_always_get_an_http_answer(request in http_like()) {
        let mut h = Harness::new(Config::default());
        let id = h.client(r#"{"verbose":false,"name":"x"}"#);
        h.send(id, b"SUB a.* 1\r\nPUB a.b 1\r\nx\r\n");
        let response = h.server.monitor(Instant::from_nanos(5_000_000_000), &request);
        prop_assert!(response.starts_with(b"HTTP/1.1 "));
    }

    #[test]
    fn sys_request_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200), kind in proptest::sample::select(vec!["VARZ", "CONNZ", "SUBSZ", "ACCOUNTZ", "HEALTHZ", "STATSZ"])) {
        let mut h = Harness::new(Config::default());
        let subject = format!("$SYS.REQ.SERVER.PING.{kind}");
        if let Some(reply) = h.server.sys_request(subject.as_bytes(), &body) {
            prop_assert!(serde_json::from_slice::<serde_json::Value>(&reply).is_ok());
        }
    }

    #[test]
    fn connects_with_odd_credentials_are_answered(json in "[{}\"a-z:,0-9\\\\é ]{0,80}") {
        let map = parse("t.conf", "authorization { users = [ {user: a, password: b} ] }\ntrace: true", &NoFiles).expect("parses");
        let mut config = Config::default();
        apply(&map, &mut config).expect("applies");
        let mut h = Harness::new(config);
        let id = h.connect();
        h.read(id);
        h.send(id, format!("CONNECT {json}\r\nPING\r\n").as_bytes());
        let answer = h.read_text(id);
        prop_assert!(answer.starts_with("-ERR") || answer.contains("PONG") || h.closed(id).is_some(), "{answer}");
    }

    #[test]
    fn security_sections_parse_or_fail_cleanly(body in "[a-z_{}\\[\\]:,\" 0-9$.>*]{0,120}") {
        for section in ["authorization", "accounts", "tls"] {
            if let Ok(map) = parse("t.conf", &format!("{section} {body}"), &NoFiles) {
                let mut config = Config::default();
                let _ = apply(&map, &mut config);
            }
        }
    }
}
