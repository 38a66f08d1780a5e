//! Locating and running the third-party peers (Unitree's Python SDK and its
//! C++ SDK binding, on CycloneDDS 0.10.2) that scripts/install-peers.sh installs.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The peers' Python: `TENDON_PEERS_PYTHON`, else the default venv. A missing
/// peer fails the test: these tests exist to prove compatibility with it.
pub fn peers_python() -> PathBuf {
    if let Some(p) = std::env::var_os("TENDON_PEERS_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("TENDON_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/tendon")
        });
    let py = cache.join("peers-venv/bin/python");
    assert!(
        py.exists(),
        "Unitree SDK peers are not installed ({} missing). Run scripts/test.sh, which installs them, or scripts/install-peers.sh",
        py.display()
    );
    py
}

pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// Runs a peer script to completion and returns its stdout.
pub fn run_peer(script: &str, args: &[&str]) -> String {
    let out = Command::new(peers_python())
        .arg(peer_script(script))
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("could not start {script}: {e}"));
    assert!(
        out.status.success(),
        "{script} {args:?} failed: {}",
        out.status
    );
    String::from_utf8(out.stdout).expect("peer printed non-UTF-8")
}

/// A peer running in the background; killed if the test panics.
pub struct PeerProcess {
    child: Option<Child>,
    name: String,
}

impl PeerProcess {
    pub fn spawn(script: &str, args: &[&str]) -> PeerProcess {
        let child = Command::new(peers_python())
            .arg(peer_script(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {script}: {e}"));
        PeerProcess {
            child: Some(child),
            name: script.to_string(),
        }
    }

    /// Waits (bounded) for the peer to exit and parses its last stdout line as JSON.
    pub fn summary(mut self, limit: Duration) -> serde_json::Value {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{} did not exit within {limit:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{} failed: {}", self.name, out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        let last = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("{} printed nothing", self.name));
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("{} summary is not JSON ({e}): {last}", self.name))
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// DDS interop tests run one at a time: each drives 500 Hz traffic, and two
/// at once on 2 cores would measure the machine, not the protocol.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
