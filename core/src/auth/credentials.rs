//! Checking secrets: passwords and tokens (plaintext or bcrypt) and nkey signatures.
//!
//! Plaintext secrets are compared in constant time so a failed attempt reveals nothing about
//! how much of the secret it got right. A stored secret that looks like a bcrypt hash is
//! checked as one, as nats-server does (`$2a$`, `$2b$`, `$2x$`, `$2y$` and a two-digit cost).

/// Whether `stored` is a bcrypt hash rather than a plaintext secret.
pub fn is_bcrypt(stored: &str) -> bool {
    let b = stored.as_bytes();
    b.len() > 7
        && b[0] == b'$'
        && b[1] == b'2'
        && matches!(b[2], b'a' | b'b' | b'x' | b'y')
        && b[3] == b'$'
        && b[4].is_ascii_digit()
        && b[5].is_ascii_digit()
        && b[6] == b'$'
}

/// A bcrypt comparison. Each takes tens of milliseconds by design, so the core does not run
/// it: it asks the runtime to ([`crate::Output::CheckPassword`]) and waits for the answer
/// ([`crate::Input::PasswordChecked`]) while other connections carry on.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordCheck {
    pub(crate) hash: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for PasswordCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordCheck { .. }")
    }
}

impl PasswordCheck {
    /// Runs the comparison (slow: call it off the core's thread).
    pub fn run(&self) -> bool {
        bcrypt::verify(&self.password, &self.hash).unwrap_or(false)
    }
}

/// Equality whose running time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `key` is a well-formed public user nkey (`U` and 55 base32 characters with a valid
/// checksum).
pub fn is_valid_user_nkey(key: &str) -> bool {
    key.starts_with('U') && nkeys::KeyPair::from_public_key(key).is_ok()
}

/// Why an nkey signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The client sent no `sig`.
    #[error("signature missing")]
    Missing,
    /// `sig` is not base64.
    #[error("signature not valid base64")]
    Encoding,
    /// The key cannot be decoded.
    #[error("not a valid public nkey")]
    BadKey,
    /// The signature does not verify.
    #[error("signature not verified")]
    Invalid,
}

/// Checks that `sig` is `key`'s ed25519 signature over `nonce`. Like nats-server, `sig` is read
/// as unpadded URL-safe base64, or else as padded standard base64.
pub fn verify_nkey_signature(key: &str, nonce: &[u8], sig: Option<&str>) -> Result<(), SignatureError> {
    let sig = sig.filter(|s| !s.is_empty()).ok_or(SignatureError::Missing)?;
    let raw = decode_base64(sig, Alphabet::RawUrl)
        .or_else(|| decode_base64(sig, Alphabet::PaddedStd))
        .ok_or(SignatureError::Encoding)?;
    let pair = nkeys::KeyPair::from_public_key(key).map_err(|_| SignatureError::BadKey)?;
    pair.verify(nonce, &raw).map_err(|_| SignatureError::Invalid)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    /// `-` and `_`, no padding.
    RawUrl,
    /// `+` and `/`, padded to a multiple of four.
    PaddedStd,
}

/// Decodes base64 in one alphabet.
fn decode_base64(text: &str, alphabet: Alphabet) -> Option<Vec<u8>> {
    let data = match alphabet {
        Alphabet::RawUrl => text,
        Alphabet::PaddedStd => {
            if text.len() % 4 != 0 {
                return None;
            }
            text.strip_suffix("==")
                .or_else(|| text.strip_suffix('='))
                .unwrap_or(text)
        }
    };
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in data.bytes() {
        let v = match (c, alphabet) {
            (b'A'..=b'Z', _) => c - b'A',
            (b'a'..=b'z', _) => c - b'a' + 26,
            (b'0'..=b'9', _) => c - b'0' + 52,
            (b'-', Alphabet::RawUrl) | (b'+', Alphabet::PaddedStd) => 62,
            (b'_', Alphabet::RawUrl) | (b'/', Alphabet::PaddedStd) => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A nonce for nkey challenges: 11 random bytes in URL-safe base64 without padding, the shape
/// nats-server sends (`nonceLen = 11`).
pub fn new_nonce(rng: &mut crate::rng::Rng) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 11];
    for b in &mut bytes {
        *b = rng.next_u64() as u8;
    }
    let mut out = String::with_capacity(15);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How `Auth` compares a secret: bcrypt through a [`PasswordCheck`], else in constant time.
    fn secret_matches(stored: &str, given: &str) -> bool {
        if is_bcrypt(stored) {
            return PasswordCheck {
                hash: stored.to_string(),
                password: given.to_string(),
            }
            .run();
        }
        constant_time_eq(stored.as_bytes(), given.as_bytes())
    }

    #[test]
    fn bcrypt_detection_and_check() {
        let hash = bcrypt::hash_with_result("s3cr3t", 4)
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA);
        assert!(is_bcrypt(&hash));
        assert!(secret_matches(&hash, "s3cr3t"));
        assert!(!secret_matches(&hash, "s3cr3T"));
        assert!(!is_bcrypt("$2a"));
        assert!(!is_bcrypt("plain"));
        assert!(secret_matches("plain", "plain"));
        assert!(!secret_matches("plain", "plai"));
    }

    #[test]
    fn nkey_signatures() {
        let user = nkeys::KeyPair::new_user();
        let nonce = b"abcdefghijklmno";
        let sig = user.sign(nonce).unwrap();
        let key = user.public_key();
        assert!(is_valid_user_nkey(&key));
        assert!(!is_valid_user_nkey(&nkeys::KeyPair::new_account().public_key()));
        let url = to_base64(
            &sig,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        );
        let std = to_base64(
            &sig,
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        );
        assert_eq!(verify_nkey_signature(&key, nonce, Some(&url)), Ok(()));
        assert_eq!(verify_nkey_signature(&key, nonce, Some(&format!("{std}=="))), Ok(()));
        // nats-server takes neither padded URL-safe nor unpadded standard base64.
        if url.contains(['-', '_']) {
            assert_eq!(
                verify_nkey_signature(&key, nonce, Some(&format!("{url}=="))),
                Err(SignatureError::Encoding)
            );
        }
        if std != url {
            assert_eq!(
                verify_nkey_signature(&key, nonce, Some(&std)),
                Err(SignatureError::Encoding)
            );
        }
        assert_eq!(
            verify_nkey_signature(&key, b"other", Some(&url)),
            Err(SignatureError::Invalid)
        );
        assert_eq!(verify_nkey_signature(&key, nonce, None), Err(SignatureError::Missing));
        assert_eq!(
            verify_nkey_signature(&key, nonce, Some("!!")),
            Err(SignatureError::Encoding)
        );
    }

    #[test]
    fn nonces_are_url_safe_base64_of_11_bytes() {
        let mut rng = crate::rng::Rng::new(7);
        let nonce = new_nonce(&mut rng);
        assert_eq!(nonce.len(), 15);
        assert_eq!(decode_base64(&nonce, Alphabet::RawUrl).map(|b| b.len()), Some(11));
        assert_ne!(nonce, new_nonce(&mut rng));
    }

    fn to_base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}
