//! Version 1 client certificates, which webpki refuses outright (`UnsupportedCertVersion`) but
//! Go's crypto/x509, and so nats-server, accepts. `openssl x509 -req` without an extensions file
//! makes one, so operators meet them often.
//!
//! [`ClientVerifier`] hands every certificate to rustls's webpki verifier first; only a version 1
//! end-entity certificate is checked here instead, just as fully: each link of the chain up to a
//! configured root must be signed by the next (the signature verified with its public key), every
//! certificate on it must be within its validity period, and intermediates must be CAs. A version 1
//! certificate has no extensions, so there is no key usage or name constraint to honour.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate, X509Version};

/// The longest chain (intermediates) followed before giving up, as webpki bounds it.
const MAX_INTERMEDIATES: usize = 6;

/// Client certificate verification: webpki's, and Go's acceptance of version 1 certificates.
#[derive(Debug)]
pub struct ClientVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    /// The trusted roots' DER, to chain version 1 certificates to.
    roots: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientVerifier {
    /// Wraps `webpki`, trusting `roots` (the same roots it was built with) for version 1
    /// certificates.
    pub fn new(
        webpki: Arc<dyn ClientCertVerifier>,
        roots: Vec<CertificateDer<'static>>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> Self {
        ClientVerifier {
            webpki,
            roots,
            algorithms,
        }
    }
}

/// Whether `der` parses as a version 1 certificate.
fn is_v1(der: &[u8]) -> bool {
    X509Certificate::from_der(der).is_ok_and(|(_, cert)| cert.version() == X509Version::V1)
}

fn bad(error: CertificateError) -> Error {
    Error::InvalidCertificate(error)
}

/// Whether `cert` is within its validity period at `now`.
fn check_validity(cert: &X509Certificate<'_>, now: UnixTime) -> Result<(), Error> {
    let now = now.as_secs() as i64;
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(bad(CertificateError::NotValidYet));
    }
    if now > validity.not_after.timestamp() {
        return Err(bad(CertificateError::Expired));
    }
    Ok(())
}

/// Whether `child` names `parent` as its issuer and carries `parent`'s signature.
fn signed_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer().as_raw() == parent.subject().as_raw() && child.verify_signature(Some(parent.public_key())).is_ok()
}

/// Whether `cert` may sign other certificates (basic constraints say it is a CA).
fn is_ca(cert: &X509Certificate<'_>) -> bool {
    cert.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca)
}

/// Verifies a version 1 end-entity certificate's chain to one of `roots` at `now`.
fn verify_chain(
    end_entity: &[u8],
    intermediates: &[CertificateDer<'_>],
    roots: &[CertificateDer<'static>],
    now: UnixTime,
) -> Result<(), Error> {
    let (_, leaf) = X509Certificate::from_der(end_entity).map_err(|_| bad(CertificateError::BadEncoding))?;
    check_validity(&leaf, now)?;
    let roots: Vec<X509Certificate<'_>> = roots
        .iter()
        .filter_map(|r| X509Certificate::from_der(r.as_ref()).ok().map(|(_, c)| c))
        .collect();
    let intermediates: Vec<X509Certificate<'_>> = intermediates
        .iter()
        .filter_map(|c| X509Certificate::from_der(c.as_ref()).ok().map(|(_, c)| c))
        .collect();
    let mut current = &leaf;
    for _ in 0..=MAX_INTERMEDIATES {
        if let Some(root) = roots.iter().find(|root| signed_by(current, root)) {
            return check_validity(root, now);
        }
        let Some(next) = intermediates
            .iter()
            .find(|i| is_ca(i) && signed_by(current, i) && check_validity(i, now).is_ok())
        else {
            return Err(bad(CertificateError::UnknownIssuer));
        };
        current = next;
    }
    Err(bad(CertificateError::UnknownIssuer))
}

/// The schemes TLS 1.3 allows for handshake signatures (RFC 8446 section 4.2.3).
const TLS13_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP521_SHA512,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::ED25519,
    SignatureScheme::ED448,
];

/// Verifies a handshake signature with a version 1 certificate's public key. TLS 1.2 does not
/// say which algorithm a scheme means, so each it maps to is tried; TLS 1.3 names one, the first,
/// as rustls's own verification takes it.
fn verify_with_v1_key(
    message: &[u8],
    cert: &[u8],
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
    tls13: bool,
) -> Result<HandshakeSignatureValid, Error> {
    if tls13 && !TLS13_SCHEMES.contains(&dss.scheme) {
        return Err(bad(CertificateError::BadSignature));
    }
    let (_, cert) = X509Certificate::from_der(cert).map_err(|_| bad(CertificateError::BadEncoding))?;
    let key = cert.public_key().subject_public_key.data.as_ref();
    let mut candidates = algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .unwrap_or_default();
    if tls13 {
        candidates = &candidates[..candidates.len().min(1)];
    }
    let signature = dss.signature();
    if candidates
        .iter()
        .any(|alg| alg.verify_signature(key, message, signature).is_ok())
    {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(bad(CertificateError::BadSignature))
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        self.webpki.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if is_v1(end_entity.as_ref()) {
            verify_chain(end_entity.as_ref(), intermediates, &self.roots, now)?;
            return Ok(ClientCertVerified::assertion());
        }
        self.webpki.verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if is_v1(cert.as_ref()) {
            return verify_with_v1_key(message, cert.as_ref(), dss, &self.algorithms, false);
        }
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if is_v1(cert.as_ref()) {
            return verify_with_v1_key(message, cert.as_ref(), dss, &self.algorithms, true);
        }
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
