//! libFuzzer entry point of the `consensus_codec` target: see `dsec_fuzz::consensus_codec`.

#![no_main]
// This binary shares the library's dependencies but uses none of them itself;
// `fuzz_target!` defines an undocumented public entry point.
#![allow(unused_crate_dependencies, missing_docs)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsec_fuzz::consensus_codec(data));
