#![no_main]
//! See harness.rs: `sys_request`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sys_request(data));
