//! Values as nats-server's Go encoder writes them: RFC 3339 times, `1h2m3s` uptimes, Go
//! duration strings, integral floats without a fraction, and JSON with `<`, `>`, `&` escaped.

use std::time::Duration;

use serde::Serialize;

pub use crate::time::rfc3339;

/// Whole seconds as nats-server's `myUptime`: `1y2d3h4m5s`, leading zero units left out.
pub fn uptime(d: Duration) -> String {
    let mut secs = d.as_secs();
    let years = secs / (365 * 86_400);
    secs %= 365 * 86_400;
    let days = secs / 86_400;
    secs %= 86_400;
    let hours = secs / 3600;
    secs %= 3600;
    let minutes = secs / 60;
    secs %= 60;
    if years > 0 {
        format!("{years}y{days}d{hours}h{minutes}m{secs}s")
    } else if days > 0 {
        format!("{days}d{hours}h{minutes}m{secs}s")
    } else if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// A duration as Go's `Duration.String()` prints it (`1.13297ms`, `257µs`, `2m0s`).
pub use crate::config::duration::format as go_duration;

/// The round trip as nats-server reports it: between 1µs and 1ms, truncated to whole
/// microseconds first.
pub fn rtt(d: Duration) -> String {
    if d > Duration::from_micros(1) && d < Duration::from_millis(1) {
        go_duration(Duration::from_micros(d.as_micros() as u64))
    } else {
        go_duration(d)
    }
}

/// A float as Go's encoder writes it: integral values without a fraction.
pub fn go_float(value: f64) -> serde_json::Value {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 9.0e15 {
        serde_json::Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::from(0))
    }
}

/// Serializes a float field the way [`go_float`] writes it.
pub fn serialize_go_float<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    go_float(*value).serialize(serializer)
}

/// Pretty JSON (two-space indent, as Go's `MarshalIndent`) with `<`, `>` and `&` escaped as
/// Go escapes them. Those characters only occur inside strings, so replacing them is safe.
pub fn pretty_json<T: Serialize>(value: &T) -> Vec<u8> {
    go_escape(serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Compact JSON, Go-escaped (`/healthz` and replies over NATS).
pub fn compact_json<T: Serialize>(value: &T) -> Vec<u8> {
    go_escape(serde_json::to_string(value).unwrap_or_default())
}

fn go_escape(text: String) -> Vec<u8> {
    if !text.contains(['<', '>', '&']) {
        return text.into_bytes();
    }
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_331_201_710_244_950), "2026-11-22T07:06:41.71024495Z");
        assert_eq!(uptime(Duration::from_secs(5)), "5s");
        assert_eq!(uptime(Duration::from_secs(3605)), "1h0m5s");
        assert_eq!(uptime(Duration::from_secs(86_400 * 400)), "1y35d0h0m0s");
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(1_132_970)), "1.13297ms");
        assert_eq!(rtt(Duration::from_nanos(257_400)), "257µs");
        assert_eq!(go_duration(Duration::from_secs(120)), "2m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_float(2.0), serde_json::json!(2));
        assert_eq!(go_float(0.625), serde_json::json!(0.625));
        assert_eq!(
            String::from_utf8(compact_json(&serde_json::json!({"s": "q.>"}))).unwrap(),
            r#"{"s":"q.\u003e"}"#
        );
    }
}
