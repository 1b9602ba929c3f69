//! What a client certificate says about who the client is: its subject alternative names and
//! its subject in the forms nats-server's `verify_and_map` compares with user names.

use rustls::pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use natrix_core::auth::CertIdentity;

/// The attribute types nats-server's DN matching knows, by OID.
const KNOWN_TYPES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.5", "SERIALNUMBER"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.9", "STREET"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.17", "POSTALCODE"),
    ("0.9.2342.19200300.100.1.25", "DC"),
];

/// Go's `pkix.Name` field order: the subject string lists these reversed.
const GO_ORDER: &[&str] = &["C", "ST", "L", "STREET", "POSTALCODE", "O", "OU", "CN", "SERIALNUMBER"];

/// The identity in the first (leaf) certificate the client presented, if it parses.
pub fn peer_identity(certs: Option<&[CertificateDer<'_>]>) -> Option<CertIdentity> {
    let leaf = certs?.first()?;
    let (_, cert) = X509Certificate::from_der(leaf.as_ref()).ok()?;
    let mut identity = CertIdentity::default();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::RFC822Name(email) => identity.emails.push(email.to_string()),
                GeneralName::DNSName(dns) => identity.dns_names.push(dns.to_string()),
                GeneralName::URI(uri) => identity.uris.push(uri.to_string()),
                _ => {}
            }
        }
    }
    // The subject's attributes in certificate order, typed where nats-server knows the type.
    let mut raw: Vec<Vec<(Option<&'static str>, String)>> = Vec::new();
    for rdn in cert.subject().iter() {
        let mut attrs = Vec::new();
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let kind = KNOWN_TYPES.iter().find(|(o, _)| *o == oid).map(|(_, k)| *k);
            let value = attr.as_str().map(str::to_string).unwrap_or_default();
            attrs.push((kind, value));
        }
        raw.push(attrs);
    }
    // Go's subject string: known fields in pkix order, each type's values as one RDN joined
    // with '+', printed last first; DC and unknown attributes left out.
    let mut go_rdns: Vec<String> = Vec::new();
    for kind in GO_ORDER {
        let values: Vec<String> = raw
            .iter()
            .flatten()
            .filter(|(k, _)| *k == Some(kind))
            .map(|(_, v)| format!("{kind}={}", escape(v)))
            .collect();
        if !values.is_empty() {
            go_rdns.push(values.join("+"));
        }
    }
    go_rdns.reverse();
    identity.subject = go_rdns.join(",");
    let dcs: Vec<String> = raw
        .iter()
        .flatten()
        .filter(|(k, _)| *k == Some("DC"))
        .map(|(_, v)| format!("DC={}", escape(v)))
        .collect();
    if !dcs.is_empty() {
        identity.subject_with_dcs = Some(format!("{},{}", identity.subject, dcs.join(",")));
    }
    // The raw subject as a DN (last RDN first), unless an attribute type is unknown.
    if raw.iter().flatten().all(|(k, _)| k.is_some()) {
        identity.rdns = Some(
            raw.iter()
                .rev()
                .map(|rdn| {
                    rdn.iter()
                        .rev()
                        .map(|(k, v)| (k.unwrap_or_default().to_string(), v.clone()))
                        .collect()
                })
                .collect(),
        );
    }
    Some(identity)
}

/// RFC 2253 escaping as Go applies it.
fn escape(value: &str) -> String {
    let count = value.chars().count();
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let escape = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i + 1 == count,
            '#' => i == 0,
            _ => false,
        };
        if escape {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use natrix_core::auth::dn::{parse_dn, rdn_equal};

    #[test]
    fn go_subject_strings_and_dns() {
        let mut params = rcgen::CertificateParams::new(vec!["bob.example.com".to_string()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Acme, Inc");
        dn.push(rcgen::DnType::OrganizationalUnitName, "eng");
        dn.push(rcgen::DnType::CommonName, "alice");
        params.distinguished_name = dn;
        params
            .subject_alt_names
            .push(rcgen::SanType::Rfc822Name("alice@example.com".try_into().unwrap()));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().clone();
        let id = peer_identity(Some(&[der])).unwrap();
        assert_eq!(id.subject, "CN=alice,OU=eng,O=Acme\\, Inc,C=US");
        assert_eq!(id.emails, ["alice@example.com"]);
        assert_eq!(id.dns_names, ["bob.example.com"]);
        let rdns = id.rdns.unwrap();
        let parsed = parse_dn("cn=alice, OU=eng, O=Acme\\, Inc, C=US").unwrap();
        assert_eq!(rdns.len(), parsed.len());
        assert!(rdns.iter().zip(&parsed).all(|(a, b)| rdn_equal(a, b)));
        assert!(parse_dn("not a dn").is_none());
    }
}
