#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bgp_fuzz::bird_config(data));
