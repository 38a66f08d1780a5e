#![no_main]
//! Feeds arbitrary payloads to the LowState decoder and its checks: any input
//! must give a value or a typed error, never a panic. A decoded state must
//! re-encode to the same body (minus XCDR padding).

use libfuzzer_sys::fuzz_target;
use tendon_bridge::cdr::CdrMessage;
use tendon_bridge::hg::LowState;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = LowState::decode_payload(data) {
        let again = state.to_payload();
        assert_eq!(&again[4..], &data[4..4 + again.len() - 4]);
        let _ = LowState::decode_checked(&data[4..]);
    }
});
