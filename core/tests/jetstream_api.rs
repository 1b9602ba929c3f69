//! JetStream API answers checked against what nats-server 2.15.1 answered to the same requests
//! (captured by hand with its binary; the texts below are its).

use natrix_core::config::jetstream::JetStreamSettings;
use natrix_core::config::Config;
use natrix_core::testing::Harness;

fn server(strict: bool) -> (Harness, natrix_core::ConnId) {
    let mut h = Harness::new(Config {
        jetstream: Some(JetStreamSettings {
            store_dir: "js".into(),
            max_memory: 1 << 30,
            max_store: 1 << 40,
            strict,
            ..Default::default()
        }),
        ..Config::default()
    });
    let client = h.client(r#"{"verbose":false,"headers":true}"#);
    h.send(client, b"SUB r 1\r\n");
    (h, client)
}

/// Sends `body` to `subject` with reply `r`; returns the answer's payload.
fn ask(h: &mut Harness, client: natrix_core::ConnId, subject: &str, body: &str) -> String {
    h.send(
        client,
        format!("PUB {subject} r {}\r\n{body}\r\n", body.len()).as_bytes(),
    );
    let text = h.read_text(client);
    text.split_once("\r\n")
        .map(|(_, rest)| rest.trim_end().to_string())
        .unwrap_or(text)
}

#[test]
fn strict_requests_with_unknown_fields_are_refused() {
    let (mut h, c) = server(true);
    assert_eq!(
        ask(
            &mut h,
            c,
            "$JS.API.STREAM.CREATE.X",
            r#"{"name":"X","subjects":["x"],"bogus":1}"#
        ),
        r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"bogus\""}}"#
    );
    assert!(ask(&mut h, c, "$JS.API.STREAM.CREATE.X", r#"{"name":"X","subjects":["x"]}"#).contains("did_create"));
    assert_eq!(
        ask(&mut h, c, "$JS.API.STREAM.INFO.X", r#"{"offset":0,"bogus":{"a":1}}"#),
        r#"{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{"code":400,"err_code":10025,"description":"invalid JSON: json: unknown field \"bogus\""},"total":0,"offset":0,"limit":0}"#
    );
}

#[test]
fn without_strict_unknown_fields_are_ignored() {
    let (mut h, c) = server(false);
    assert!(ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.X",
        r#"{"name":"X","subjects":["x"],"bogus":1}"#
    )
    .contains("did_create"));
}

#[test]
fn msg_get_refuses_batches_and_takes_no_hdr_and_start_time() {
    let (mut h, c) = server(true);
    assert!(ask(&mut h, c, "$JS.API.STREAM.CREATE.X", r#"{"name":"X","subjects":["x"]}"#).contains("did_create"));
    h.send(c, b"HPUB x r 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
    assert_eq!(h.read_text(c).lines().nth(1), Some(r#"{"stream":"X","seq":1}"#));
    assert_eq!(
        ask(&mut h, c, "$JS.API.STREAM.MSG.GET.X", r#"{"seq":1,"batch":2}"#),
        r#"{"type":"io.nats.jetstream.api.v1.stream_msg_get_response","error":{"code":400,"err_code":10003,"description":"bad request"}}"#
    );
    let with = ask(&mut h, c, "$JS.API.STREAM.MSG.GET.X", r#"{"seq":1}"#);
    assert!(with.contains(r#""hdrs":"#), "{with}");
    let without = ask(&mut h, c, "$JS.API.STREAM.MSG.GET.X", r#"{"seq":1,"no_hdr":true}"#);
    assert!(
        !without.contains(r#""hdrs":"#) && without.contains(r#""data":"aGVsbG8=""#),
        "{without}"
    );
    let by_time = ask(
        &mut h,
        c,
        "$JS.API.STREAM.MSG.GET.X",
        r#"{"start_time":"1970-01-01T00:00:00Z"}"#,
    );
    assert!(by_time.contains(r#""seq":1"#), "{by_time}");
    let later = ask(
        &mut h,
        c,
        "$JS.API.STREAM.MSG.GET.X",
        r#"{"start_time":"2100-01-01T00:00:00Z"}"#,
    );
    assert!(later.contains("no message found"), "{later}");
    let conflict = ask(
        &mut h,
        c,
        "$JS.API.STREAM.MSG.GET.X",
        r#"{"seq":1,"start_time":"2000-01-01T00:00:00Z"}"#,
    );
    assert!(conflict.contains("bad request"), "{conflict}");
}

#[test]
fn the_servers_storage_limits_refuse_streams_and_publishes_as_nats_server_does() {
    let mut h = Harness::new(Config {
        jetstream: Some(JetStreamSettings {
            store_dir: "js".into(),
            max_memory: 1000,
            max_store: 1000,
            ..Default::default()
        }),
        ..Config::default()
    });
    let c = h.client(r#"{"verbose":false,"headers":true}"#);
    h.send(c, b"SUB r 1\r\n");
    let big = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.BIG",
        r#"{"name":"BIG","subjects":["big"],"max_bytes":2000}"#,
    );
    assert_eq!(
        big,
        r#"{"type":"io.nats.jetstream.api.v1.stream_create_response","error":{"code":500,"err_code":10047,"description":"insufficient storage resources available"}}"#
    );
    let memory = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.M",
        r#"{"name":"M","subjects":["m"],"storage":"memory","max_bytes":2000}"#,
    );
    assert!(
        memory.contains(r#""err_code":10028,"description":"insufficient memory resources available""#),
        "{memory}"
    );
    assert!(ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.A",
        r#"{"name":"A","subjects":["a"],"max_bytes":600}"#
    )
    .contains("did_create"));
    let second = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.B",
        r#"{"name":"B","subjects":["b"],"max_bytes":600}"#,
    );
    assert!(second.contains("10047"), "600 + 600 reserved > 1000: {second}");
    assert!(ask(&mut h, c, "$JS.API.STREAM.CREATE.C", r#"{"name":"C","subjects":["c"]}"#).contains("did_create"));
    // nats-server 2.15.1 took eight 100-byte messages and refused the ninth.
    let payload = "x".repeat(100);
    for seq in 1..=8 {
        assert_eq!(
            ask(&mut h, c, "c", &payload),
            format!(r#"{{"stream":"C","seq":{seq}}}"#)
        );
    }
    assert_eq!(
        ask(&mut h, c, "c", &payload),
        r#"{"error":{"code":503,"err_code":10023,"description":"insufficient resources"},"stream":"C","seq":0}"#
    );
    assert!(
        h.logs
            .iter()
            .any(|l| l.contains("JetStream file resource limits exceeded for server")),
        "{:?}",
        h.logs
    );
}

/// Sends `body` to `subject` with one header; returns the answer's payload.
fn ask_with(h: &mut Harness, client: natrix_core::ConnId, subject: &str, header: &str, body: &str) -> String {
    let block = format!("NATS/1.0\r\n{header}\r\n\r\n");
    let total = block.len() + body.len();
    h.send(
        client,
        format!("HPUB {subject} r {} {total}\r\n{block}{body}\r\n", block.len()).as_bytes(),
    );
    let text = h.read_text(client);
    text.split_once("\r\n")
        .map(|(_, rest)| rest.trim_end().to_string())
        .unwrap_or(text)
}

#[test]
fn rollups_replace_earlier_messages_where_the_stream_allows_them() {
    let (mut h, c) = server(true);
    assert!(ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.NR",
        r#"{"name":"NR","subjects":["nr.>"]}"#
    )
    .contains("did_create"));
    assert_eq!(
        ask_with(&mut h, c, "nr.a", "Nats-Rollup: sub", "1"),
        r#"{"error":{"code":500,"err_code":10111,"description":"rollup not permitted"},"stream":"NR","seq":0}"#
    );
    let create = r#"{"name":"R","subjects":["r.>"],"allow_rollup_hdrs":true}"#;
    assert!(ask(&mut h, c, "$JS.API.STREAM.CREATE.R", create).contains("did_create"));
    for body in ["1", "2"] {
        ask(&mut h, c, "r.a", body);
    }
    assert_eq!(ask(&mut h, c, "r.b", "3"), r#"{"stream":"R","seq":3}"#);
    assert_eq!(
        ask_with(&mut h, c, "r.a", "Nats-Rollup: bogus", "4"),
        r#"{"error":{"code":500,"err_code":10111,"description":"rollup value invalid: \"bogus\""},"stream":"R","seq":0}"#
    );
    assert_eq!(
        ask_with(&mut h, c, "r.a", "Nats-Rollup: sub", "5"),
        r#"{"stream":"R","seq":4}"#
    );
    let info = ask(&mut h, c, "$JS.API.STREAM.INFO.R", r#"{"subjects_filter":">"}"#);
    assert!(
        info.contains(r#""messages":2,"#) && info.contains(r#""subjects":{"r.a":1,"r.b":1}"#),
        "{info}"
    );
    assert_eq!(
        ask_with(&mut h, c, "r.c", "Nats-Rollup: all", "6"),
        r#"{"stream":"R","seq":5}"#
    );
    let info = ask(&mut h, c, "$JS.API.STREAM.INFO.R", r#"{"subjects_filter":">"}"#);
    assert!(
        info.contains(r#""messages":1,"#) && info.contains(r#""first_seq":5,"#),
        "{info}"
    );
}

struct NoFiles;
impl natrix_core::config::format::Sources for NoFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("open {path}: no such file or directory"))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

/// A configuration from file text.
fn config_from(text: &str) -> Result<Config, String> {
    let map = natrix_core::config::format::parse("test.conf", text, &NoFiles).map_err(|e| e.to_string())?;
    let mut config = Config::default();
    natrix_core::config::options::apply(&map, &mut config)
        .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))?;
    Ok(config)
}

/// A server from `limits` (an account `A` block's `jetstream` value) and a client of `A`.
fn account_server(limits: &str) -> (Harness, natrix_core::ConnId) {
    let text = format!(
        "jetstream {{ store_dir: js, max_file_store: 1T, max_memory_store: 1G }}\naccounts {{ A {{ users [ {{ user: a, password: a }} ], jetstream {limits} }} }}"
    );
    let mut h = Harness::new(config_from(&text).expect("valid"));
    let c = h.client(r#"{"verbose":false,"headers":true,"user":"a","pass":"a"}"#);
    h.send(c, b"SUB r 1\r\n");
    (h, c)
}

#[test]
fn account_limits_refuse_streams_and_publishes_as_nats_server_does() {
    // nats-server 2.15.1's answers to the same requests, in order.
    let limits = "{ max_file: 1000, max_streams: 2, max_bytes_required: true, disk_max_stream_bytes: 800 }";
    let (mut h, c) = account_server(limits);
    let error = |h: &mut Harness, subject: &str, body: &str| {
        let answer = ask(h, c, subject, body);
        let value: serde_json::Value = serde_json::from_str(&answer).expect("JSON");
        value["error"].to_string()
    };
    assert_eq!(
        error(&mut h, "$JS.API.STREAM.CREATE.S1", r#"{"name":"S1","subjects":["s1"]}"#),
        r#"{"code":400,"err_code":10113,"description":"account requires a stream config to have max bytes set"}"#
    );
    assert_eq!(
        error(
            &mut h,
            "$JS.API.STREAM.CREATE.S1",
            r#"{"name":"S1","subjects":["s1"],"max_bytes":900}"#
        ),
        r#"{"code":400,"err_code":10122,"description":"stream max bytes exceeds account limit max stream bytes"}"#
    );
    assert_eq!(
        error(
            &mut h,
            "$JS.API.STREAM.CREATE.S1",
            r#"{"name":"S1","subjects":["s1"],"max_bytes":600}"#
        ),
        "null"
    );
    assert_eq!(
        error(
            &mut h,
            "$JS.API.STREAM.CREATE.S2",
            r#"{"name":"S2","subjects":["s2"],"max_bytes":600}"#
        ),
        r#"{"code":500,"err_code":10047,"description":"insufficient storage resources available"}"#
    );
    assert_eq!(
        error(
            &mut h,
            "$JS.API.STREAM.CREATE.S2",
            r#"{"name":"S2","subjects":["s2"],"max_bytes":300}"#
        ),
        "null"
    );
    assert_eq!(
        error(
            &mut h,
            "$JS.API.STREAM.CREATE.S3",
            r#"{"name":"S3","subjects":["s3"],"max_bytes":10}"#
        ),
        r#"{"code":400,"err_code":10027,"description":"maximum number of streams reached"}"#
    );
    let info = ask(&mut h, c, "$JS.API.INFO", "");
    assert!(
        info.contains(r#""reserved_memory":0,"reserved_storage":900,"streams":2,"consumers":0,"limits":{"max_memory":-1,"max_storage":1000,"max_streams":2,"max_consumers":-1,"max_ack_pending":-1,"memory_max_stream_bytes":-1,"storage_max_stream_bytes":800,"max_bytes_required":true}"#),
        "{info}"
    );
}

#[test]
fn an_accounts_storage_limit_refuses_the_publish_that_would_pass_it() {
    let (mut h, c) = account_server("{ max_file: 1000 }");
    assert!(ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.S1",
        r#"{"name":"S1","subjects":["s1"]}"#
    )
    .contains("did_create"));
    // nats-server 2.15.1 took seven 100-byte messages and refused the eighth.
    let payload = "x".repeat(100);
    for seq in 1..=7 {
        assert_eq!(
            ask(&mut h, c, "s1", &payload),
            format!(r#"{{"stream":"S1","seq":{seq}}}"#)
        );
    }
    assert_eq!(
        ask(&mut h, c, "s1", &payload),
        r#"{"error":{"code":400,"err_code":10002,"description":"resource limits exceeded for account"},"stream":"S1","seq":0}"#
    );
    assert!(
        h.logs
            .iter()
            .any(|l| l.contains(r#"JetStream file resource limits exceeded for account: "A""#)),
        "{:?}",
        h.logs
    );
}

#[test]
fn account_jetstream_values_are_checked_as_nats_server_checks_them() {
    let refused = |value: &str| {
        config_from(&format!("accounts {{ A {{ jetstream: {value} }} }}"))
            .expect_err("refused")
            .to_string()
    };
    assert!(refused("maybe").contains("Expected 'enabled' or 'disabled' for string value, got 'maybe'"));
    assert!(refused("{ max_file: yes }").contains(r#"Expected a parseable size for "max_file", got true"#));
    assert!(
        refused("{ max_bytes_required: 5 }").contains(r#"Expected a parseable bool for "max_bytes_required", got 5"#)
    );
    assert!(refused("{ bogus: 1 }").contains(r#"unknown field "bogus""#));
    assert!(refused("[1]").contains("Expected map, bool or string to define JetStream, got []interface {}"));
    let config = config_from("accounts { A { jetstream: disabled }, B { jetstream: { streams: 3 } } }").expect("valid");
    let b = config.accounts.iter().find(|a| a.name == "B").expect("B");
    assert!(b.jetstream && b.jetstream_limits.max_streams == 3);
    assert!(!config.accounts.iter().any(|a| a.name == "A" && a.jetstream));
}

#[test]
fn reload_grows_limits_and_refuses_what_nats_server_refuses() {
    let text = |max_file: &str, extra: &str| {
        format!(
            "jetstream {{ store_dir: js, max_file_store: {max_file}, max_memory_store: 1G {extra} }}\naccounts {{ A {{ users [ {{ user: a, password: a }} ], jetstream {{ max_streams: 1 }} }} }}"
        )
    };
    let mut h = Harness::new(config_from(&text("1000", "")).expect("valid"));
    let c = h.client(r#"{"verbose":false,"headers":true,"user":"a","pass":"a"}"#);
    h.send(c, b"SUB r 1\r\n");
    let big = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.S",
        r#"{"name":"S","subjects":["s"],"max_bytes":5000}"#,
    );
    assert!(big.contains("10047"), "{big}");

    let reload = |h: &mut Harness, config: Config| {
        h.logs.clear();
        h.input(natrix_core::Input::Reload(Box::new(config)));
    };
    reload(&mut h, config_from(&text("10000", "")).expect("valid"));
    assert!(
        h.logs.iter().any(|l| l.contains("Reloaded: JetStream max_file_store")),
        "{:?}",
        h.logs
    );
    let now_fits = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.S",
        r#"{"name":"S","subjects":["s"],"max_bytes":5000}"#,
    );
    assert!(now_fits.contains("did_create"), "{now_fits}");

    reload(&mut h, config_from(&text("100", "")).expect("valid"));
    assert!(
        h.logs.iter().any(|l| l.contains(
            "Failed to reload server configuration: config reload not supported for decreasing jetstream max memory and store"
        )),
        "{:?}",
        h.logs
    );
    reload(&mut h, config_from(&text("10000", ", domain: hub")).expect("valid"));
    assert!(
        h.logs
            .iter()
            .any(|l| l.contains("config reload not supported for JetStreamDomain: old=, new=hub")),
        "{:?}",
        h.logs
    );

    // The account's limits follow the file: a second stream needs max_streams 2.
    let second = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.T",
        r#"{"name":"T","subjects":["t"],"max_bytes":10}"#,
    );
    assert!(second.contains("10027"), "{second}");
    let mut config = config_from(&text("10000", "")).expect("valid");
    for spec in &mut config.accounts {
        spec.jetstream_limits.max_streams = 2;
    }
    reload(&mut h, config);
    let second = ask(
        &mut h,
        c,
        "$JS.API.STREAM.CREATE.T",
        r#"{"name":"T","subjects":["t"],"max_bytes":10}"#,
    );
    assert!(second.contains("did_create"), "{second}");
}
