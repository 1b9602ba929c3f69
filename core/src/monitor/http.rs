//! Just enough HTTP/1.1 for the monitoring endpoints: read one GET request (path and query),
//! answer it, close. Monitoring tools (curl, Prometheus, nats-top, Kubernetes probes) send
//! nothing fancier.

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD` ...
    pub method: String,
    /// The path without the query (`/connz`).
    pub path: String,
    /// Query parameters in order, percent-decoded.
    pub query: Vec<(String, String)>,
}

impl Request {
    /// The value of query parameter `name`, if given.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why a request cannot be answered normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The head is not HTTP.
    #[error("malformed request")]
    Malformed,
    /// The head is larger than we read.
    #[error("request head too large")]
    TooLarge,
}

/// Largest request head accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// Parses a request once its head (up to the empty line) has arrived: `Ok(None)` means more
/// bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, HttpError> {
    let Some(end) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(HttpError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| HttpError::Malformed)?;
    let line = head.lines().next().ok_or(HttpError::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(HttpError::Malformed);
    };
    if !version.starts_with("HTTP/") || method.is_empty() || !target.starts_with('/') {
        return Err(HttpError::Malformed);
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect();
    Ok(Some(Request {
        method: method.to_string(),
        path: decode(path),
        query,
    }))
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
}

/// Percent-decoding, with `+` as a space, as Go's query parser does.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A complete response: status line, headers, body; the connection closes after it.
pub fn response(status: u16, content_type: &str, body: &[u8]) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(parse(b"GET /varz HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        let r = parse(b"GET /connz?sort=bytes_to&limit=2&acc=%24G&x HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.path, "/connz");
        assert_eq!(r.param("sort"), Some("bytes_to"));
        assert_eq!(r.param("limit"), Some("2"));
        assert_eq!(r.param("acc"), Some("$G"));
        assert_eq!(r.param("x"), Some(""));
        assert_eq!(parse(b"garbage\r\n\r\n"), Err(HttpError::Malformed));
        assert_eq!(parse(&vec![b'a'; MAX_HEAD + 1]), Err(HttpError::TooLarge));
        assert_eq!(decode("a%2"), "a%2");
        let resp = String::from_utf8(response(200, "application/json", b"{}")).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n") && resp.ends_with("\r\n\r\n{}"));
    }
}
