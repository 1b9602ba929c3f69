//! Distinguished names as user names spell them (`CN=alice, OU=eng+OU=ops, O=Acme`), for
//! `verify_and_map`: a certificate's subject (extracted by the driver's TLS glue) is compared
//! with configured user names RDN by RDN.

/// One relative distinguished name: its attributes as (upper-case type, value).
pub type Rdn = Vec<(String, String)>;

/// A distinguished name: its RDNs, last first as written (`CN=...,O=...`).
pub type Dn = Vec<Rdn>;

/// Parses a user name as a distinguished name (`CN=alice, OU=eng+OU=ops, O=Acme`): RDNs split
/// on unescaped commas, attributes on unescaped pluses, spaces around types and values trimmed,
/// types upper-cased. `None` if it is not a DN.
pub fn parse_dn(text: &str) -> Option<Dn> {
    let mut rdns = Vec::new();
    let mut attrs = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    let finish_attr = |current: &mut String, attrs: &mut Vec<(String, String)>| -> Option<()> {
        let (kind, value) = current.split_once('=')?;
        let kind = kind.trim();
        let value = value.trim();
        if kind.is_empty() || value.starts_with('#') {
            return None;
        }
        attrs.push((kind.to_ascii_uppercase(), unescape(value)));
        current.clear();
        Some(())
    };
    for c in text.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '+' => finish_attr(&mut current, &mut attrs)?,
            ',' => {
                finish_attr(&mut current, &mut attrs)?;
                rdns.push(std::mem::take(&mut attrs));
            }
            c => current.push(c),
        }
    }
    finish_attr(&mut current, &mut attrs)?;
    rdns.push(attrs);
    Some(rdns)
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether two RDNs hold the same attributes (types already upper-cased).
pub fn rdn_equal(a: &[(String, String)], b: &[(String, String)]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_parse_and_compare() {
        let a = parse_dn("cn=alice, OU=eng+OU=ops, O=Acme\\, Inc").expect("a dn");
        assert_eq!(a.len(), 3);
        assert_eq!(a[0], [("CN".to_string(), "alice".to_string())]);
        assert_eq!(a[2], [("O".to_string(), "Acme, Inc".to_string())]);
        let b = parse_dn("CN=alice,OU=ops+OU=eng,O=Acme\\, Inc").expect("b dn");
        assert!(a.iter().zip(&b).all(|(x, y)| rdn_equal(x, y)));
        assert!(parse_dn("not a dn").is_none());
    }
}
