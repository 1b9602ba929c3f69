#![no_main]
//! See harness.rs: `route_parser`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::route_parser(data));
