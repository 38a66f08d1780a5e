//! Codec benchmarks: LowCmd build + CRC + encode, and LowState decode + CRC.
//! `cargo bench -p tendon-bridge --bench codec`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tendon_bridge::cdr::CdrMessage;
use tendon_bridge::hg::{LowCmd, LowState, LOWCMD_PAYLOAD_LEN};
use tendon_core::MotorTargets;

fn codec(c: &mut Criterion) {
    let mut targets = MotorTargets::damping();
    for (i, m) in targets.motors.iter_mut().enumerate().take(29) {
        m.q_rad = 0.01 * i as f32;
        m.kp = 60.0;
    }
    let mut out = Vec::with_capacity(LOWCMD_PAYLOAD_LEN);
    c.bench_function("lowcmd_build_crc_encode", |b| {
        b.iter(|| {
            let cmd = LowCmd::from_targets(black_box(&targets), 5);
            cmd.encode_payload_into(&mut out);
            black_box(&out);
        })
    });
    let words: Vec<u32> = (0..250u32).map(|w| w.wrapping_mul(2_654_435_761)).collect();
    let form = tendon_bridge::crc::crc32_form().name();
    c.bench_function(&format!("crc32_250_words ({form})"), |b| {
        b.iter(|| black_box(tendon_bridge::crc::crc32_words(black_box(&words))))
    });
    c.bench_function("crc32_250_words_table (slicing-by-16)", |b| {
        b.iter(|| black_box(tendon_bridge::crc::crc32_words_table(black_box(&words))))
    });
    c.bench_function("crc32_250_words_bitwise", |b| {
        b.iter(|| black_box(tendon_bridge::crc::crc32_words_bitwise(black_box(&words))))
    });
    let cmd = LowCmd::from_targets(&targets, 5);
    c.bench_function("lowcmd_crc_only", |b| {
        b.iter(|| black_box(black_box(&cmd).compute_crc()))
    });

    let mut state = LowState {
        mode_machine: 5,
        tick: 1,
        ..LowState::default()
    };
    for (i, m) in state.motor_state.iter_mut().enumerate() {
        m.q = 0.01 * i as f32;
    }
    state.seal();
    let payload = state.to_payload();
    c.bench_function("lowstate_decode_crc_check", |b| {
        b.iter(|| black_box(LowState::decode_checked(black_box(&payload[4..])).unwrap()))
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
