//! TLS for client connections, in one place for both runtimes: the rustls server
//! configuration built from the `tls` block, what a client's certificate says about it (for
//! `verify_and_map`), and nats-server's texts for what goes wrong.
//!
//! The core's state machine never sees ciphertext: a runtime runs the handshake with
//! [`TlsAcceptor`], reports [`natrix_core::Input::TlsEstablished`] (with [`peer_identity`]) or
//! [`natrix_core::Input::TlsFailed`], and from then on feeds the core plaintext. Reading the
//! certificate files is the caller's job ([`TlsFiles`]), so this module performs no IO.

mod identity;
mod v1;

use std::sync::Arc;

pub use identity::peer_identity;
pub use rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use natrix_core::config::tls::{TlsSettings, TlsVersion};
use natrix_core::conn::SessionInfo;

/// Where certificates come from.
pub trait TlsFiles {
    /// The bytes of `path`, or nats-server's text for why not (`open x: no such file or
    /// directory`).
    fn read(&self, path: &str) -> Result<Vec<u8>, String>;
    /// The operating system's trusted roots, for `verify` without a `ca_file`.
    fn system_roots(&self) -> Vec<CertificateDer<'static>>;
}

/// Why the TLS configuration cannot be used; the texts are nats-server's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The certificate or key file cannot be read or parsed, or they do not match.
    #[error("error parsing X509 certificate/key pair: {0}")]
    KeyPair(String),
    /// The CA file cannot be read.
    #[error("{0}")]
    CaFile(String),
    /// The CA file holds no usable certificate.
    #[error("failed to parse root ca certificate")]
    BadCa,
    /// rustls refused the configuration.
    #[error("error creating TLS configuration: {0}")]
    Config(String),
}

/// Accepts TLS client connections: the rustls configuration plus how the handshake starts.
#[derive(Clone)]
pub struct TlsAcceptor {
    /// Shared by every connection.
    pub config: Arc<ServerConfig>,
    /// Handshake before INFO (`handshake_first`); otherwise INFO goes out in plaintext and the
    /// client then starts TLS.
    pub handshake_first: bool,
    /// With `handshake_first`, how long to wait for the client to start (`auto` mode).
    pub handshake_first_fallback: Option<std::time::Duration>,
}

/// How a client connection's TLS begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsStart {
    /// INFO in plaintext, then the client's handshake.
    InfoFirst,
    /// The handshake before anything else.
    HandshakeFirst,
    /// Wait this long for the client's first bytes: any byte means it is starting TLS (the
    /// handshake first, INFO encrypted after it, as nats-server decides without looking at the
    /// byte); silence means it waits for INFO, which then goes out in plaintext.
    Fallback(std::time::Duration),
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("handshake_first", &self.handshake_first)
            .field("handshake_first_fallback", &self.handshake_first_fallback)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Builds the acceptor for `settings`, reading the files through `files`.
    pub fn new(settings: &TlsSettings, files: &dyn TlsFiles) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (chain, key) = load_key_pair(settings, files)?;
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(protocol_versions(settings))
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = if settings.verifies_clients() {
            let (roots, trusted) = load_roots(settings, files)?;
            let algorithms = provider.signature_verification_algorithms;
            let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            builder.with_client_cert_verifier(Arc::new(v1::ClientVerifier::new(webpki, trusted, algorithms)))
        } else {
            builder.with_no_client_auth()
        };
        let config = builder.with_single_cert(chain, key).map_err(key_pair_error)?;
        Ok(TlsAcceptor {
            config: Arc::new(config),
            handshake_first: settings.handshake_first,
            handshake_first_fallback: settings.handshake_first_fallback,
        })
    }

    /// How each client connection's TLS begins.
    pub fn start(&self) -> TlsStart {
        match (self.handshake_first, self.handshake_first_fallback) {
            (false, _) => TlsStart::InfoFirst,
            (true, None) => TlsStart::HandshakeFirst,
            (true, Some(delay)) => TlsStart::Fallback(delay),
        }
    }

    /// A server session for one connection.
    pub fn session(&self) -> Result<rustls::ServerConnection, rustls::Error> {
        rustls::ServerConnection::new(Arc::clone(&self.config))
    }
}

/// The certificate chain and private key `settings` name.
fn load_key_pair(
    settings: &TlsSettings,
    files: &dyn TlsFiles,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let cert_pem = files.read(&settings.cert_file).map_err(TlsError::KeyPair)?;
    let key_pem = files.read(&settings.key_file).map_err(TlsError::KeyPair)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::KeyPair(format!("tls: failed to find any PEM data in certificate input ({e})")))?;
    if chain.is_empty() {
        return Err(TlsError::KeyPair(
            "tls: failed to find any PEM data in certificate input".to_string(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|_| TlsError::KeyPair("tls: failed to find any PEM data in key input".to_string()))?;
    Ok((chain, key))
}

/// The CAs `settings` trusts (its `ca_file`, or the system's roots), as a store and as the
/// certificates themselves.
fn load_roots(
    settings: &TlsSettings,
    files: &dyn TlsFiles,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
    let mut roots = RootCertStore::empty();
    let mut trusted = Vec::new();
    match &settings.ca_file {
        Some(path) => {
            let pem = files.read(path).map_err(TlsError::CaFile)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|_| TlsError::BadCa)?;
                roots.add(cert.clone()).map_err(|_| TlsError::BadCa)?;
                trusted.push(cert);
            }
            if trusted.is_empty() {
                return Err(TlsError::BadCa);
            }
        }
        None => {
            for cert in files.system_roots() {
                if roots.add(cert.clone()).is_ok() {
                    trusted.push(cert);
                }
            }
        }
    }
    Ok((roots, trusted))
}

