//! Exact bytes on the wire, from the real binary, over raw TCP, on every runtime.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{Natrix, Raw, RUNTIMES};

const SHORT: Duration = Duration::from_secs(1);

#[test]
fn info_is_sent_first() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let (_raw, info) = Raw::connect(server.port);
        assert!(info.starts_with("INFO {\"server_id\":\"N"), "{info}");
        assert!(info.ends_with("} \r\n"), "{info:?}");
        let json: serde_like::Value = serde_like::parse(&info[5..info.len() - 3]);
        assert_eq!(json.get("proto"), Some("1"));
        assert_eq!(json.get("headers"), Some("true"));
        assert_eq!(json.get("max_payload"), Some("1048576"));
        assert_eq!(json.get("host"), Some("\"127.0.0.1\""));
        assert_eq!(json.get("port"), Some(server.port.to_string().as_str()));
        assert_eq!(json.get("client_ip"), Some("\"127.0.0.1\""));
        assert!(json.get("client_id").is_some());
        assert!(json.get("version").is_some_and(|v| v.starts_with("\"2.")));
    }
}

#[test]
fn verbose_mode_acknowledges_every_operation() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let (mut raw, _) = Raw::connect(server.port);
        raw.send(b"CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB foo 2\r\nhi\r\nUNSUB 1\r\nPING\r\n");
        let expected = "+OK\r\n+OK\r\n+OK\r\nMSG foo 1 2\r\nhi\r\n+OK\r\nPONG\r\n";
        assert_eq!(raw.read_exact_text(expected.len(), Duration::from_secs(5)), expected);
    }
}

#[test]
fn err_texts_and_whether_the_connection_closes() {
    // (input after a quiet CONNECT, expected reply, closed afterwards)
    let cases: &[(&[u8], &str, bool)] = &[
        (b"SUB foo..bar 1\r\n", "-ERR 'Invalid Subject'\r\n", false),
        (
            b"SUB foo _sys_ 1\r\n",
            "-ERR 'Permissions Violation for Subscription to \"foo\" using queue \"_sys_\"'\r\n",
            false,
        ),
        (
            b"PUB _GR_.x 1\r\na\r\n",
            "-ERR 'Permissions Violation for Publish to \"_GR_.x\"'\r\n",
            false,
        ),
        (b"FOO\r\n", "-ERR 'Unknown Protocol Operation'\r\n", true),
        (b"MSG foo 1 1\r\n", "-ERR 'Unknown Protocol Operation'\r\n", true),
        (b"PUB foo 2\r\nhiX\r\n", "-ERR 'Unknown Protocol Operation'\r\n", true),
        (b"PUB foo 1048577\r\n", "-ERR 'Maximum Payload Violation'\r\n", true),
        (b"PUB foo\r\n", "", true),
        (b"SUB foo\r\n", "", true),
        (
            b"CONNECT {\"protocol\":2}\r\n",
            "-ERR 'invalid client protocol'\r\n",
            true,
        ),
        (
            b"CONNECT {\"headers\":false,\"no_responders\":true}\r\n",
            "-ERR 'no responders requires headers support'\r\n",
            true,
        ),
        (b"CONNECT {oops\r\n", "", true),
    ];
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        for (input, reply, closes) in cases {
            let mut raw = Raw::client(server.port);
            raw.send(input);
            if !closes {
                raw.send(b"PING\r\n");
            }
            let (got, closed) = raw.read_for(SHORT);
            let expected = if *closes {
                reply.to_string()
            } else {
                format!("{reply}PONG\r\n")
            };
            let shown = String::from_utf8_lossy(input);
            assert_eq!(got, expected, "{runtime}: {shown}");
            assert_eq!(closed, *closes, "{runtime}: {shown}");
        }
    }
}

#[test]
fn pong_keeps_its_place_in_the_stream() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let mut raw = Raw::client(server.port);
        raw.send(b"SUB a 1\r\nPUB a 1\r\nx\r\nPING\r\nPUB a 1\r\ny\r\nPING\r\n");
        let expected = "MSG a 1 1\r\nx\r\nPONG\r\nMSG a 1 1\r\ny\r\nPONG\r\n";
        assert_eq!(raw.read_exact_text(expected.len(), Duration::from_secs(5)), expected);
    }
}

#[test]
fn control_line_limit_closes_the_connection() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        // Exactly 4096 argument bytes is allowed.
        let mut ok = Raw::client(server.port);
        let subject = "a".repeat(4094);
        ok.send(format!("SUB {subject} 1\r\nPING\r\n").as_bytes());
        assert_eq!(ok.read_for(SHORT), ("PONG\r\n".to_string(), false));
        // One more is refused, even before the line ends.
        let mut long = Raw::client(server.port);
        long.send(format!("SUB {}", "a".repeat(5000)).as_bytes());
        assert_eq!(
            long.read_for(SHORT),
            ("-ERR 'maximum control line exceeded'\r\n".to_string(), true)
        );
    }
}

#[test]
fn oversized_publish_is_refused_by_the_server() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let mut exact = Raw::client(server.port);
        exact.send(b"SUB big 1\r\n");
        let payload = vec![b'x'; 1024 * 1024];
        exact.send(b"PUB big 1048576\r\n");
        exact.send(&payload);
        exact.send(b"\r\n");
        let header = "MSG big 1 1048576\r\n";
        assert_eq!(exact.read_exact_text(header.len(), Duration::from_secs(5)), header);
        let body = exact.read_exact_text(payload.len() + 2, Duration::from_secs(5));
        assert_eq!(body.len(), payload.len() + 2);
        let mut over = Raw::client(server.port);
        over.send(b"PUB big 1048577\r\n");
        assert_eq!(
            over.read_for(SHORT),
            ("-ERR 'Maximum Payload Violation'\r\n".to_string(), true)
        );
    }
}

