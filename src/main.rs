//! `natrix`: a NATS server, started with nats-server's flags.

mod cli;
mod logger;
mod signals;

use std::process::ExitCode;
use std::sync::Arc;

use natrix_core::{Config, Level, LogSink, Server, COMPATIBLE_VERSION};

use cli::Command;
use logger::Logger;

const NATRIX_VERSION: &str = env!("CARGO_PKG_VERSION");

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
        Command::Run(opts) => opts,
    };
    let logger = match Logger::new(opts.log_file.as_deref(), opts.logtime, opts.debug, opts.trace) {
        Ok(logger) => logger,
        Err(e) => {
            eprintln!(
                "nats-server: could not open log file {:?}: {e}",
                opts.log_file.unwrap_or_default()
            );
            return ExitCode::FAILURE;
        }
    };
    let runtime = match opts.runtime.as_str() {
        "tokio" => Runtime::Tokio,
        "mio" => Runtime::Mio,
        other => {
            logger.log(
                Level::Fatal,
                &format!("Unknown runtime {other:?}: use \"tokio\" or \"mio\""),
            );
            return ExitCode::FAILURE;
        }
    };
    let Some((listener, server)) = start(&opts, &logger) else {
        return ExitCode::FAILURE;
    };
    let sink_logger = Arc::clone(&logger);
    let sink: LogSink = Arc::new(move |level, message: &str| sink_logger.log(level, message));
    let signal_logger = Arc::clone(&logger);
    let announce = move |name: &str| {
        signal_logger.log(Level::Debug, &format!("Trapped {name:?} signal"));
        signal_logger.log(Level::Info, "Initiating Shutdown...");
    };
    let result = match runtime {
        Runtime::Tokio => run_tokio(listener, server, sink, announce),
        Runtime::Mio => natrix_mio::serve(listener, server, sink, |stopper| {
            let hooked = signals::on_shutdown_signal(move |name| {
                announce(name);
                stopper.stop();
            });
            if let Err(e) = hooked {
                logger.log(Level::Error, &format!("Could not install signal handlers: {e}"));
            }
        }),
    };
    if let Some(path) = &opts.pid_file {
        let _ = std::fs::remove_file(path);
    }
    match result {
        Ok(()) => {
            logger.log(Level::Info, "Server Exiting..");
            ExitCode::SUCCESS
        }
        Err(e) => {
            logger.log(Level::Fatal, &format!("Server failed: {e}"));
            ExitCode::FAILURE
        }
    }
}

/// The event loops natrix can run on.
enum Runtime {
    Tokio,
    Mio,
}

/// What every runtime shares: bind the client port, build the core, write the pid file and
/// print nats-server's start-up lines. `None` after logging why it could not start.
fn start(opts: &cli::Options, logger: &Logger) -> Option<(std::net::TcpListener, Server)> {
    let port = match opts.port {
        -1 => 0,
        0 => 4222,
        p => match u16::try_from(p) {
            Ok(p) => p,
            Err(_) => {
                logger.log(Level::Fatal, &format!("Invalid port {p}"));
                return None;
            }
        },
    };
    let bind = join_host_port(&opts.host, port);
    let listener = match std::net::TcpListener::bind(&bind) {
        Ok(listener) => listener,
        Err(e) => {
            logger.log(
                Level::Fatal,
                &format!("Error listening on port: {bind}, {:?}", e.to_string()),
            );
            return None;
        }
    };
    let actual_port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    let config = Config {
        server_name: opts.server_name.clone(),
        host: opts.host.clone(),
        port: actual_port,
        debug: opts.debug,
        trace: opts.trace,
        seed: seed_from_os(),
        toolchain: env!("NATRIX_RUSTC_VERSION").to_string(),
        ..Config::default()
    };
    let server = Server::new(config);
    if let Some(path) = &opts.pid_file {
        if let Err(e) = std::fs::write(path, std::process::id().to_string()) {
            logger.log(Level::Fatal, &format!("Could not write pidfile: {e}"));
            return None;
        }
    }
    logger.log(
        Level::Info,
        &format!(
            "Starting nats-server (natrix {NATRIX_VERSION}, {} runtime)",
            opts.runtime
        ),
    );
    logger.log(Level::Info, &format!("  Version:  {COMPATIBLE_VERSION}"));
    logger.log(Level::Info, "  Git:      [not set]");
    logger.log(Level::Info, &format!("  Name:     {}", server.server_name()));
    logger.log(Level::Info, &format!("  ID:       {}", server.server_id()));
    logger.log(
        Level::Info,
        &format!(
            "Listening for client connections on {}",
            join_host_port(&opts.host, actual_port)
        ),
    );
    logger.log(Level::Info, "Server is ready");
    Some((listener, server))
}

fn run_tokio(
    listener: std::net::TcpListener,
    server: Server,
    sink: LogSink,
    announce: impl FnOnce(&str) + Send + 'static,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        signals::on_shutdown_signal(move |name| {
            announce(name);
            let _ = stop.send(());
        })?;
        natrix_tokio::serve_server(listener, server, sink, async move {
            let _ = stopped.await;
        })
        .await
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
