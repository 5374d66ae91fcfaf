//! libFuzzer entry point of the `chaincode_dispatch` target: see `dsec_fuzz::chaincode_dispatch`.

#![no_main]
// This binary shares the library's dependencies but uses none of them itself;
// `fuzz_target!` defines an undocumented public entry point.
#![allow(unused_crate_dependencies, missing_docs)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dsec_fuzz::chaincode_dispatch(data));
