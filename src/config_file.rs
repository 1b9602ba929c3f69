//! Building the configuration: nats-server's defaults, then the file (`-c`), then the flags,
//! which win, as in nats-server. The parsing itself is in `natrix_core::config`; this supplies
//! the files and environment it reads.

use natrix_core::config::format::{self, ConfError, Sources};
use natrix_core::config::options::{self, Applied};
use natrix_core::Config;

use crate::cli::Options;

/// Reads files and environment variables for the configuration parser.
struct Disk;

impl Sources for Disk {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| {
            let reason = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                _ => e.to_string(),
            };
            format!("open {path}: {reason}")
        })
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// The configuration for `opts`, with what applying the file reported. On failure, the error
/// text nats-server prints (one error per line).
pub fn load(opts: &Options) -> Result<(Config, Applied), String> {
    let mut config = Config::default();
    let mut applied = Applied::default();
    if let Some(path) = &opts.config_file {
        let text = Disk.read(path)?;
        let map = format::parse(path, &text, &Disk).map_err(|e| e.to_string())?;
        applied = options::apply(&map, &mut config).map_err(|errors| join(&errors))?;
    }
    apply_flags(opts, &mut config)?;
    Ok((config, applied))
}

/// nats-server ends each option error with a newline, so the list ends with a blank line.
fn join(errors: &[ConfError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

/// Flags override the file.
fn apply_flags(opts: &Options, config: &mut Config) -> Result<(), String> {
    if let Some(host) = &opts.host {
        config.host = host.clone();
    }
    if let Some(port) = opts.port {
        config.port = match port {
            -1 => 0,
            0 => 4222,
            p => u16::try_from(p).map_err(|_| format!("invalid port {p}"))?,
        };
    }
    if let Some(name) = &opts.server_name {
        config.server_name = Some(name.clone());
    }
    if let Some(debug) = opts.debug {
        config.debug = debug;
    }
    if let Some(trace) = opts.trace {
        config.trace = trace;
    }
    if let Some(logtime) = opts.logtime {
        config.logtime = logtime;
    }
    if let Some(file) = &opts.log_file {
        config.log_file = Some(file.clone());
    }
    if let Some(file) = &opts.pid_file {
        config.pid_file = Some(file.clone());
    }
    if let Some(dir) = &opts.ports_file_dir {
        config.ports_file_dir = Some(dir.clone());
    }
    if let Some(runtime) = &opts.runtime {
        config.runtime = Some(runtime.clone());
    }
    Ok(())
}
