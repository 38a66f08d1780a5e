//! The kernel tests compare `Simd::detect()` with the portable kernels; they
//! test SIMD code only if detection picks it. On aarch64 (the Jetson, and
//! qemu-aarch64 in scripts/test-aarch64.sh) every core has NEON, and on the
//! x86-64 CI machine AVX2/FMA/F16C: a fall-back to portable here would
//! silently leave the SIMD kernels untested.

use tendon_policy::kernels::Simd;

#[test]
fn detection_picks_the_simd_kernels_of_this_cpu() {
    let simd = Simd::detect();
    #[cfg(target_arch = "aarch64")]
    assert_eq!(simd.name(), "neon");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(
        simd.name(),
        if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
        {
            "avx2"
        } else {
            "portable"
        }
    );
}
