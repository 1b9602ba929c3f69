//! Command-line flags, parsed the way nats-server's (Go `flag` package) are: `-x` and `--x` are
//! the same flag, values follow as `-p 4222` or `-p=4222`, and booleans take `-D` or `-D=false`.

use std::fmt;

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the server.
    Run(Box<Options>),
    /// Print the usage text.
    Help,
    /// Print the version.
    Version,
}

/// Settings taken from flags. `None` means the flag was not given, so the configuration file (or
/// the default) decides: flags override the file, as in nats-server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `-c`: the configuration file.
    pub config_file: Option<String>,
    /// `-t`: check the configuration and exit.
    pub check_config: bool,
    /// `--signal`: send a signal to a running server instead of starting one.
    pub signal: Option<String>,
    /// Host to bind the client listener to.
    pub host: Option<String>,
    /// Client port; `-1` picks a free one, `0` means the default.
    pub port: Option<i32>,
    /// Server name.
    pub server_name: Option<String>,
    /// Debug logging.
    pub debug: Option<bool>,
    /// Protocol tracing.
    pub trace: Option<bool>,
    /// Timestamps on log lines.
    pub logtime: Option<bool>,
    /// Log file instead of stderr.
    pub log_file: Option<String>,
    /// File to write the process id to.
    pub pid_file: Option<String>,
    /// Directory for the ports file.
    pub ports_file_dir: Option<String>,
    /// Which runtime drives the core.
    pub runtime: Option<String>,
    /// `--user`: the single user's name.
    pub user: Option<String>,
    /// `--pass`: the single user's password.
    pub pass: Option<String>,
    /// `--auth`: the authorization token.
    pub auth_token: Option<String>,
    /// `--tls`: serve clients over TLS.
    pub tls: bool,
    /// `--tlsverify`: TLS, and clients must present certificates.
    pub tls_verify: bool,
    /// `--tlscert`: the server certificate.
    pub tls_cert: Option<String>,
    /// `--tlskey`: the server key.
    pub tls_key: Option<String>,
    /// `--tlscacert`: the CA for client certificates.
    pub tls_ca_cert: Option<String>,
    /// `-m`/`--http_port`: the monitoring port.
    pub http_port: Option<i32>,
    /// `--cluster`/`--cluster_listen`: the route listen URL.
    pub cluster: Option<String>,
    /// `--routes`: comma-separated route URLs to dial.
    pub routes: Option<String>,
    /// `--cluster_name`.
    pub cluster_name: Option<String>,
    /// `--cluster_advertise`.
    pub cluster_advertise: Option<String>,
    /// `--no_advertise`.
    pub no_advertise: Option<bool>,
    /// `--connect_retries`.
    pub connect_retries: Option<i64>,
    /// `-js`/`--jetstream`: enable JetStream.
    pub jetstream: Option<bool>,
    /// `-sd`/`--store_dir`: JetStream's directory.
    pub store_dir: Option<String>,
    /// Flags nats-server has that Natrix accepts but does not implement yet.
    pub not_implemented: Vec<String>,
}

/// A command line that cannot be run; the texts are Go `flag`'s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// A flag nobody defined.
    Unknown(String),
    /// A flag that needs a value came last.
    MissingValue(String),
    /// A value that does not parse.
    BadValue {
        /// The flag.
        flag: String,
        /// The value given.
        value: String,
    },
    /// A positional argument that is not a command.
    UnknownCommand(String),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Unknown(flag) => write!(f, "flag provided but not defined: -{flag}"),
            CliError::MissingValue(flag) => write!(f, "flag needs an argument: -{flag}"),
            CliError::BadValue { flag, value } => write!(f, "invalid value {value:?} for flag -{flag}: parse error"),
            CliError::UnknownCommand(cmd) => write!(f, "nats-server: unrecognized command: {cmd:?}"),
        }
    }
}

