#![no_main]
//! See harness.rs: `connect_json`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::connect_json(data));
