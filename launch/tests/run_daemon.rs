//! `tendon run --config FILE` against `tendon sim --serve-dds`: the operator
//! console requests FSM states, an e-stop damps, quit stops the loop.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn daemon_console_drives_the_simulated_robot_and_estop_damps() {
    let tendon = env!("CARGO_BIN_EXE_tendon");
    let _robot = common::KillOnDrop(
        Command::new(tendon)
            .args([
                "sim",
                "--serve-dds",
                "--domain",
                "155",
                "--iface",
                "lo",
                "--duration",
                "40",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let dir = std::env::temp_dir().join(format!("tendon-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("sim.toml");
    std::fs::write(
        &config,
        "[robot]\niface = \"lo\"\ndomain = 155\nmode = \"low\"\n\n[control]\nperiod_ms = 2\n",
    )
    .unwrap();
    let mut daemon = Command::new(tendon)
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = daemon.stdin.take().unwrap();
    // The daemon waits for the first LowState (the model loads in ~2 s) before reading commands.
    for (line, pause_ms) in [
        ("zero_torque", 500),
        ("stand_up", 4000),
        ("status", 100),
        ("estop", 300),
        ("status", 100),
        ("quit", 0),
    ] {
        writeln!(stdin, "{line}").unwrap();
        std::thread::sleep(Duration::from_millis(pause_ms));
    }
    drop(stdin);
    let out = daemon.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("fsm → zero_torque (0)"), "{stdout}");
    assert!(stdout.contains("fsm → stand_up (4)"), "{stdout}");
    assert!(
        stdout.contains("fsm stand_up (4)  tripped None"),
        "{stdout}"
    );
    assert!(stdout.contains("tripped Some(\"e-stop\")"), "{stdout}");
    assert!(
        stdout.contains("control loop stopped (damping sent)"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
