//! Property tests: random messages round-trip exactly, and arbitrary bytes
//! never panic a decoder (they give typed errors). The libFuzzer target in
//! fuzz/ runs the same decoders for longer.

use proptest::prelude::*;
use tendon_bridge::cdr::CdrMessage;
use tendon_bridge::hg::{LowCmd, LowState, MotorCmd};
use tendon_bridge::rpc::{Request, Response};

fn any_motor_cmd() -> impl Strategy<Value = MotorCmd> {
    (any::<u8>(), any::<[u32; 5]>(), any::<u32>()).prop_map(|(mode, f, reserve)| MotorCmd {
        mode,
        q: f32::from_bits(f[0]),
        dq: f32::from_bits(f[1]),
        tau: f32::from_bits(f[2]),
        kp: f32::from_bits(f[3]),
        kd: f32::from_bits(f[4]),
        reserve,
    })
}

fn any_lowcmd() -> impl Strategy<Value = LowCmd> {
    (
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any_motor_cmd(), 35),
        any::<[u32; 4]>(),
    )
        .prop_map(|(mode_pr, mode_machine, motors, reserve)| {
            let mut cmd = LowCmd {
                mode_pr,
                mode_machine,
                reserve,
                ..LowCmd::default()
            };
            cmd.motor_cmd.copy_from_slice(&motors);
            cmd.seal();
            cmd
        })
}

/// Bit-level equality, so NaN payloads compare too.
fn same_bits(a: &LowCmd, b: &LowCmd) -> bool {
    a.to_payload() == b.to_payload()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn lowcmd_round_trips_bit_exactly(cmd in any_lowcmd()) {
        let back = LowCmd::decode_payload(&cmd.to_payload()).unwrap();
        prop_assert!(same_bits(&cmd, &back));
        prop_assert!(back.check_crc().is_ok());
    }

    #[test]
    fn random_bytes_never_panic_decoders(bytes in prop::collection::vec(any::<u8>(), 0..2200)) {
        let _ = LowState::decode_payload(&bytes);
        let _ = LowState::decode_checked(&bytes);
        let _ = LowCmd::decode_payload(&bytes);
        let _ = Request::decode_payload(&bytes);
        let _ = Response::decode_payload(&bytes);
    }

    #[test]
    fn corrupted_lowstate_is_dropped_not_accepted(pos in 0usize..2088, flip in 1u8..=255) {
        let mut s = LowState { tick: 77, mode_machine: 5, ..LowState::default() };
        s.seal();
        let mut payload = s.to_payload();
        payload[4 + pos] ^= flip;
        // A flipped bit in a CDR padding byte is invisible to the C-layout CRC;
        // everything else must be caught.
        if let Ok(decoded) = LowState::decode_checked(&payload[4..]) {
            prop_assert_eq!(decoded, s);
        }
    }
}
