//! Printing a configuration and parsing it back yields the same configuration.

use std::time::Duration;

use natrix_core::config::format::{parse, Sources};
use natrix_core::config::options::{apply, render};
use natrix_core::Config;
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

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1u64..1000).prop_map(Duration::from_millis),
        (1u64..100_000).prop_map(Duration::from_secs),
        (1u64..100_000, 1u64..1000).prop_map(|(s, ms)| Duration::from_secs(s) + Duration::from_millis(ms)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 _./\\\\\"'#:{}\\[\\]$-]{1,20}").expect("regex")
}

fn config() -> impl Strategy<Value = Config> {
    (
        (
            prop_oneof![
                Just("0.0.0.0".to_string()),
                Just("127.0.0.1".to_string()),
                Just("::".to_string())
            ],
            prop_oneof![Just(0u16), 1u16..],
            proptest::option::of(proptest::string::string_regex("[a-zA-Z0-9_-]{1,16}").expect("regex")),
            1usize..1 << 20,
            1usize..1 << 26,
            0usize..100_000,
            1usize..1 << 16,
        ),
        (
            duration(),
            0u32..10,
            duration(),
            (30u64..10_000).prop_map(Duration::from_secs),
            duration(),
            any::<[bool; 4]>(),
        ),
        (
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::option::of(prop_oneof![Just("tokio".to_string()), Just("mio".to_string())]),
            0usize..1 << 16,
        ),
    )
        .prop_map(
            |(
                (host, port, server_name, max_payload, extra_pending, max_connections, max_control_line),
                (ping_interval, ping_max, write_deadline, lame_duck_duration, lame_duck_grace_period, flags),
                (log_file, pid_file, ports_file_dir, runtime, max_subscriptions),
            )| Config {
                host,
                port,
                server_name,
                max_payload,
                max_pending: max_payload + extra_pending,
                max_connections,
                max_control_line,
                max_subscriptions,
                ping_interval,
                ping_max,
                write_deadline,
                lame_duck_duration,
                lame_duck_grace_period,
                no_fast_producer_stall: flags[0],
                debug: flags[1],
                trace: flags[2],
                logtime: flags[3],
                log_file,
                pid_file,
                ports_file_dir,
                runtime,
                ..Config::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn render_then_parse_round_trips(original in config()) {
        let text = render(&original);
        let map = parse("rendered.conf", &text, &NoFiles).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let mut parsed = Config::default();
        let applied = apply(&map, &mut parsed).map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
        prop_assert!(applied.not_implemented.is_empty());
        prop_assert_eq!(parsed, original, "{}", text);
    }
}