/// The flags natrix knows, with their aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flag {
    Addr,
    Port,
    Name,
    Debug,
    Trace,
    DebugTrace,
    Logtime,
    Log,
    Pid,
    PortsFileDir,
    Config,
    Check,
    Signal,
    Help,
    Version,
    Runtime,
    User,
    Pass,
    Auth,
    Tls,
    TlsVerify,
    TlsCert,
    TlsKey,
    TlsCaCert,
    HttpPort,
    Cluster,
    Routes,
    ClusterName,
    ClusterAdvertise,
    NoAdvertise,
    ConnectRetries,
    JetStream,
    StoreDir,
    /// A nats-server flag with a value that Natrix does not implement yet.
    LaterValue,
    /// A nats-server boolean flag that Natrix does not implement yet.
    LaterBool,
}

impl Flag {
    fn lookup(name: &str) -> Option<Flag> {
        Some(match name {
            "a" | "addr" | "net" => Flag::Addr,
            "p" | "port" => Flag::Port,
            "n" | "name" | "server_name" => Flag::Name,
            "D" | "debug" => Flag::Debug,
            "V" | "trace" | "VV" => Flag::Trace,
            "DV" | "DVV" => Flag::DebugTrace,
            "T" | "logtime" => Flag::Logtime,
            "l" | "log" => Flag::Log,
            "P" | "pid" => Flag::Pid,
            "ports_file_dir" => Flag::PortsFileDir,
            "c" | "config" => Flag::Config,
            "t" => Flag::Check,
            "sl" | "signal" => Flag::Signal,
            "h" | "help" => Flag::Help,
            "v" | "version" => Flag::Version,
            "runtime" => Flag::Runtime,
            "user" => Flag::User,
            "pass" => Flag::Pass,
            "auth" => Flag::Auth,
            "tls" => Flag::Tls,
            "tlsverify" => Flag::TlsVerify,
            "tlscert" => Flag::TlsCert,
            "tlskey" => Flag::TlsKey,
            "tlscacert" => Flag::TlsCaCert,
            "m" | "http_port" => Flag::HttpPort,
            "cluster" | "cluster_listen" => Flag::Cluster,
            "routes" => Flag::Routes,
            "cluster_name" => Flag::ClusterName,
            "cluster_advertise" => Flag::ClusterAdvertise,
            "no_advertise" => Flag::NoAdvertise,
            "connect_retries" => Flag::ConnectRetries,
            "js" | "jetstream" => Flag::JetStream,
            "sd" | "store_dir" => Flag::StoreDir,
            "ms" | "https_port" | "client_advertise" | "max_traced_msg_len" | "log_size_limit" | "log_max_num"
            | "profile" | "ldm_grace" => Flag::LaterValue,
            "s" | "syslog" | "r" | "remote_syslog" | "logtime_utc" => Flag::LaterBool,
            _ => return None,
        })
    }

    fn is_bool(self) -> bool {
        matches!(
            self,
            Flag::Debug
                | Flag::Trace
                | Flag::DebugTrace
                | Flag::Logtime
                | Flag::Check
                | Flag::Help
                | Flag::Version
                | Flag::Tls
                | Flag::TlsVerify
                | Flag::NoAdvertise
                | Flag::JetStream
                | Flag::LaterBool
        )
    }
}

