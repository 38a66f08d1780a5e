//! Shared by the launch crate's integration tests (each test file uses part of it).

#![allow(dead_code)]

use std::path::PathBuf;

/// The Python of the third-party peers venv (Unitree's SDKs, `mcap`):
/// `TENDON_PEERS_PYTHON`, else the default venv. Missing peers fail the test.
pub fn peers_python() -> PathBuf {
    if let Some(p) = std::env::var_os("TENDON_PEERS_PYTHON") {
        return PathBuf::from(p);
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let cache = std::env::var_os("TENDON_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/tendon"));
    let py = cache.join("peers-venv/bin/python");
    assert!(
        py.exists(),
        "the Python peers are not installed ({}); run scripts/test.sh",
        py.display()
    );
    py
}

/// Runs the `tendon` binary; returns the exit code, stdout and stderr.
pub fn tendon(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tendon"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A child process (e.g. `tendon sim --serve-dds`) that is killed when the
/// test ends, also when it panics.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