/// TLS 1.2 and 1.3, or 1.3 only (`min_version`).
static ALL_VERSIONS: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

fn protocol_versions(settings: &TlsSettings) -> &'static [&'static rustls::SupportedProtocolVersion] {
    match settings.min_version {
        TlsVersion::V1_2 => &ALL_VERSIONS,
        TlsVersion::V1_3 => &TLS13_ONLY,
    }
}

fn key_pair_error(e: rustls::Error) -> TlsError {
    TlsError::KeyPair(match e {
        rustls::Error::InconsistentKeys(_) => "tls: private key does not match public key".to_string(),
        other => other.to_string(),
    })
}

/// TLS on routes (the cluster block's `tls`): both ends of a route handshake before anything
/// else; the accepting server with its certificate (and, with `verify`, checking the dialer's),
/// the dialing server presenting the same certificate and checking the accepting server's
/// against the CA and the host it dialed.
#[derive(Clone)]
pub struct RouteTls {
    /// For routes accepted on the cluster port (handshake first).
    pub acceptor: TlsAcceptor,
    /// For routes this server dials.
    pub connector: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for RouteTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteTls").finish_non_exhaustive()
    }
}

impl RouteTls {
    /// Builds both sides from the cluster's `tls` block.
    pub fn new(settings: &TlsSettings, files: &dyn TlsFiles) -> Result<Self, TlsError> {
        let mut acceptor = TlsAcceptor::new(settings, files)?;
        acceptor.handshake_first = true;
        acceptor.handshake_first_fallback = None;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (chain, key) = load_key_pair(settings, files)?;
        let (roots, _) = load_roots(settings, files)?;
        let connector = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(protocol_versions(settings))
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(key_pair_error)?;
        Ok(RouteTls {
            acceptor,
            connector: Arc::new(connector),
        })
    }

    /// A client session for a route dialed at `address` (`host:port`), checking the peer's
    /// certificate against `host`.
    pub fn client_session(&self, address: &str) -> Result<rustls::ClientConnection, rustls::Error> {
        rustls::ClientConnection::new(Arc::clone(&self.connector), server_name(address)?)
    }
}

/// The name a dialed route's certificate must carry: the host of `address` (`host:port`).
pub fn server_name(address: &str) -> Result<rustls::pki_types::ServerName<'static>, rustls::Error> {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|_| rustls::Error::General(format!("invalid route host {host:?}")))
}

/// What a finished handshake negotiated (either side of it).
pub fn session_info(session: &rustls::CommonState) -> SessionInfo {
    let version = match session.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "1.2",
        _ => "",
    };
    let cipher_suite = session
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()).replacen("TLS13_", "TLS_", 1))
        .unwrap_or_default();
    SessionInfo {
        version: version.to_string(),
        cipher_suite,
    }
}

/// How a handshake failure is described in the log (`TLS handshake error: <this>`). Bytes that
/// are not TLS at all get Go's wording, which operators grep for.
pub fn describe_failure(error: &rustls::Error, first_bytes: &[u8]) -> String {
    if !looks_like_tls(first_bytes) {
        return "tls: first record does not look like a TLS handshake".to_string();
    }
    match error {
        rustls::Error::NoCertificatesPresented => "tls: client didn't provide a certificate".to_string(),
        rustls::Error::InvalidCertificate(e) => format!("tls: failed to verify client certificate: {e}"),
        other => format!("tls: {other}"),
    }
}

/// A connection's first bytes, kept to tell a peer that does not speak TLS at all from one whose
/// handshake failed. Such a peer gets no alert, just the close (as from nats-server): its bytes
/// never reach rustls.
#[derive(Debug, Default)]
pub struct FirstBytes {
    seen: Vec<u8>,
}

impl FirstBytes {
    /// Bytes a record header needs to be judged.
    const KEEP: usize = 5;

    /// Notes `fresh` bytes from the peer. False once they cannot begin a TLS record.
    pub fn observe(&mut self, fresh: &[u8]) -> bool {
        if self.seen.len() < Self::KEEP {
            let take = fresh.len().min(Self::KEEP - self.seen.len());
            self.seen.extend_from_slice(&fresh[..take]);
        }
        looks_like_tls(&self.seen)
    }

    /// The first bytes seen (at most five).
    pub fn bytes(&self) -> &[u8] {
        &self.seen
    }
}

/// Whether a connection's first bytes start a TLS record (a handshake or alert record with a
/// plausible version), as Go's first-record check decides.
pub fn looks_like_tls(first_bytes: &[u8]) -> bool {
    match first_bytes {
        [] => true,
        [kind, rest @ ..] if *kind == 0x16 || *kind == 0x15 => match rest {
            [major, ..] => *major < 0x10,
            [] => true,
        },
        _ => false,
    }
}