fn parse_bool(flag: &str, value: &str) -> Result<bool, CliError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(CliError::BadValue {
            flag: flag.to_string(),
            value: value.to_string(),
        }),
    }
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Command, CliError> {
    let mut opts = Options::default();
    let mut help = false;
    let mut version = false;
    let mut args = args.into_iter();
    let mut positional = Vec::new();
    while let Some(arg) = args.next() {
        if arg == "--" {
            positional.extend(args.by_ref());
            break;
        }
        let Some(stripped) = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|s| !s.is_empty())
        else {
            positional.push(arg);
            positional.extend(args.by_ref());
            break;
        };
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        let flag = Flag::lookup(name).ok_or_else(|| CliError::Unknown(name.to_string()))?;
        if flag.is_bool() {
            let on = match &inline {
                Some(v) => parse_bool(name, v)?,
                None => true,
            };
            match flag {
                Flag::Debug => opts.debug = Some(on),
                Flag::Trace => opts.trace = Some(on),
                Flag::DebugTrace => {
                    opts.debug = Some(on);
                    opts.trace = Some(on);
                }
                Flag::Logtime => opts.logtime = Some(on),
                Flag::Check => opts.check_config = on,
                Flag::Help => help = on,
                Flag::Version => version = on,
                Flag::Tls => opts.tls = on,
                Flag::TlsVerify => opts.tls_verify = on,
                Flag::NoAdvertise => opts.no_advertise = Some(on),
                Flag::JetStream => opts.jetstream = Some(on),
                _ => opts.not_implemented.push(format!("-{name}")),
            }
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| CliError::MissingValue(name.to_string()))?,
        };
        match flag {
            Flag::Addr => opts.host = Some(value),
            Flag::Port => {
                opts.port = Some(value.parse().map_err(|_| CliError::BadValue {
                    flag: name.to_string(),
                    value: value.clone(),
                })?)
            }
            Flag::Name => opts.server_name = Some(value),
            Flag::Log => opts.log_file = Some(value),
            Flag::Pid => opts.pid_file = Some(value),
            Flag::PortsFileDir => opts.ports_file_dir = Some(value),
            Flag::Config => opts.config_file = Some(value),
            Flag::Signal => opts.signal = Some(value),
            Flag::Runtime => opts.runtime = Some(value),
            Flag::User => opts.user = Some(value),
            Flag::Pass => opts.pass = Some(value),
            Flag::Auth => opts.auth_token = Some(value),
            Flag::TlsCert => opts.tls_cert = Some(value),
            Flag::TlsKey => opts.tls_key = Some(value),
            Flag::TlsCaCert => opts.tls_ca_cert = Some(value),
            Flag::Cluster => opts.cluster = Some(value),
            Flag::Routes => opts.routes = Some(value),
            Flag::StoreDir => opts.store_dir = Some(value),
            Flag::ClusterName => opts.cluster_name = Some(value),
            Flag::ClusterAdvertise => opts.cluster_advertise = Some(value),
            Flag::ConnectRetries => {
                opts.connect_retries = Some(value.parse().map_err(|_| CliError::BadValue {
                    flag: name.to_string(),
                    value: value.clone(),
                })?)
            }
            Flag::HttpPort => {
                opts.http_port = Some(value.parse().map_err(|_| CliError::BadValue {
                    flag: name.to_string(),
                    value: value.clone(),
                })?)
            }
            _ => opts.not_implemented.push(format!("-{name}")),
        }
    }
    if let Some(cmd) = positional.first() {
        return match cmd.to_ascii_lowercase().as_str() {
            "version" => Ok(Command::Version),
            "help" => Ok(Command::Help),
            _ => Err(CliError::UnknownCommand(cmd.clone())),
        };
    }
    if version {
        return Ok(Command::Version);
    }
    if help {
        return Ok(Command::Help);
    }
    Ok(Command::Run(Box::new(opts)))
}

/// The usage text, laid out like nats-server's, listing what natrix implements.
pub const USAGE: &str = "
Usage: natrix [options]

Server Options:
    -c, --config <file>              Configuration file
    -t                               Test configuration and exit
    -sl,--signal <signal>[=<pid>]    Send signal to natrix process (ldm, stop, quit, term, reopen, reload)
                                     <pid> can be either a PID (e.g. 1) or the path to a PID file (e.g. /var/run/natrix.pid)
    -a, --addr, --net <host>         Bind to host address (default: 0.0.0.0)
    -p, --port <port>                Use port for clients (default: 4222)
    -n, --name
        --server_name <server_name>  Server name (default: auto)
    -P, --pid <file>                 File to store PID
        --ports_file_dir <dir>       Creates a ports file in the specified directory (<executable_name>_<pid>.ports).
        --runtime <tokio|mio>        Event loop that drives the server (default: tokio)

