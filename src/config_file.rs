//! Building the configuration: nats-server's defaults, then the file (`-c`), then the flags,
//! which win, as in nats-server. The parsing itself is in `natrix_core::config`; this supplies
//! the files and environment it reads.

use natrix_core::config::cluster::RouteUrl;
use natrix_core::config::format::{self, ConfError, Sources};
use natrix_core::config::options::{self, Applied};
use natrix_core::config::tls::{TlsSettings, DEFAULT_TLS_TIMEOUT};
use natrix_core::Config;
use natrix_driver::tls::{RouteTls, TlsAcceptor, TlsFiles};

use crate::cli::Options;

/// Reads files and environment variables for the configuration parser.
struct Disk;

impl Sources for Disk {
    fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| os_error(path, &e))
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// The configuration for `opts`, with what applying the file reported. On failure, the error
/// text nats-server prints (one error per line).
pub fn load(opts: &Options) -> Result<Loaded, String> {
    let mut config = Config::default();
    let mut applied = Applied::default();
    if let Some(path) = &opts.config_file {
        let text = Disk.read(path)?;
        let map = format::parse(path, &text, &Disk).map_err(|e| e.to_string())?;
        applied = options::apply(&map, &mut config).map_err(|errors| join(&errors))?;
    }
    apply_flags(opts, &mut config)?;
    // nats-server loads the certificates while reading the configuration, so `-t` catches
    // unusable ones.
    let tls = tls_acceptor(&config).map_err(|e| {
        let at = applied.tls_at.as_ref().map(|at| format!("{at}: ")).unwrap_or_default();
        format!("{at}{e}\n")
    })?;
    let route_tls = match config.cluster.as_ref().and_then(|c| c.tls.as_ref()) {
        Some(settings) => Some(RouteTls::new(settings, &DiskTls).map_err(|e| format!("{e}\n"))?),
        None => None,
    };
    Ok(Loaded {
        config,
        applied,
        tls,
        route_tls,
    })
}

/// A configuration, what applying it reported, and its TLS acceptor (certificates loaded).
pub struct Loaded {
    pub config: Config,
    pub applied: Applied,
    pub tls: Option<TlsAcceptor>,
    /// TLS for routes (the cluster block's `tls`).
    pub route_tls: Option<RouteTls>,
}

/// nats-server ends each option error with a newline, so the list ends with a blank line.
fn join(errors: &[ConfError]) -> String {
    errors.iter().map(|e| format!("{e}\n")).collect()
}

/// The cluster flags: `--cluster` sets where routes are accepted (and clusters the server),
/// the others override the file's `cluster` block.
fn apply_cluster_flags(opts: &Options, config: &mut Config) -> Result<(), String> {
    let any = opts.cluster.is_some()
        || opts.routes.is_some()
        || opts.cluster_name.is_some()
        || opts.cluster_advertise.is_some()
        || opts.no_advertise.is_some()
        || opts.connect_retries.is_some();
    if !any {
        return Ok(());
    }
    if opts.routes.is_some() && opts.cluster.is_none() && config.cluster.is_none() {
        return Err("solicited routes require cluster capabilities, e.g. --cluster".to_string());
    }
    let cluster = config.cluster.get_or_insert_with(Default::default);
    if let Some(url) = &opts.cluster {
        cluster.apply_listen_url(url)?;
    }
    if let Some(routes) = &opts.routes {
        cluster.routes = routes
            .split(',')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(RouteUrl::parse)
            .collect::<Result<_, _>>()?;
    }
    if let Some(name) = &opts.cluster_name {
        if name.contains(' ') {
            return Err("cluster name cannot contain spaces".to_string());
        }
        cluster.name = Some(name.clone());
    }
    if let Some(advertise) = &opts.cluster_advertise {
        cluster.advertise = Some(advertise.clone());
    }
    if let Some(no_advertise) = opts.no_advertise {
        cluster.no_advertise = no_advertise;
    }
    if let Some(retries) = opts.connect_retries {
        cluster.connect_retries = u32::try_from(retries).unwrap_or(0);
    }
    Ok(())
}