#[test]
fn slow_consumer_is_closed_while_a_fast_one_keeps_receiving() {
    for runtime in RUNTIMES {
        let mut server = Natrix::start(runtime, &[]);
        // The slow subscriber never reads; its socket buffers fill, then max_pending (64 MiB).
        let mut slow = Raw::client(server.port);
        slow.send(b"SUB flood 1\r\nPING\r\n");
        assert_eq!(slow.read_line(Duration::from_secs(5)), "PONG\r\n");
        let mut fast = Raw::client(server.port);
        fast.send(b"SUB flood 1\r\nPING\r\n");
        assert_eq!(fast.read_line(Duration::from_secs(5)), "PONG\r\n");
        fast.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut fast_stream = fast.stream.try_clone().expect("clone");
        // The fast subscriber drains on its own thread and counts what it gets.
        const MESSAGES: usize = 1600;
        const SIZE: usize = 64 * 1024;
        let reader = std::thread::spawn(move || {
            let per_message = format!("MSG flood 1 {SIZE}\r\n").len() + SIZE + 2;
            let mut total = 0usize;
            let mut buf = vec![0u8; 1 << 20];
            while total < MESSAGES * per_message {
                match fast_stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            total / per_message
        });
        let mut publisher = Raw::client(server.port);
        let mut message = format!("PUB flood {SIZE}\r\n").into_bytes();
        message.extend(std::iter::repeat_n(b'z', SIZE));
        message.extend_from_slice(b"\r\n");
        for _ in 0..MESSAGES {
            publisher.send(&message);
        }
        publisher.send(b"PING\r\n");
        // The server's own round-trip PING may come first.
        let mut line = publisher.read_line(Duration::from_secs(30));
        while line == "PING\r\n" {
            line = publisher.read_line(Duration::from_secs(30));
        }
        assert_eq!(line, "PONG\r\n");
        server.wait_for_log("Slow Consumer Detected: MaxPending of 67108864 Exceeded");
        assert_eq!(
            reader.join().expect("reader"),
            MESSAGES,
            "the fast subscriber got everything"
        );
        // The slow one was cut off: its socket reaches end of stream once drained.
        slow.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut sink = vec![0u8; 1 << 20];
        let mut drained = 0usize;
        loop {
            match slow.stream.read(&mut sink) {
                Ok(0) => break,
                Ok(n) => drained += n,
                Err(e) => panic!("slow consumer socket not closed: {e}"),
            }
        }
        assert!(drained < MESSAGES * SIZE, "the slow consumer did not get everything");
    }
}

/// Just enough JSON reading to check INFO's top-level fields without another dependency.
mod serde_like {
    pub struct Value(Vec<(String, String)>);

    impl Value {
        pub fn get(&self, key: &str) -> Option<&str> {
            self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
        }
    }

    /// Splits a flat JSON object into raw key/value texts.
    pub fn parse(text: &str) -> Value {
        let inner = text.trim().trim_start_matches('{').trim_end_matches('}');
        let mut fields = Vec::new();
        let mut depth = 0;
        let mut in_string = false;
        let mut start = 0;
        let bytes = inner.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'"' if i == 0 || bytes[i - 1] != b'\\' => in_string = !in_string,
                b'[' | b'{' if !in_string => depth += 1,
                b']' | b'}' if !in_string => depth -= 1,
                b',' if !in_string && depth == 0 => {
                    fields.push(&inner[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        fields.push(&inner[start..]);
        Value(
            fields
                .into_iter()
                .filter_map(|f| f.split_once(':'))
                .map(|(k, v)| (k.trim().trim_matches('"').to_string(), v.trim().to_string()))
                .collect(),
        )
    }
}

/// A request a queue group takes gets no 503, on the requester's own connection (the issue's
/// transcript) or another's; only a request nobody takes gets one.
#[test]
fn a_request_served_by_a_queue_group_gets_no_503() {
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &[]);
        let mut raw = Raw::client(server.port);
        raw.send(b"CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\n");
        raw.send(b"SUB test.func q 10\r\nSUB _INBOX.a.* 11\r\nPUB test.func _INBOX.a.b 1\r\nx\r\nPING\r\n");
        let (got, _) = raw.read_for(SHORT);
        assert_eq!(got, "MSG test.func 10 _INBOX.a.b 1\r\nx\r\nPONG\r\n", "{runtime}");

        let mut member = Raw::client(server.port);
        member.send(b"CONNECT {\"verbose\":false}\r\nSUB svc q 1\r\nPING\r\n");
        assert_eq!(member.read_for(SHORT).0, "PONG\r\n", "{runtime}");
        raw.send(b"PUB svc _INBOX.a.c 1\r\ny\r\nPUB nobody _INBOX.a.d 1\r\nz\r\nPING\r\n");
        // The server's own first PING may come along.
        let got = raw.read_for(SHORT).0.replace("PING\r\n", "");
        assert_eq!(
            got, "HMSG _INBOX.a.d 11 38 38\r\nNATS/1.0 503\r\nNats-Subject: nobody\r\n\r\n\r\nPONG\r\n",
            "{runtime}"
        );
        let got = member.read_for(SHORT).0.replace("PING\r\n", "");
        assert_eq!(got, "MSG svc 1 _INBOX.a.c 1\r\ny\r\n", "{runtime}");
    }
}
