//! Encoders for what the server sends a client: MSG, HMSG, INFO, +OK, -ERR, PING, PONG.
//!
//! Delivery encodes only the control line; the message bytes that follow are shared with the
//! publisher's buffer (see `conn::Outbound`).

use bytes::{BufMut, BytesMut};

/// `PING\r\n`.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`.
pub const PONG: &[u8] = b"PONG\r\n";
/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";

/// Appends `n` in decimal without going through `fmt`.
pub fn put_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[i..]);
}

/// Appends a `MSG` (when `header_len` is `None`) or `HMSG` control line.
pub fn put_msg_line(
    out: &mut BytesMut,
    subject: &[u8],
    sid: &[u8],
    reply: Option<&[u8]>,
    header_len: Option<usize>,
    total_len: usize,
) {
    out.reserve(subject.len() + sid.len() + reply.map_or(0, <[u8]>::len) + 32);
    out.put_slice(if header_len.is_some() { b"HMSG " } else { b"MSG " });
    out.put_slice(subject);
    out.put_u8(b' ');
    out.put_slice(sid);
    if let Some(reply) = reply {
        out.put_u8(b' ');
        out.put_slice(reply);
    }
    put_sizes(out, header_len, total_len);
}

/// Appends an `RMSG` (when `header_len` is `None`) or `HMSG` control line for a route:
/// `RMSG <account> <subject> [reply | + reply queues | | queues] [<header size>] <size>`.
pub fn put_routed_line(
    out: &mut BytesMut,
    account: &[u8],
    subject: &[u8],
    reply: Option<&[u8]>,
    queues: Option<&[&[u8]]>,
    header_len: Option<usize>,
    total_len: usize,
) {
    let queue_bytes: usize = queues.unwrap_or_default().iter().map(|q| q.len() + 1).sum();
    out.reserve(account.len() + subject.len() + reply.map_or(0, <[u8]>::len) + queue_bytes + 40);
    out.put_slice(if header_len.is_some() { b"HMSG " } else { b"RMSG " });
    out.put_slice(account);
    out.put_u8(b' ');
    out.put_slice(subject);
    match queues.filter(|q| !q.is_empty()) {
        Some(queues) => {
            match reply {
                Some(reply) => {
                    out.put_slice(b" + ");
                    out.put_slice(reply);
                }
                None => out.put_slice(b" |"),
            }
            for queue in queues {
                out.put_u8(b' ');
                out.put_slice(queue);
            }
        }
        None => {
            if let Some(reply) = reply {
                out.put_u8(b' ');
                out.put_slice(reply);
            }
        }
    }
    put_sizes(out, header_len, total_len);
}

/// Appends ` [<header size>] <total size>\r\n`, the end of every message line.
fn put_sizes(out: &mut BytesMut, header_len: Option<usize>, total_len: usize) {
    if let Some(header_len) = header_len {
        out.put_u8(b' ');
        put_decimal(out, header_len as u64);
    }
    out.put_u8(b' ');
    put_decimal(out, total_len as u64);
    out.put_slice(b"\r\n");
}

/// Appends `-ERR '<text>'\r\n`.
pub fn put_err(out: &mut BytesMut, text: &str) {
    out.put_slice(b"-ERR '");
    out.put_slice(text.as_bytes());
    out.put_slice(b"'\r\n");
}

/// The whole `INFO` line for `info`.
pub fn info_line(info: &super::Info) -> Vec<u8> {
    let json = serde_json::to_vec(info).unwrap_or_default();
    let mut line = BytesMut::with_capacity(json.len() + 8);
    put_info(&mut line, &json);
    line.to_vec()
}

/// Appends `INFO <json> \r\n` (nats-server puts a space before the CRLF).
pub fn put_info(out: &mut BytesMut, json: &[u8]) {
    out.put_slice(b"INFO ");
    out.put_slice(json);
    out.put_slice(b" \r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_lines() {
        let mut out = BytesMut::new();
        put_msg_line(&mut out, b"foo.bar", b"9", None, None, 11);
        put_msg_line(&mut out, b"foo", b"1", Some(b"_INBOX.x"), Some(12), 14);
        put_err(&mut out, "Stale Connection");
        assert_eq!(
            &out[..],
            b"MSG foo.bar 9 11\r\nHMSG foo 1 _INBOX.x 12 14\r\n-ERR 'Stale Connection'\r\n"
        );
    }

    #[test]
    fn decimals() {
        for n in [0u64, 7, 10, 999, 1_048_576, u64::MAX] {
            let mut out = BytesMut::new();
            put_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }
}
