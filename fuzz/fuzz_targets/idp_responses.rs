#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| idc_guard_core::fuzzing::idp_responses(data));
