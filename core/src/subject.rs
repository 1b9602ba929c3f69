//! Subject and queue-name rules (nats-server's sublist.go and ADR-6).
//!
//! Subjects are dot-separated tokens. Every token is non-empty and free of whitespace. A token that
//! is exactly `*` matches any one token; a token that is exactly `>` matches one or more trailing
//! tokens and must be last. `foo*` or `f>o` are ordinary literal tokens. Subjects are compared as
//! bytes: they are case-sensitive and carry whatever UTF-8 the client sent.

/// Separates tokens.
pub const SEPARATOR: u8 = b'.';
/// Matches exactly one token.
pub const SINGLE_WILDCARD: &[u8] = b"*";
/// Matches one or more trailing tokens.
pub const FULL_WILDCARD: &[u8] = b">";

/// Splits a subject into its tokens (empty tokens included, so validation can see them).
pub fn tokens(subject: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    subject.split(|&b| b == SEPARATOR)
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0c)
}

/// Whether `subject` may be subscribed to: non-empty tokens, no whitespace, `>` only last.
pub fn is_valid_subject(subject: &[u8]) -> bool {
    if subject.is_empty() {
        return false;
    }
    let mut saw_full_wildcard = false;
    for token in tokens(subject) {
        if token.is_empty() || saw_full_wildcard || token.iter().any(|&b| is_whitespace(b)) {
            return false;
        }
        if token == FULL_WILDCARD {
            saw_full_wildcard = true;
        }
    }
    true
}

/// Whether `subject` is valid and contains no wildcard token: what a publish must use.
pub fn is_valid_literal_subject(subject: &[u8]) -> bool {
    is_valid_subject(subject) && !has_wildcard(subject)
}

/// Whether any token of `subject` is a wildcard.
pub fn has_wildcard(subject: &[u8]) -> bool {
    tokens(subject).any(|t| t == SINGLE_WILDCARD || t == FULL_WILDCARD)
}

/// Whether `queue` may name a queue group: non-empty and free of whitespace.
pub fn is_valid_queue_name(queue: &[u8]) -> bool {
    !queue.is_empty() && !queue.iter().any(|&b| is_whitespace(b))
}

/// Whether the literal `subject` is matched by `pattern` (which may hold wildcards).
///
/// This is the plain, obviously-correct matcher; the sublist is the fast one and is tested
/// against this.
pub fn matches(pattern: &[u8], subject: &[u8]) -> bool {
    if tokens(subject).any(<[u8]>::is_empty) {
        return false;
    }
    let mut pattern_tokens = tokens(pattern);
    let mut subject_tokens = tokens(subject);
    loop {
        match (pattern_tokens.next(), subject_tokens.next()) {
            (None, None) => return true,
            (Some(p), Some(_)) if p == FULL_WILDCARD => return true,
            (Some(p), Some(s)) if p == SINGLE_WILDCARD || p == s => continue,
            _ => return false,
        }
    }
}

/// Whether some subject matches both `a` and `b` (nats-server's `SubjectsCollide`): streams
/// may not share one.
pub fn collide(a: &[u8], b: &[u8]) -> bool {
    let mut left = tokens(a);
    let mut right = tokens(b);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(l), Some(r)) if l == FULL_WILDCARD || r == FULL_WILDCARD => return true,
            (Some(l), Some(r)) if l == SINGLE_WILDCARD || r == SINGLE_WILDCARD || l == r => continue,
            _ => return false,
        }
    }
}

/// Whether every subject `a` matches is matched by `b`.
pub fn is_subset(a: &[u8], b: &[u8]) -> bool {
    let mut left = tokens(a);
    let mut right = tokens(b);
    loop {
        match (left.next(), right.next()) {
            (None, None) => return true,
            (Some(_), Some(r)) if r == FULL_WILDCARD => return true,
            (Some(l), Some(_)) if l == FULL_WILDCARD => return false,
            (Some(l), Some(r)) if r == SINGLE_WILDCARD || l == r => continue,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_and_subsets() {
        let collide_cases: &[(&str, &str, bool)] = &[
            ("orders.*", "orders.new", true),
            ("orders.>", "orders", false),
            ("a.*.c", "a.b.*", true),
            ("a.b", "a.c", false),
            (">", "x.y", true),
            ("a.*", "a.b.c", false),
        ];
        for (a, b, expected) in collide_cases {
            assert_eq!(collide(a.as_bytes(), b.as_bytes()), *expected, "{a} {b}");
            assert_eq!(collide(b.as_bytes(), a.as_bytes()), *expected, "{b} {a}");
        }
        assert!(is_subset(b"$JS.EVENT.x", b"$JS.EVENT.>"));
        assert!(!is_subset(b"$JS.>", b"$JS.EVENT.>"));
        assert!(is_subset(b"a.b", b"a.*"));
        assert!(!is_subset(b"a.*", b"a.b"));
    }

    #[test]
    fn validity() {
        for ok in [
            "foo", "foo.bar", "*", ">", "foo.*", "foo.>", "*.*.>", "foo*.b>r", "$SYS.x",
        ] {
            assert!(is_valid_subject(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            ".",
            "foo.",
            ".foo",
            "foo..bar",
            "foo.>.bar",
            ">.foo",
            "fo o",
            "a.\tb",
        ] {
            assert!(!is_valid_subject(bad.as_bytes()), "{bad}");
        }
        assert!(is_valid_literal_subject(b"foo.bar*"));
        assert!(!is_valid_literal_subject(b"foo.*"));
        assert!(!is_valid_literal_subject(b"foo.>"));
        assert!(is_valid_queue_name(b"workers"));
        assert!(!is_valid_queue_name(b""));
    }

    #[test]
    fn matching() {
        assert!(matches(b"foo.*", b"foo.bar"));
        assert!(!matches(b"foo.*", b"foo.bar.baz"));
        assert!(matches(b"foo.>", b"foo.bar.baz"));
        assert!(!matches(b"foo.>", b"foo"));
        assert!(matches(b">", b"foo"));
        assert!(matches(b"*.bar", b"foo.bar"));
        assert!(!matches(b"foo", b"foo.bar"));
        assert!(!matches(b"foo.bar", b"foo"));
    }
}
