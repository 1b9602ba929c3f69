//! Operating the real binary as nats-server is operated: configuration files, `-t`, flags over
//! the file, reload, lame duck mode and the ports file, on every runtime.

mod common;

use std::time::Duration;

use common::{run_to_end, scratch_dir, Natrix, Raw, RUNTIMES};

#[test]
fn check_config_exit_codes() {
    let dir = scratch_dir("check");
    let good = dir.join("good.conf");
    std::fs::write(
        &good,
        "port: 4333\nmax_payload: 2MB\n# comment\nping_interval: \"1m\"\n",
    )
    .expect("write");
    let (code, stderr) = run_to_end(&["-t", "-c", good.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr,
        format!("nats-server: configuration file {} is valid\n", good.display())
    );

    let bad = dir.join("bad.conf");
    std::fs::write(&bad, "port: 4333\nbogus: 1\n  max_payload: true\n").expect("write");
    let (code, stderr) = run_to_end(&["-t", "-c", bad.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    let path = bad.display();
    assert_eq!(
        stderr,
        format!(
            "nats-server: {path}:2:1: unknown field \"bogus\"\n{path}:3:3: interface conversion: interface {{}} is bool, not int64\n\n"
        )
    );

    let broken = dir.join("broken.conf");
    std::fs::write(&broken, "server_name: \"open\n").expect("write");
    let (code, stderr) = run_to_end(&["-t", "-c", broken.to_str().expect("utf8")]);
    assert_eq!(
        (code, stderr.as_str()),
        (1, "nats-server: Parse error on line 2: 'Unexpected EOF.'\n")
    );

    let (code, stderr) = run_to_end(&["-t"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("must specify [-c, --config]"), "{stderr}");
}

#[test]
fn flags_override_the_file_and_the_file_sets_the_rest() {
    let dir = scratch_dir("override");
    let conf = dir.join("server.conf");
    std::fs::write(&conf, "server_name: from-file\nmax_payload: 2KB\nport: 4999\n").expect("write");
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &["-c", conf.to_str().expect("utf8"), "-n", "from-flag"]);
        assert_ne!(server.port, 4999, "-p -1 overrides the file's port");
        let (_raw, info) = Raw::connect(server.port);
        assert!(info.contains("\"server_name\":\"from-flag\""), "{info}");
        assert!(info.contains("\"max_payload\":2048"), "{info}");
    }
}

#[test]
fn unimplemented_keys_are_reported_not_ignored() {
    let dir = scratch_dir("later");
    let conf = dir.join("server.conf");
    std::fs::write(&conf, "https_port: 8222\nmqtt { port: 1883 }\n").expect("write");
    for runtime in RUNTIMES {
        let server = Natrix::start(runtime, &["-c", conf.to_str().expect("utf8")]);
        assert!(server.logged("Option \"https_port\""));
        assert!(server.logged("Option \"mqtt\""));
    }
}

#[test]
fn reload_changes_max_payload_without_dropping_connections() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("reload");
        let conf = dir.join("server.conf");
        std::fs::write(&conf, "max_payload: 2KB\n").expect("write");
        let mut server = Natrix::start(runtime, &["-c", conf.to_str().expect("utf8")]);
        let mut client = Raw::client(server.port);
        client.send(b"PING\r\n");
        assert_eq!(client.read_line(Duration::from_secs(5)), "PONG\r\n");
        std::fs::write(&conf, "max_payload: 4KB\n").expect("write");
        server.signal("HUP");
        server.wait_for_log("Reloaded server configuration");
        let info = client.read_line(Duration::from_secs(5));
        assert!(
            info.starts_with("INFO ") && info.contains("\"max_payload\":4096"),
            "{info}"
        );
        // Same connection, new limit.
        client.send(b"SUB big 1\r\n");
        let payload = "x".repeat(3000);
        client.send(format!("PUB big 3000\r\n{payload}\r\nPING\r\n").as_bytes());
        assert_eq!(client.read_line(Duration::from_secs(5)), "MSG big 1 3000\r\n");
        // A change that needs a restart is refused whole.
        std::fs::write(&conf, "max_payload: 8KB\nserver_name: renamed\n").expect("write");
        server.signal("HUP");
        drop(server.wait_for_log("config reload not supported for ServerName"));
        let (_other, info) = Raw::connect(server.port);
        assert!(info.contains("\"max_payload\":4096"), "{info}");
    }
}

#[test]
fn lame_duck_mode_warns_clients_closes_them_and_exits() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("ldm");
        let conf = dir.join("server.conf");
        std::fs::write(&conf, "lame_duck_duration: \"30s\"\nlame_duck_grace_period: \"1s\"\n").expect("write");
        let mut server = Natrix::start(runtime, &["-c", conf.to_str().expect("utf8")]);
        let (mut client, first_info) = Raw::connect(server.port);
        let server_id = first_info
            .split("\"server_id\":\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .map(str::to_string);
        client.send(b"CONNECT {\"verbose\":false,\"protocol\":1}\r\nPING\r\n");
        assert_eq!(client.read_line(Duration::from_secs(5)), "PONG\r\n");
        server.signal("USR2");
        let info = client.read_line(Duration::from_secs(5));
        assert!(info.contains("\"ldm\":true"), "{info}");
        // New clients are turned away at once (a connection that succeeds reached another test's
        // server that was given the same port afterwards).
        std::thread::sleep(Duration::from_millis(200));
        if let Ok(stream) = std::net::TcpStream::connect(("127.0.0.1", server.port)) {
            let mut other = Raw::from_stream(stream);
            let info = other.read_line(Duration::from_secs(2));
            let id = server_id.as_deref().unwrap_or("?");
            assert!(!info.contains(id), "still accepting: {info}");
        }
        // After the grace period the client is closed, and with no clients left the server exits.
        let (_, closed) = client.read_for(Duration::from_secs(3));
        assert!(closed, "client closed after the grace period");
        assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
    }
}

#[test]
fn ports_file_and_pid_file() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("ports");
        let pid_file = dir.join("natrix.pid");
        let server = Natrix::start(
            runtime,
            &[
                "--ports_file_dir",
                dir.to_str().expect("utf8"),
                "-P",
                pid_file.to_str().expect("utf8"),
            ],
        );
        let ports = dir.join(format!("natrix_{}.ports", server.pid()));
        let text = std::fs::read_to_string(&ports).expect("ports file");
        assert_eq!(text, format!("{{\"nats\":[\"nats://127.0.0.1:{}\"]}}", server.port));
        assert_eq!(
            std::fs::read_to_string(&pid_file).expect("pid file"),
            server.pid().to_string()
        );
        assert!(server.terminate());
        assert!(!ports.exists() && !pid_file.exists(), "removed on exit");
    }
}

#[test]
fn signal_flag_reaches_a_running_server() {
    for runtime in RUNTIMES {
        let dir = scratch_dir("signal");
        let pid_file = dir.join("natrix.pid");
        let mut server = Natrix::start(runtime, &["-P", pid_file.to_str().expect("utf8")]);
        let target = format!("quit={}", pid_file.display());
        let (code, stderr) = run_to_end(&["--signal", &target]);
        assert_eq!(code, 0, "{stderr}");
        assert_eq!(server.wait_exit(Duration::from_secs(10)), Some(0));
        let (code, stderr) = run_to_end(&["--signal", "bogus=1"]);
        assert_eq!((code, stderr.as_str()), (1, "nats-server: unknown signal \"bogus\"\n"));
    }
}
