//! What each fuzz target does with its input, shared by the cargo-fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and the stable test that replays every corpus entry
//! (`core/tests/fuzz_corpus.rs`). Each function must never panic, whatever `data` is: a panic is
//! a bug the fuzzer reports.

use bytes::Bytes;
use natrix_core::config::cluster::ClusterSettings;
use natrix_core::config::format::{self, Sources};
use natrix_core::config::options;
use natrix_core::proto::{ConnectOptions, Parser, ParserLimits};
use natrix_core::testing::Harness;
use natrix_core::{Config, Instant};

/// What a target does with one input.
#[allow(dead_code)]
pub type Target = fn(&[u8]);

/// Every target, by name, for the corpus replay.
#[allow(dead_code)]
pub const TARGETS: &[(&str, Target)] = &[
    ("client_parser", client_parser),
    ("route_parser", route_parser),
    ("config", config),
    ("connect_json", connect_json),
    ("route_handshake", route_handshake),
    ("monitor_http", monitor_http),
    ("sys_request", sys_request),
];

/// Parses `data` as one stream split in two reads at a point the input's first byte picks (the
/// parser must give the same answers for any split, which the proptests check; here it must only
/// never panic), with small limits so the limit paths are reached.
fn parse_split(data: &[u8], route: bool) {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(rest.len());
    let mut parser = Parser::new(ParserLimits {
        max_control_line: 256,
        max_payload: 1024,
        headers: true,
        route,
    });
    for chunk in [&rest[..at], &rest[at..]] {
        let bytes = Bytes::copy_from_slice(chunk);
        let mut pos = 0;
        loop {
            match parser.next(&bytes, &mut pos) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                // A protocol error ends the connection: nothing more is parsed.
                Err(_) => return,
            }
        }
    }
}

/// The client protocol parser.
pub fn client_parser(data: &[u8]) {
    parse_split(data, false);
}

/// The route protocol parser.
pub fn route_parser(data: &[u8]) {
    parse_split(data, true);
}

/// No includes and no environment: the text is all there is.
struct NoFiles;

impl Sources for NoFiles {
    fn read(&self, path: &str) -> Result<String, String> {
        Err(format!("open {path}: no such file or directory"))
    }

    fn env(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The configuration file format, and applying what it parsed.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(map) = format::parse("fuzz.conf", &text, &NoFiles) {
        let mut config = Config::default();
        let _ = options::apply(&map, &mut config);
    }
}

/// CONNECT's JSON, decoded over the defaults and then over itself (a second CONNECT merges).
pub fn connect_json(data: &[u8]) {
    let mut options = ConnectOptions::default();
    if options.apply(data).is_ok() {
        let _ = options.apply(data);
    }
}

/// A route's handshake and what follows: the input arrives on an accepted route connection of a
/// clustered server (its INFO and CONNECT JSON, then route operations), in two reads.
pub fn route_handshake(data: &[u8]) {
    let mut harness = Harness::new(Config {
        cluster: Some(ClusterSettings {
            name: Some("fuzz".to_string()),
            ..ClusterSettings::default()
        }),
        ..Config::default()
    });
    let route = harness.accept_route();
    let half = data.len() / 2;
    harness.send(route, &data[..half]);
    harness.send(route, &data[half..]);
    let client = harness.connect();
    harness.send(client, b"CONNECT {}\r\nSUB > 1\r\nPUB x 1\r\na\r\nPING\r\n");
}

/// The monitoring HTTP request head, answered in full.
pub fn monitor_http(data: &[u8]) {
    let mut harness = Harness::new(Config::default());
    let _ = harness.server.monitor(Instant::from_nanos(1_000_000_000), data);
}

/// A `$SYS.REQ.SERVER` request: the subject is the input's first line, the body the rest.
pub fn sys_request(data: &[u8]) {
    let (subject, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let mut harness = Harness::new(Config::default());
    let _ = harness.server.sys_request(subject, body);
}
