//! Preflight for a workspace build on a machine where scripts/install.sh has
//! not run. Without it, a plain `cargo build` dies in a dependency's build
//! script with a backtrace: mujoco-rs panics on a missing libmujoco,
//! whisper-rs-sys on a missing libclang or cmake. It lives in tendon-core
//! because every tendon crate depends on core: cargo schedules the build
//! scripts of units with the most dependents first, and this one has no
//! dependencies, so on a cold build it runs (and stops the build) before
//! mujoco-rs's or whisper-rs-sys's can. (In the sim crate, which needs
//! libmujoco, it lost that race: measured, mujoco-rs panicked first.) It
//! names everything missing and the one command that installs it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const INSTALL: &str = "scripts/install.sh";

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in [
        "MUJOCO_DYNAMIC_LINK_DIR",
        "MUJOCO_STATIC_LINK_DIR",
        "LIBCLANG_PATH",
        "CMAKE",
        "DOCS_RS",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if std::env::var_os("DOCS_RS").is_some() {
        return;
    }
    let mut missing = Vec::new();
    if let Some(problem) = mujoco_problem() {
        missing.push(problem);
    }
    if !runs(&std::env::var("CMAKE").unwrap_or_else(|_| "cmake".into())) {
        missing.push("cmake (Debian package cmake; whisper-rs builds whisper.cpp with it)".into());
    }
    if !libclang_found() {
        missing
            .push("libclang (Debian package libclang-dev; bindgen needs it for whisper-rs)".into());
    }
    if !runs("c++") {
        missing.push("a C++ compiler (Debian package g++)".into());
    }
    if !missing.is_empty() {
        println!(
            "cargo::error=tendon cannot be built yet: missing {}. Run {INSTALL} from the repository root (it installs the Debian packages in scripts/system-packages.txt, libmujoco 3.17.0 and the G1 model), then build again.",
            missing.join("; ")
        );
    }
}

/// What is wrong with the libmujoco that mujoco-rs will link, if anything.
fn mujoco_problem() -> Option<String> {
    if std::env::var_os("MUJOCO_STATIC_LINK_DIR").is_some() {
        return None;
    }
    let Some(dir) = std::env::var_os("MUJOCO_DYNAMIC_LINK_DIR").map(PathBuf::from) else {
        return Some(
            "libmujoco 3.17.0 (MUJOCO_DYNAMIC_LINK_DIR is unset; .cargo/config.toml normally sets it to target/mujoco/lib)"
                .into(),
        );
    };
    let lib = dir.join("libmujoco.so");
    println!("cargo::rerun-if-changed={}", lib.display());
    (!lib.is_file()).then(|| {
        format!(
            "libmujoco 3.17.0 (no {}; it comes from the PyPI wheel mujoco==3.17.0)",
            lib.display()
        )
    })
}

fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Where clang-sys looks for libclang: LIBCLANG_PATH, then the system's
/// library folders and LLVM's versioned ones.
fn libclang_found() -> bool {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LIBCLANG_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for root in ["/usr/lib", "/usr/lib64", "/usr/local/lib"] {
        dirs.push(PathBuf::from(root));
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with("llvm") {
                    dirs.push(e.path().join("lib"));
                } else if name.ends_with("-linux-gnu") {
                    dirs.push(e.path());
                }
            }
        }
    }
    dirs.iter().any(|d| has_libclang(d))
}

fn has_libclang(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libclang")
                && name.contains(".so")
                && !name.starts_with("libclang-cpp")
        })
    })
}
