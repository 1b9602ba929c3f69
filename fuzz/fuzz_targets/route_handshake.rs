#![no_main]
//! See harness.rs: `route_handshake`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::route_handshake(data));
