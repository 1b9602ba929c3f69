#![no_main]
//! See harness.rs: `monitor_http`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::monitor_http(data));