Monitoring Options:
    -m, --http_port <port>           Use port for http monitoring (-1 picks a free port)

Cluster Options:
        --routes <rurl-1, rurl-2>    Routes to solicit and connect
        --cluster <cluster-url>      Cluster URL for solicited routes
        --cluster_name <string>      Cluster Name, if not set one will be dynamically generated
        --no_advertise <bool>        Do not advertise known cluster information to clients
        --cluster_advertise <string> Cluster URL to advertise to other servers
        --connect_retries <number>   For implicit routes, number of connect retries

Authorization Options:
        --user <user>                User required for connections
        --pass <password>            Password required for connections
        --auth <token>               Authorization token required for connections

TLS Options:
        --tls                        Enable TLS, do not verify clients (default: false)
        --tlscert <file>             Server certificate file
        --tlskey <file>              Private key for server certificate
        --tlsverify                  Enable TLS, verify client certificates
        --tlscacert <file>           Client certificate CA for verification

Logging Options:
    -l, --log <file>                 File to redirect log output
    -T, --logtime                    Timestamp log entries (default: true)
    -D, --debug                      Enable debugging output
    -V, --trace                      Trace the raw protocol
    -DV                              Debug and trace

Common Options:
    -h, --help                       Show this message
    -v, --version                    Show version
";

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, CliError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_style_flags() {
        let Command::Run(opts) = run(&[
            "-a",
            "127.0.0.1",
            "--port=-1",
            "-n",
            "x",
            "-DV",
            "-T=false",
            "--pid",
            "f",
        ])
        .unwrap() else {
            panic!("not run")
        };
        assert_eq!(opts.host.as_deref(), Some("127.0.0.1"));
        assert_eq!(opts.port, Some(-1));
        assert_eq!(opts.server_name.as_deref(), Some("x"));
        assert_eq!(
            (opts.debug, opts.trace, opts.logtime),
            (Some(true), Some(true), Some(false))
        );
        assert_eq!(opts.pid_file.as_deref(), Some("f"));
        assert_eq!(run(&["-v"]).unwrap(), Command::Version);
        assert_eq!(run(&["--help"]).unwrap(), Command::Help);
        assert_eq!(run(&["version"]).unwrap(), Command::Version);
        let Command::Run(opts) = run(&["-c", "a.conf", "-t", "-m", "8222", "-js", "-sd", "/data", "-syslog"]).unwrap()
        else {
            panic!()
        };
        assert_eq!(opts.config_file.as_deref(), Some("a.conf"));
        assert!(opts.check_config);
        assert_eq!(opts.http_port, Some(8222));
        assert_eq!((opts.jetstream, opts.store_dir.as_deref()), (Some(true), Some("/data")));
        assert_eq!(opts.not_implemented, ["-syslog"]);
        let Command::Run(opts) = run(&["--user", "u", "--pass", "p", "--tls", "--tlscert", "c.pem"]).unwrap() else {
            panic!()
        };
        assert_eq!((opts.user.as_deref(), opts.pass.as_deref()), (Some("u"), Some("p")));
        assert!(opts.tls && !opts.tls_verify);
        assert_eq!(opts.tls_cert.as_deref(), Some("c.pem"));
    }

    #[test]
    fn errors_read_as_go_flag_errors() {
        assert_eq!(
            run(&["--bogus"]).unwrap_err().to_string(),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(run(&["-p"]).unwrap_err().to_string(), "flag needs an argument: -p");
        assert_eq!(
            run(&["-p", "abc"]).unwrap_err().to_string(),
            "invalid value \"abc\" for flag -p: parse error"
        );
        assert_eq!(
            run(&["foo"]).unwrap_err().to_string(),
            "nats-server: unrecognized command: \"foo\""
        );
    }
}