/// `-js` and `-sd` override the file; then JetStream's directory and limits are settled as
/// nats-server settles them (`dynJetStreamConfig`): `<store_dir>/jetstream`, or
/// `<temp>/nats/jetstream` when none is given; 75% of the machine's memory; 1 TiB of disk.
fn apply_jetstream_flags(opts: &Options, config: &mut Config) {
    if let Some(dir) = &opts.store_dir {
        config.store_dir = dir.clone();
        if let Some(js) = config.jetstream.as_mut() {
            js.store_dir = dir.clone();
        }
    }
    match opts.jetstream {
        Some(true) => {
            config.jetstream.get_or_insert_with(Default::default);
        }
        Some(false) => config.jetstream = None,
        None => {}
    }
    let top_level = config.store_dir.clone();
    let Some(js) = config.jetstream.as_mut() else { return };
    if js.store_dir.is_empty() {
        js.store_dir = top_level;
    }
    if js.store_dir.is_empty() {
        js.temporary = true;
        js.store_dir = std::env::temp_dir()
            .join("nats")
            .join("jetstream")
            .display()
            .to_string();
    } else {
        js.store_dir = std::path::Path::new(&js.store_dir)
            .join("jetstream")
            .display()
            .to_string();
    }
    if js.max_memory < 0 {
        js.max_memory = system_memory().map_or(256 << 20, |total| total / 4 * 3);
    }
    if js.max_store < 0 {
        js.max_store = 1 << 40;
    }
}

/// The machine's memory in bytes, from /proc/meminfo.
fn system_memory() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Flags override the file.
fn apply_flags(opts: &Options, config: &mut Config) -> Result<(), String> {
    apply_jetstream_flags(opts, config);
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
    if let Some(port) = opts.http_port {
        config.http_port = Some(match port {
            -1 => 0,
            p => u16::try_from(p).map_err(|_| format!("invalid port {p}"))?,
        });
    }
    if let Some(user) = &opts.user {
        config.authorization.user = Some(user.clone());
    }
    if let Some(pass) = &opts.pass {
        config.authorization.password = Some(pass.clone());
    }
    if let Some(token) = &opts.auth_token {
        config.authorization.token = Some(token.clone());
    }
    apply_cluster_flags(opts, config)?;
    if opts.tls || opts.tls_verify {
        // nats-server's checks for the TLS flags.
        let cert = opts.tls_cert.clone().filter(|c| !c.is_empty());
        let key = opts.tls_key.clone().filter(|k| !k.is_empty());
        let Some(cert) = cert else {
            return Err("TLS Server certificate must be present and valid".to_string());
        };
        let Some(key) = key else {
            return Err("TLS Server private key must be present and valid".to_string());
        };
        config.tls = Some(TlsSettings {
            cert_file: cert,
            key_file: key,
            ca_file: opts.tls_ca_cert.clone(),
            verify: opts.tls_verify,
            verify_and_map: false,
            timeout: DEFAULT_TLS_TIMEOUT,
            handshake_first: false,
            handshake_first_fallback: None,
            min_version: Default::default(),
        });
    }
    Ok(())
}

/// Reads certificates from disk and the system's trust store.
struct DiskTls;

impl TlsFiles for DiskTls {
    fn read(&self, path: &str) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| os_error(path, &e))
    }

    fn system_roots(&self) -> Vec<natrix_driver::tls::rustls::pki_types::CertificateDer<'static>> {
        rustls_native_certs::load_native_certs().certs
    }
}

/// Go's wording for a failed open.
fn os_error(path: &str, e: &std::io::Error) -> String {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    };
    format!("open {path}: {reason}")
}

/// The TLS acceptor the configuration asks for, built from the certificate files; the error is
/// what nats-server prints when they cannot be used.
fn tls_acceptor(config: &Config) -> Result<Option<TlsAcceptor>, String> {
    let Some(settings) = &config.tls else { return Ok(None) };
    TlsAcceptor::new(settings, &DiskTls)
        .map(Some)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        match crate::cli::parse(args.iter().map(|a| a.to_string())) {
            Ok(crate::cli::Command::Run(opts)) => *opts,
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn cluster_flags_build_the_cluster_settings() {
        let opts = options(&[
            "--cluster",
            "nats://ruser:pw@127.0.0.1:-1",
            "--routes",
            "nats://a:6222, nats-route://b:7000",
            "--cluster_name",
            "prod",
            "--no_advertise",
            "--connect_retries",
            "3",
        ]);
        let mut config = Config::default();
        apply_flags(&opts, &mut config).unwrap();
        let cluster = config.cluster.expect("clustered");
        assert_eq!((cluster.host.as_str(), cluster.port), ("127.0.0.1", 0));
        assert_eq!(cluster.user.as_deref(), Some("ruser"));
        assert_eq!(
            cluster.routes.iter().map(|r| r.address()).collect::<Vec<_>>(),
            ["a:6222", "b:7000"]
        );
        assert_eq!(cluster.name.as_deref(), Some("prod"));
        assert!(cluster.no_advertise);
        assert_eq!(cluster.connect_retries, 3);
    }

    #[test]
    fn routes_without_a_cluster_are_refused_as_nats_server_does() {
        let mut config = Config::default();
        let error = apply_flags(&options(&["--routes", "nats://a:6222"]), &mut config).unwrap_err();
        assert_eq!(error, "solicited routes require cluster capabilities, e.g. --cluster");
    }
}
