//! `tendon run --config FILE` against `tendon sim --serve-dds`: the operator
//! console requests FSM states, an e-stop damps, quit stops the loop.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Each test runs a 500 Hz simulated robot and a 500 Hz daemon; three pairs
/// at once on a 2-core CI machine starve each other into stale-state trips
/// that the tests are not about, so they take turns.
static ONE_ROBOT_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    ONE_ROBOT_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `tendon sim --serve-dds` on loopback for 40 s, killed when dropped.
fn spawn_sim_robot(domain: u16) -> common::KillOnDrop {
    let domain = domain.to_string();
    common::KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tendon"))
            .args(["sim", "--serve-dds", "--domain", &domain])
            .args(["--iface", "lo", "--duration", "40"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// A launch file in a fresh temporary folder: (folder, file).
fn write_launch_file(name: &str, text: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("tendon-run-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("launch.toml");
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

/// CPU time (user + system) a process has used, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may contain spaces) start at ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// systemd, nohup and `< /dev/null` start the daemon without a console: it
/// must idle (it used to spin a core on the closed channel), keep the loop
/// running, and stop cleanly, damping, on SIGTERM.
#[test]
fn daemon_without_stdin_idles_and_stops_on_sigterm() {
    let _turn = take_turn();
    let _robot = spawn_sim_robot(157);
    let (dir, config) = write_launch_file(
        "nostdin",
        "[robot]\niface = \"lo\"\ndomain = 157\nmode = \"low\"\n",
    );
    let daemon = Command::new(env!("CARGO_BIN_EXE_tendon"))
        .args(["run", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = daemon.id();
    // Past start-up (the robot's first LowState, ~2 s), then measure 3 s.
    std::thread::sleep(Duration::from_secs(6));
    let before = cpu_seconds(pid);
    std::thread::sleep(Duration::from_secs(3));
    let used = cpu_seconds(pid) - before;
    let share = used / 3.0;
    eprintln!(
        "tendon run without stdin: {:.1} % of one core (control loop and DDS threads)",
        share * 100.0
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let out = daemon.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        share < 0.5,
        "the daemon used {:.0} % of a core with stdin closed; it spins",
        share * 100.0
    );
    assert!(stderr.contains("standard input closed"), "{stderr}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("control loop stopped (damping sent)"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn daemon_console_drives_the_simulated_robot_and_estop_damps() {
    let _turn = take_turn();
    let tendon = env!("CARGO_BIN_EXE_tendon");
    let _robot = spawn_sim_robot(155);
    let (dir, config) = write_launch_file(
        "console",
        "[robot]\niface = \"lo\"\ndomain = 155\nmode = \"low\"\n\n[control]\nperiod_ms = 2\n",
    );
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

/// High-level mode: the simulated robot's own locomotion stands it up over
/// the loco service, `arms on` ramps the rt/arm_sdk weight, the scripted
/// producer's chunks move the left arm (seen by an independent LowState
/// subscriber), and stopping the producer ends, after the grace period, in
/// arms released and the locomotion in damp.
#[test]
fn high_level_daemon_drives_the_arms_over_arm_sdk_and_a_fault_ends_in_damp() {
    use tendon_bridge::dds::{DdsConfig, DdsNode};
    use tendon_bridge::link::StateSubscriber;
    use tendon_bridge::loco::LocoClient;
    use tendon_core::{Clock, FsmId, JointIndex};

    let _turn = take_turn();
    const DOMAIN: u16 = 156;
    let tendon = env!("CARGO_BIN_EXE_tendon");
    let _robot = spawn_sim_robot(DOMAIN);
    let dir = std::env::temp_dir().join(format!("tendon-run-high-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Left arm out sideways: shoulder roll 1.0 rad (the locomotion holds 0.2).
    std::fs::write(
        dir.join("reach.csv"),
        "t_s,left_shoulder_roll\n0,1.0\n1,1.0\n",
    )
    .unwrap();
    // The trip this test waits for is the chunk expiry; the state-age limit
    // is widened so that a CI stall of the simulated robot does not trip first.
    let config = dir.join("high.toml");
    std::fs::write(
        &config,
        format!("[robot]\niface = \"lo\"\ndomain = {DOMAIN}\nmode = \"high\"\n\n[control]\narm_ramp_ms = 2000\n\n[safety]\nmax_state_age_ms = 400\n\n[producer]\nscript = \"reach.csv\"\n"),
    )
    .unwrap();

    let dds = DdsConfig::new(DOMAIN, Some("lo"));
    let node = DdsNode::new(&dds).unwrap();
    let observer = StateSubscriber::spawn(&node, Clock::Real).unwrap();
    assert!(
        observer.wait_for_state(Duration::from_secs(15)).is_some(),
        "no LowState from tendon sim --serve-dds"
    );
    let mut loco = LocoClient::new(&node, "sport", Duration::from_secs(2)).unwrap();
    let shoulder = JointIndex::LeftShoulderRoll.slot();

    let mut daemon = common::KillOnDrop(
        Command::new(tendon)
            .args(["run", "--config"])
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = daemon.0.stdin.take().unwrap();
    for (line, pause_ms) in [
        ("damp", 300),
        ("stand_up", 3500),
        ("start", 1500),
        ("play", 200),
        ("arms on", 1000),
    ] {
        writeln!(stdin, "{line}").unwrap();
        std::thread::sleep(Duration::from_millis(pause_ms));
    }
    // Halfway through the 2 s ramp the arm is between the two targets.
    let q_mid = observer.latest_state().unwrap().motors[shoulder].q_rad;
    std::thread::sleep(Duration::from_millis(2500));
    let q_full = observer.latest_state().unwrap().motors[shoulder].q_rad;
    let fsm_at_full = loco.get_fsm_id().unwrap().fsm;
    writeln!(stdin, "status").unwrap();
    writeln!(stdin, "pause").unwrap();
    // Chunk of 25 × 20 ms, then 500 ms grace: the trip comes within ~1.1 s.
    std::thread::sleep(Duration::from_millis(2000));
    let fsm_after = loco.get_fsm_id().unwrap().fsm;
    let q_released = observer.latest_state().unwrap().motors[shoulder].q_rad;
    writeln!(stdin, "quit").unwrap();
    drop(stdin);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut daemon.0.stdout.take().unwrap(), &mut stdout).unwrap();
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "{stdout}");
    eprintln!("{stdout}\nq_mid {q_mid} q_full {q_full} q_released {q_released}");
    assert_eq!(fsm_at_full, Some(FsmId::Start), "{stdout}");
    assert!(stdout.contains("fsm → start (500)"), "{stdout}");
    assert!(stdout.contains("arms weight 1.00"), "{stdout}");
    assert!(
        (q_full - 1.0).abs() < 0.15,
        "with weight 1 the left shoulder tracks 1.0 rad: {q_full}"
    );
    assert!(
        q_mid < q_full - 0.2 && q_mid > 0.2 + 0.1,
        "mid-ramp the arm is between the locomotion's 0.2 and our 1.0: {q_mid}"
    );
    assert!(
        stdout.contains(
            "safety trip: action chunk expired past its grace period; arms released, locomotion → damp (1)"
        ),
        "{stdout}"
    );
    assert_eq!(fsm_after, Some(FsmId::Damp), "{stdout}");
    assert!(q_released < 0.8, "arms handed back: {q_released}");
    let _ = std::fs::remove_dir_all(&dir);
}
