//! Configuration files written after the examples in nats-server's documentation parse to the
//! expected values; broken files give nats-server's located errors.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use natrix_core::config::format::{parse, Sources};
use natrix_core::config::options::{apply, Applied};
use natrix_core::Config;

struct Corpus {
    env: HashMap<String, String>,
}

impl Sources for Corpus {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|_| format!("open {path}: no such file or directory"))
    }
    fn env(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
}

fn corpus_path(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/configs")
        .join(name)
        .display()
        .to_string()
}

fn load(name: &str) -> Result<(Config, Applied), String> {
    let sources = Corpus {
        env: HashMap::from([("BIG_PENDING".to_string(), "64MB".to_string())]),
    };
    let path = corpus_path(name);
    let text = sources.read(&path)?;
    let map = parse(&path, &text, &sources).map_err(|e| e.to_string())?;
    let mut config = Config::default();
    let applied = apply(&map, &mut config).map_err(|errors| format!("{errors:?}"))?;
    Ok((config, applied))
}

fn not_implemented(applied: &Applied) -> Vec<&str> {
    applied.not_implemented.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn simple() {
    let (config, applied) = load("simple.conf").unwrap();
    assert_eq!(config.port, 4222);
    assert_eq!(config.http_port, Some(8222));
    assert!(not_implemented(&applied).is_empty());
    let cluster = config.cluster.expect("the cluster block");
    assert_eq!(cluster.name.as_deref(), Some("my_cluster"));
    assert_eq!((cluster.host.as_str(), cluster.port), ("0.0.0.0", 6222));
    assert_eq!(
        (cluster.user.as_deref(), cluster.password.as_deref()),
        (Some("ruser"), Some("T0pS3cr3t"))
    );
    assert_eq!(cluster.auth_timeout, Some(std::time::Duration::from_secs(2)));
    assert_eq!(cluster.routes.len(), 1);
    assert_eq!(cluster.routes[0].address(), "otherdockerhost:6222");
    assert_eq!(cluster.routes[0].user.as_deref(), Some("ruser"));
}

#[test]
fn limits() {
    let (config, applied) = load("limits.conf").unwrap();
    assert!(applied.not_implemented.is_empty() && applied.warnings.is_empty());
    assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 4333));
    assert_eq!(config.server_name.as_deref(), Some("limits-server"));
    assert_eq!(config.max_connections, 100);
    assert_eq!(config.max_control_line, 512);
    assert_eq!(config.max_payload, 65536);
    assert_eq!(config.max_pending, 10 << 20);
    assert_eq!(config.max_subscriptions, 1000);
    assert_eq!(config.ping_interval, Duration::from_secs(60));
    assert_eq!(config.ping_max, 3);
    assert_eq!(config.write_deadline, Duration::from_secs(2));
    assert_eq!(config.lame_duck_duration, Duration::from_secs(150));
    assert_eq!(config.lame_duck_grace_period, Duration::from_secs(10));
    assert!(config.no_fast_producer_stall && !config.logtime && config.debug && !config.trace);
    assert_eq!(config.log_file.as_deref(), Some("/var/log/nats/server.log"));
    assert_eq!(config.pid_file.as_deref(), Some("/var/run/nats.pid"));
}

#[test]
fn variables_from_the_file_and_the_environment() {
    let (config, applied) = load("variables.conf").unwrap();
    assert_eq!(config.max_payload, 2 << 20);
    assert_eq!(config.max_pending, 64 << 20);
    assert!(
        not_implemented(&applied).is_empty(),
        "TOKEN and LIMIT are variables, not unknown keys"
    );
    assert_eq!(config.authorization.token.as_deref(), Some("secret"));
}

#[test]
fn includes_relative_to_the_including_file() {
    let (config, applied) = load("main.conf").unwrap();
    assert_eq!(config.host, "127.0.0.1");
    assert_eq!(config.max_connections, 42);
    assert!(not_implemented(&applied).is_empty());
    let users = &config.authorization.users;
    assert_eq!(users.len(), 1);
    assert_eq!(
        (users[0].name.as_str(), users[0].password.as_deref()),
        ("admin", Some("s3cr3t"))
    );
}

#[test]
fn broken_files_give_nats_server_errors() {
    // (file text, the error nats-server 2.9.10 prints for it)
    let cases = [
        ("port: 4222\nfoo: bar\n", "{f}:2:1: unknown field \"foo\""),
        (
            "max_payload: true\n",
            "{f}:1:0: interface conversion: interface {} is bool, not int64",
        ),
        (
            "port: \"abc\"\n",
            "{f}:1:0: interface conversion: interface {} is string, not int64",
        ),
        ("server_name: \"abc\n", "Parse error on line 2: 'Unexpected EOF.'"),
        (
            "cluster {\n  port: 1\n",
            "Parse error on line 3: 'Unexpected EOF processing map.'",
        ),
        (
            "ping_interval: \"30x\"\n",
            "{f}:1:0: error parsing ping_interval: time: unknown unit \"x\" in duration \"30x\"",
        ),
        (
            "write_deadline: \"abc\"\n",
            "{f}:1:0: error parsing write_deadline: time: invalid duration \"abc\"",
        ),
        (
            "lame_duck_duration: 60\n",
            "{f}:1:0: interface conversion: interface {} is int64, not string",
        ),
        (
            "port: $NOPE_X\n",
            "variable reference for 'NOPE_X' on line 1 can not be found",
        ),
        (
            "include ./nope.conf\n",
            "error parsing include file './nope.conf', open {d}/nope.conf: no such file or directory",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("natrix-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, (text, expected)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.conf"));
        std::fs::write(&path, text).unwrap();
        let sources = Corpus { env: HashMap::new() };
        let file = path.display().to_string();
        let result = parse(&file, text, &sources).map_err(|e| e.to_string()).and_then(|map| {
            apply(&map, &mut Config::default())
                .map(|_| ())
                .map_err(|errors| errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
        });
        let expected = expected
            .replace("{f}", &file)
            .replace("{d}", &dir.display().to_string());
        assert_eq!(result.unwrap_err(), expected, "{text:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
