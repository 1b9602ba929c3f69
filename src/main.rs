//! `natrix`: a NATS server, started with nats-server's flags.

mod cli;
mod config_file;
mod logger;
mod process_stats;
mod signals;

use std::process::ExitCode;
use std::sync::Arc;

use natrix_core::{Config, Input, Level, LogSink, Node, COMPATIBLE_VERSION};

use cli::Command;
use logger::Logger;

const NATRIX_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What nats-server calls itself in the messages it prints before logging starts; Natrix prints
/// the same texts.
const EXE: &str = "nats-server";

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(e) => {
            eprintln!("{e}");
            if !matches!(e, cli::CliError::UnknownCommand(_)) {
                println!("{}", cli::USAGE);
            }
            return ExitCode::FAILURE;
        }
    };
    let opts = match command {
        Command::Help => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Command::Version => {
            println!("natrix: v{NATRIX_VERSION} (nats-server v{COMPATIBLE_VERSION} compatible)");
            return ExitCode::SUCCESS;
        }
        Command::Run(opts) => *opts,
    };
    if let Some(expression) = &opts.signal {
        return match signals::send(expression) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{EXE}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if opts.check_config && opts.config_file.is_none() {
        eprintln!("{EXE}: must specify [-c, --config] option to check configuration file(s)");
        return ExitCode::FAILURE;
    }
    let config_file::Loaded {
        config,
        applied,
        tls,
        route_tls,
    } = match config_file::load(&opts) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("{EXE}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if opts.check_config {
        // nats-server fails the check on warnings too.
        if !applied.warnings.is_empty() {
            let text: Vec<String> = applied.warnings.iter().map(ToString::to_string).collect();
            eprintln!("{EXE}: {}", text.join("\n"));
            return ExitCode::FAILURE;
        }
        eprintln!(
            "{EXE}: configuration file {} is valid",
            opts.config_file.as_deref().unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    for warning in &applied.warnings {
        eprintln!("{EXE}: {warning}");
    }
    let logger = match Logger::new(config.log_file.as_deref(), config.logtime, config.debug, config.trace) {
        Ok(logger) => logger,
        Err(e) => {
            eprintln!(
                "{EXE}: could not open log file {:?}: {e}",
                config.log_file.clone().unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
    };
    logger::install(Arc::clone(&logger));
    let runtime = match config.runtime.as_deref().unwrap_or("tokio") {
        "tokio" => Runtime::Tokio,
        "mio" => Runtime::Mio,
        other => {
            logger::emit(
                Level::Fatal,
                &format!("Unknown runtime {other:?}: use \"tokio\" or \"mio\""),
            );
            return ExitCode::FAILURE;
        }
    };
    for (key, at) in &applied.not_implemented {
        logger::emit(
            Level::Warn,
            &format!("Option {key:?} ({at}) is not implemented by natrix yet and has no effect"),
        );
    }
    for flag in &opts.not_implemented {
        logger::emit(
            Level::Warn,
            &format!("Flag {flag} is not implemented by natrix yet and has no effect"),
        );
    }
    let actions = match signals::install() {
        Ok(actions) => actions,
        Err(e) => {
            logger::emit(Level::Fatal, &format!("Could not install signal handlers: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let Some(started) = start(config, tls, route_tls, &opts) else {
        return ExitCode::FAILURE;
    };
    let pid_file = started.server.config().pid_file.clone();
    let ports_file = started.ports_file.clone();
    let sink: LogSink = Arc::new(logger::emit);
    let control = Control {
        logger: Arc::clone(&logger),
        opts: opts.clone(),
        actions,
    };
    let result = match runtime {
        Runtime::Tokio => run_tokio(started, sink, control),
        Runtime::Mio => run_mio(started, sink, control),
    };
    for path in [pid_file, ports_file].into_iter().flatten() {
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(()) => {
            logger::emit(Level::Info, "Server Exiting..");
            ExitCode::SUCCESS
        }
        Err(e) => {
            logger::emit(Level::Fatal, &format!("Server failed: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// The event loops natrix can run on.
enum Runtime {
    Tokio,
    Mio,
}

/// Turns signals into operator inputs for whichever runtime runs.
struct Control {
    logger: Arc<Logger>,
    opts: cli::Options,
    actions: std::sync::mpsc::Receiver<signals::Action>,
}

impl Control {
    /// Acts on signals on a thread of its own; `send` hands an input to the running core.
    fn listen(self, send: impl Fn(Input) + Send + Clone + 'static) {
        let Control { logger, opts, actions } = self;
        // Memory and CPU figures for monitoring, once a second.
        let sampler_send = send.clone();
        let _ = std::thread::Builder::new()
            .name("process-stats".to_string())
            .spawn(move || {
                let mut sampler = process_stats::Sampler::new();
                loop {
                    sampler_send(Input::ProcessStats(sampler.sample()));
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            });
        let spawned = std::thread::Builder::new().name("operator".to_string()).spawn(move || {
            for action in actions {
                act(action, &logger, &opts, &send);
            }
        });
        if let Err(e) = spawned {
            logger::emit(Level::Error, &format!("Could not start the signal handler: {e}"));
        }
    }
}

/// What a signal asks for.
fn act(action: signals::Action, logger: &Logger, opts: &cli::Options, send: &impl Fn(Input)) {
    match action {
        signals::Action::Stop(name) => {
            logger::emit(Level::Debug, &format!("Trapped {name:?} signal"));
            logger::emit(Level::Info, "Initiating Shutdown...");
            send(Input::Shutdown);
        }
        signals::Action::LameDuck => send(Input::LameDuck),
        signals::Action::ReopenLog => {
            if let Err(e) = logger.reopen() {
                logger::emit(Level::Error, &format!("Error reopening log file: {e}"));
            } else {
                logger::emit(Level::Info, "File log re-opened");
            }
        }
        signals::Action::Reload => match config_file::load(opts) {
            Ok(config_file::Loaded { config, .. }) => {
                logger.set_levels(config.logtime, config.debug, config.trace);
                send(Input::Reload(Box::new(config)));
            }
            Err(e) => logger::emit(Level::Error, &format!("Failed to reload server configuration: {e}")),
        },
    }
}

/// What start-up produced.
struct Started {
    listener: std::net::TcpListener,
    monitor: Option<std::net::TcpListener>,
    cluster: Option<std::net::TcpListener>,
    route_tls: Option<natrix_driver::tls::RouteTls>,
    server: Node,
    ports_file: Option<String>,
    tls: Option<natrix_driver::tls::TlsAcceptor>,
    /// JetStream's file executor, when enabled.
    storage: Option<natrix_driver::Storage>,
}

/// What every runtime shares: bind the client port, build the core, write the pid and ports
/// files and print nats-server's start-up lines. `None` after logging why it could not start.
fn start(
    mut config: Config,
    tls: Option<natrix_driver::tls::TlsAcceptor>,
    route_tls: Option<natrix_driver::tls::RouteTls>,
    opts: &cli::Options,
) -> Option<Started> {
    let bind = join_host_port(&config.host, config.port);
    let listener = match std::net::TcpListener::bind(&bind) {
        Ok(listener) => listener,
        Err(e) => {
            logger::emit(
                Level::Fatal,
                &format!("Error listening on port: {bind}, {:?}", e.to_string()),
            );
            return None;
        }
    };
    config.port = listener.local_addr().map(|a| a.port()).unwrap_or(config.port);
    let monitor = match config.http_port {
        Some(port) => {
            let host = config.http_host.clone().unwrap_or_else(|| config.host.clone());
            let bind = join_host_port(&host, port);
            match std::net::TcpListener::bind(&bind) {
                Ok(monitor) => {
                    config.http_port = monitor.local_addr().ok().map(|a| a.port());
                    config.http_host = Some(host);
                    Some(monitor)
                }
                Err(e) => {
                    logger::emit(
                        Level::Fatal,
                        &format!("Can't listen to the monitor port: listen tcp {bind}: {e}"),
                    );
                    return None;
                }
            }
        }
        None => None,
    };
    let cluster = match config.cluster.as_mut() {
        Some(settings) => {
            let bind = join_host_port(&settings.host, settings.port);
            match std::net::TcpListener::bind(&bind) {
                Ok(cluster) => {
                    settings.port = cluster.local_addr().map(|a| a.port()).unwrap_or(settings.port);
                    Some(cluster)
                }
                Err(e) => {
                    logger::emit(
                        Level::Fatal,
                        &format!("Error listening on router port: {bind}, {:?}", e.to_string()),
                    );
                    return None;
                }
            }
        }
        None => None,
    };
    config.start_unix_nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    config.seed = seed_from_os();
    config.toolchain = env!("NATRIX_RUSTC_VERSION").to_string();
    let runtime = config.runtime.clone().unwrap_or_else(|| "tokio".to_string());
    let mut server = Node::new(config);
    let config = server.config().clone();
    let config = &config;
    if let Some(path) = &config.pid_file {
        if let Err(e) = std::fs::write(path, std::process::id().to_string()) {
            logger::emit(Level::Fatal, &format!("Could not write pidfile: {e}"));
            return None;
        }
    }
    logger::emit(
        Level::Info,
        &format!("Starting nats-server (natrix {NATRIX_VERSION}, {runtime} runtime)"),
    );
    logger::emit(Level::Info, &format!("  Version:  {COMPATIBLE_VERSION}"));
    logger::emit(Level::Info, "  Git:      [not set]");
    logger::emit(Level::Info, &format!("  Name:     {}", server.server_name()));
    logger::emit(Level::Info, &format!("  ID:       {}", server.server_id()));
    if config.has_plaintext_passwords() {
        logger::emit(Level::Warn, "Plaintext passwords detected, use nkeys or bcrypt");
    }
    if let Some(file) = &opts.config_file {
        logger::emit(Level::Info, &format!("Using configuration file: {file}"));
    }
    if let (Some(host), Some(port)) = (&config.http_host, config.http_port) {
        logger::emit(
            Level::Info,
            &format!("Starting http monitor on {}", join_host_port(host, port)),
        );
    }
    let storage = match &config.jetstream {
        Some(js) => {
            let mut storage = match natrix_driver::Storage::start(std::path::PathBuf::from(&js.store_dir)) {
                Ok(storage) => storage,
                Err(e) => {
                    logger::emit(
                        Level::Fatal,
                        &format!("Can't start JetStream: could not create storage directory - {e}"),
                    );
                    return None;
                }
            };
            let started = storage.start_node(&mut server, natrix_core::Instant::from_nanos(0), |level, line| {
                logger::emit(level, line)
            });
            if let Err(e) = started {
                logger::emit(Level::Fatal, &format!("Can't start JetStream: {e}"));
                return None;
            }
            Some(storage)
        }
        None => None,
    };
    logger::emit(
        Level::Info,
        &format!(
            "Listening for client connections on {}",
            join_host_port(&config.host, config.port)
        ),
    );
    if let Some(settings) = &config.cluster {
        if settings.name.is_none() {
            logger::emit(
                Level::Warn,
                "Cluster name was dynamically generated, consider setting one",
            );
        }
        logger::emit(
            Level::Info,
            &format!("Cluster name is {}", server.cluster_name().unwrap_or_default()),
        );
        logger::emit(
            Level::Info,
            &format!(
                "Listening for route connections on {}",
                join_host_port(&settings.host, settings.port)
            ),
        );
    }
    if tls.is_some() {
        logger::emit(Level::Info, "TLS required for client connections");
        if config
            .tls
            .as_ref()
            .is_some_and(|t| t.handshake_first && t.handshake_first_fallback.is_none())
        {
            logger::emit(
                Level::Warn,
                "Clients that are not using \"TLS Handshake First\" option will fail to connect",
            );
        }
    }
    let ports_file = config
        .ports_file_dir
        .as_deref()
        .and_then(|dir| write_ports_file(dir, config));
    logger::emit(Level::Info, "Server is ready");
    Some(Started {
        listener,
        monitor,
        cluster,
        route_tls,
        server,
        ports_file,
        tls,
        storage,
    })
}

/// nats-server's ports file, `<executable>_<pid>.ports`: client test harnesses wait for it.
fn write_ports_file(dir: &str, config: &Config) -> Option<String> {
    let exe = std::env::args()
        .next()
        .and_then(|a| a.rsplit('/').next().map(str::to_string))
        .unwrap_or_else(|| "natrix".to_string());
    let path = format!("{}/{exe}_{}.ports", dir.trim_end_matches('/'), std::process::id());
    // A wildcard listener is reachable on loopback; that is the address clients on this host use.
    let host = match config.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" => "::1",
        host => host,
    };
    let mut ports = serde_json::json!({ "nats": [format!("nats://{}", join_host_port(host, config.port))] });
    if let Some(port) = config.http_port {
        ports["monitoring"] = serde_json::json!([format!("http://{}", join_host_port(host, port))]);
    }
    if let Some(cluster) = &config.cluster {
        ports["cluster"] = serde_json::json!([format!("nats://{}", join_host_port(&cluster.host, cluster.port))]);
    }
    match std::fs::write(&path, ports.to_string()) {
        Ok(()) => Some(path),
        Err(e) => {
            logger::emit(Level::Error, &format!("Error writing ports file ({path}): {e}"));
            None
        }
    }
}

fn run_mio(started: Started, sink: LogSink, control: Control) -> std::io::Result<()> {
    let Started {
        listener,
        monitor,
        cluster,
        route_tls,
        server,
        tls,
        storage,
        ..
    } = started;
    let cluster = cluster.map(|listener| natrix_mio::ClusterListener {
        listener,
        tls: route_tls,
    });
    let listeners = natrix_mio::Listeners {
        client: listener,
        monitor,
        cluster,
        storage,
    };
    natrix_mio::serve(listeners, server, sink, tls, |controller| {
        control.listen(move |input| controller.send(input));
    })
}

fn run_tokio(started: Started, sink: LogSink, control: Control) -> std::io::Result<()> {
    let Started {
        listener,
        monitor,
        cluster,
        route_tls,
        server,
        tls,
        storage,
        ..
    } = started;
    // One thread: the core is single-threaded anyway, and with every connection task on the
    // core's thread a read, its handling and the writes it causes are wake-ups on one thread,
    // never hand-offs between threads (request/reply latency and CPU per message in
    // docs/benchmarks.md). bcrypt checks still run on tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let tokio_listener = |l: std::net::TcpListener| -> std::io::Result<tokio::net::TcpListener> {
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        };
        let monitor = monitor.map(tokio_listener).transpose()?;
        let cluster = cluster.map(tokio_listener).transpose()?;
        let (commands, command_rx) = tokio::sync::mpsc::unbounded_channel();
        control.listen(move |input| {
            let _ = commands.send(input);
        });
        let listeners = natrix_tokio::Listeners {
            client: listener,
            monitor,
            cluster,
            cluster_tls: route_tls,
            storage,
        };
        natrix_tokio::serve_server(listeners, server, sink, command_rx, tls).await
    })
}

/// `host:port`, with brackets around IPv6 hosts.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A seed for the core's PRNG: unpredictable in production (the simulator passes its own).
fn seed_from_os() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    hasher.write_u32(std::process::id());
    hasher.finish()
}
