//! Shared by the integration tests: the numpy peer and test images.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;
use std::process::Command;

/// The Python with numpy and mcap that scripts/install-perception.sh set up.
pub fn peer_python() -> PathBuf {
    match std::env::var_os("TENDON_PERCEPTION_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => panic!(
            "TENDON_PERCEPTION_PYTHON is not set: these tests compare against numpy. Run them \
             through scripts/test.sh, or export TENDON_PERCEPTION_PYTHON=$(scripts/install-perception.sh)"
        ),
    }
}

pub fn reference_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/patchify_ref.py")
}

/// Runs the numpy reference with `args`; panics with its stderr on failure.
pub fn run_reference(args: &[&str]) -> String {
    let out = Command::new(peer_python())
        .arg(reference_script())
        .args(args)
        .output()
        .expect("starting the numpy peer (TENDON_PERCEPTION_PYTHON)");
    assert!(
        out.status.success(),
        "numpy reference {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tendon-perception-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Deterministic pseudo-random bytes (a 64-bit LCG), so failures reproduce.
pub fn noise_image(width_px: usize, height_px: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..width_px * height_px * 3)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

pub fn write_f32(path: &std::path::Path, values: &[f32]) {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

pub fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}
