#![no_main]
//! Feeds arbitrary payloads to the LowState decoder and its checks: any input
//! must give a value or a typed error, never a panic. Re-encoding a decoded
//! state must be stable: CDR padding bytes are not fields, so the input's
//! padding may differ, but encode(decode(encode(x))) == encode(x) exactly.

use libfuzzer_sys::fuzz_target;
use tendon_bridge::cdr::CdrMessage;
use tendon_bridge::hg::LowState;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = LowState::decode_payload(data) {
        let again = state.to_payload();
        let reparsed = LowState::decode_payload(&again).expect("our own encoding must decode");
        assert_eq!(reparsed.to_payload(), again);
        let _ = LowState::decode_checked(&data[4..]);
    }
});
