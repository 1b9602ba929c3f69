#![no_main]
//! See harness.rs: `client_parser`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::client_parser(data));
