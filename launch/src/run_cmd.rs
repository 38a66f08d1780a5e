//! `tendon run --config FILE`: the daemon against a robot over DDS. The
//! launch file gives interface, domain and mode. An operator console on
//! standard input takes FSM names, `estop`, `reset`, `status` and `quit`;
//! Ctrl-C or SIGTERM stops the loop, which damps on the way out. Without a
//! console (stdin closed: systemd, nohup, `< /dev/null`) the daemon keeps
//! running until a signal, idle.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tendon_bridge::dds::DdsConfig;
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
use tendon_bridge::loco::LocoClient;
use tendon_control::controller::{CommandScope, ControllerConfig};
use tendon_control::producer::ScriptedProducer;
use tendon_control::runtime::RtConfig;
use tendon_control::safety::SafetyConfig;
use tendon_control::{
    ArmRequest, ChunkFeeder, ControlLoop, Controller, FeederTiming, SupervisorAction,
    TripSupervisor,
};
use tendon_core::{Clock, FsmId, RobotLink};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchFile {
    pub robot: RobotSection,
    #[serde(default)]
    pub control: ControlSection,
    #[serde(default)]
    pub safety: SafetySection,
    #[serde(default)]
    pub producer: ProducerSection,
}

/// The scripted action-chunk producer (until a policy drives `start`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProducerSection {
    /// Keyframe CSV (format in control/src/producer.rs), relative to the launch file.
    pub script: Option<PathBuf>,
    #[serde(default = "default_chunk_period")]
    pub chunk_period_ms: u64,
    #[serde(default = "default_step")]
    pub step_ms: u64,
    #[serde(default = "default_steps")]
    pub steps: usize,
}

fn default_chunk_period() -> u64 {
    50
}
fn default_step() -> u64 {
    20
}
fn default_steps() -> usize {
    25
}

impl ProducerSection {
    pub fn timing(&self) -> FeederTiming {
        FeederTiming {
            chunk_period: Duration::from_millis(self.chunk_period_ms),
            step: Duration::from_millis(self.step_ms),
            steps: self.steps,
        }
    }
}

impl Default for ProducerSection {
    fn default() -> Self {
        ProducerSection {
            script: None,
            chunk_period_ms: default_chunk_period(),
            step_ms: default_step(),
            steps: default_steps(),
        }
    }
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Low,
    High,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSection {
    pub iface: String,
    pub domain: u16,
    pub mode: Mode,
    #[serde(default = "default_service")]
    pub loco_service: String,
}

fn default_service() -> String {
    tendon_bridge::loco::LOCO_SERVICE.to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSection {
    #[serde(default = "default_period")]
    pub period_ms: u64,
    /// SCHED_FIFO priority 1..=99; 0 keeps the default scheduler.
    #[serde(default = "default_fifo_priority")]
    pub fifo_priority: i32,
    pub cpu: Option<usize>,
    /// Full 0 → 1 ramp of the rt/arm_sdk blend weight (high-level mode).
    #[serde(default = "default_arm_ramp")]
    pub arm_ramp_ms: u64,
    /// The loop wakes up to this much before each deadline and spins the
    /// rest (the margin adapts below it); 0 sleeps only.
    #[serde(default = "default_max_wake_margin_us")]
    pub max_wake_margin_us: u64,
}

fn default_max_wake_margin_us() -> u64 {
    tendon_control::runtime::DEFAULT_MAX_WAKE_MARGIN.as_micros() as u64
}

fn default_arm_ramp() -> u64 {
    2000
}

fn default_period() -> u64 {
    2
}

/// The one default, with or without a `[control]` table.
fn default_fifo_priority() -> i32 {
    80
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            period_ms: default_period(),
            fifo_priority: default_fifo_priority(),
            cpu: None,
            arm_ramp_ms: default_arm_ramp(),
            max_wake_margin_us: default_max_wake_margin_us(),
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SafetySection {
    pub max_state_age_ms: Option<u64>,
    pub chunk_grace_ms: Option<u64>,
    pub max_tilt_rad: Option<f32>,
    pub max_joint_velocity_rad_s: Option<f32>,
}

impl LaunchFile {
    pub fn load(path: &Path) -> Result<LaunchFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading launch file '{}'", path.display()))?;
        let file: LaunchFile = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "launch file '{}' is invalid: {e}(see launch/g1.toml for every key with comments)",
                path.display()
            )
        })?;
        if !(1..=20).contains(&file.control.period_ms) {
            bail!(
                "launch file '{}': control.period_ms = {} must be 1..=20 (the G1 expects 2)",
                path.display(),
                file.control.period_ms
            );
        }
        if !(0..=99).contains(&file.control.fifo_priority) {
            bail!(
                "launch file '{}': control.fifo_priority = {} must be 1..=99 (SCHED_FIFO), or 0 for the default scheduler",
                path.display(),
                file.control.fifo_priority
            );
        }
        if file.control.max_wake_margin_us * 2 > file.control.period_ms * 1000 {
            bail!(
                "launch file '{}': control.max_wake_margin_us = {} must be at most half the period ({} µs); 200 suits a VM, 0 sleeps without spinning",
                path.display(),
                file.control.max_wake_margin_us,
                file.control.period_ms * 500
            );
        }
        file.safety_config().validate().map_err(|e| {
            anyhow::anyhow!(
                "launch file '{}': [safety] {e}; change the value or remove the key to use the default",
                path.display()
            )
        })?;
        if file.robot.domain > 232 {
            bail!(
                "launch file '{}': robot.domain = {} must be 0..=232",
                path.display(),
                file.robot.domain
            );
        }
        let p = &file.producer;
        if p.chunk_period_ms == 0
            || p.step_ms == 0
            || !(1..=tendon_core::MAX_CHUNK_STEPS).contains(&p.steps)
        {
            bail!(
                "launch file '{}': [producer] needs chunk_period_ms > 0, step_ms > 0 and steps in 1..={}",
                path.display(),
                tendon_core::MAX_CHUNK_STEPS
            );
        }
        if (p.steps as u64) * p.step_ms <= p.chunk_period_ms {
            bail!(
                "launch file '{}': [producer] chunks of {} × {} ms end before the next one arrives every {} ms; make steps × step_ms longer than chunk_period_ms",
                path.display(),
                p.steps,
                p.step_ms,
                p.chunk_period_ms
            );
        }
        Ok(file)
    }

    /// The action script, resolved relative to the launch file, if any.
    fn producer_script(&self, launch_path: &Path) -> Result<Option<ScriptedProducer>> {
        let Some(script) = &self.producer.script else {
            return Ok(None);
        };
        let path = launch_path.parent().unwrap_or(Path::new(".")).join(script);
        Ok(Some(ScriptedProducer::from_file(&path).with_context(
            || format!("launch file '{}': [producer] script", launch_path.display()),
        )?))
    }

    fn safety_config(&self) -> SafetyConfig {
        let d = SafetyConfig::default();
        let s = &self.safety;
        SafetyConfig {
            max_state_age: s
                .max_state_age_ms
                .map(Duration::from_millis)
                .unwrap_or(d.max_state_age),
            chunk_grace: s
                .chunk_grace_ms
                .map(Duration::from_millis)
                .unwrap_or(d.chunk_grace),
            max_tilt_rad: s.max_tilt_rad.unwrap_or(d.max_tilt_rad),
            max_joint_velocity_rad_s: s
                .max_joint_velocity_rad_s
                .unwrap_or(d.max_joint_velocity_rad_s),
            ..d
        }
    }
}

pub fn run(config: &Path) -> Result<()> {
    let file = LaunchFile::load(config)?;
    let script = file.producer_script(config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C/SIGTERM handler")?;
    let dds = DdsConfig::new(file.robot.domain, Some(&file.robot.iface));
    let high = file.robot.mode == Mode::High;
    // In high-level mode the robot's locomotion keeps the legs and the FSM;
    // tendon commands the upper body on rt/arm_sdk and asks for FSM states
    // over the loco service.
    let (link_config, scope) = if high {
        (DdsLinkConfig::arm_sdk(dds.clone()), CommandScope::UpperBody)
    } else {
        (DdsLinkConfig::lowcmd(dds.clone()), CommandScope::WholeBody)
    };
    let mut loco = if high {
        let node = tendon_bridge::dds::DdsNode::new(&dds)?;
        let client = LocoClient::new(&node, &file.robot.loco_service, Duration::from_secs(2))?;
        Some((node, client))
    } else {
        None
    };
    let link = Arc::new(DdsRobotLink::open(&link_config, Clock::Real)?);
    if link.wait_for_state(Duration::from_secs(10)).is_none() {
        bail!(
            "no LowState on domain {} ({}) within 10 s; is the robot (or `tendon sim --serve-dds`) running, and are robot.iface/robot.domain right?",
            file.robot.domain,
            file.robot.iface
        );
    }
    let controller = Controller::new(ControllerConfig {
        safety: file.safety_config(),
        scope,
        arm_ramp: Duration::from_millis(file.control.arm_ramp_ms),
        ..ControllerConfig::default()
    });
    let rt = RtConfig {
        period: Duration::from_millis(file.control.period_ms),
        fifo_priority: (file.control.fifo_priority > 0).then_some(file.control.fifo_priority),
        cpu: file.control.cpu,
        lock_memory: true,
        max_wake_margin: Duration::from_micros(file.control.max_wake_margin_us),
        ..RtConfig::default()
    };
    let control = ControlLoop::spawn(controller, link.clone() as Arc<dyn RobotLink>, rt)?;
    let feeder = match script {
        Some(s) => Some(ChunkFeeder::spawn(
            s,
            file.producer.timing(),
            control.commands().clone(),
            Clock::Real,
        )?),
        None => None,
    };
    let mut supervisor = TripSupervisor::new(scope);
    if high {
        eprintln!("tendon run: high-level mode on domain {} ({}), loco service '{}', upper body on rt/arm_sdk; type an FSM name (damp, stand_up, start, …), arms on, arms off, play, pause, estop, reset, status or quit", file.robot.domain, file.robot.iface, file.robot.loco_service);
    } else {
        eprintln!("tendon run: low-level control on domain {} ({}); type an FSM name (zero_torque, stand_up, squat, sit, start, damp), play, pause, estop, reset, status or quit", file.robot.domain, file.robot.iface);
    }
    let lines = console();
    let mut console_open = true;
    while !stop.load(Ordering::SeqCst) {
        let action = supervisor.on_status(control.status().tripped);
        if let (Some(SupervisorAction::LocoDamp { cause }), Some((_, loco))) =
            (action, loco.as_mut())
        {
            match loco.set_fsm_id(FsmId::Damp) {
                Ok(_) => println!(
                    "safety trip: {}; arms released, locomotion → damp (1)",
                    cause.name()
                ),
                Err(e) => println!(
                    "safety trip: {}; arms released, but the loco service refused damp: {e}",
                    cause.name()
                ),
            }
        }
        if !console_open {
            // No operator console: keep watching the loop and the signals.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let line = match lines.recv_timeout(Duration::from_millis(10)) {
            Ok(line) => line,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                eprintln!("tendon run: standard input closed; running without a console until Ctrl-C or SIGTERM");
                console_open = false;
                continue;
            }
        };
        let commands = control.commands();
        let command = match ConsoleCommand::parse(&line) {
            Ok(c) => c,
            Err(e) => {
                println!("{e}");
                continue;
            }
        };
        match command {
            ConsoleCommand::Nothing => {}
            ConsoleCommand::Quit => break,
            ConsoleCommand::EStop => commands.e_stop(),
            ConsoleCommand::Reset => commands.reset(),
            ConsoleCommand::Play(playing) => match &feeder {
                Some(f) => {
                    f.set_playing(playing);
                    println!("producer {}", if playing { "playing" } else { "paused" });
                }
                None => {
                    println!("no action script configured ([producer] script in the launch file)")
                }
            },
            ConsoleCommand::Arms(request) if high => {
                commands.request_arms(request);
                println!(
                    "arms {}",
                    if request == ArmRequest::Engage {
                        "on"
                    } else {
                        "off"
                    }
                );
            }
            ConsoleCommand::Arms(_) => {
                println!(
                    "arms on/off needs high-level mode (robot.mode = \"high\" in the launch file)"
                )
            }
            ConsoleCommand::Status => {
                let st = control.status();
                let fsm = match loco.as_mut() {
                    Some((_, l)) => match l.get_fsm_id() {
                        Ok(r) => r
                            .fsm
                            .map(|f| f.to_string())
                            .unwrap_or(format!("unknown ({})", r.raw_id)),
                        Err(e) => format!("unknown ({e})"),
                    },
                    None => st.fsm.to_string(),
                };
                println!(
                    "fsm {}  tripped {:?}  arms weight {:.2}  cycles {}  link {:?}",
                    fsm,
                    st.tripped.map(|t| t.cause.name()),
                    st.arm_weight,
                    st.counters.cycles,
                    link.detailed_stats()
                );
            }
            ConsoleCommand::Fsm(fsm) => match loco.as_mut() {
                Some((_, l)) => match l.set_fsm_id(fsm) {
                    Ok(_) => println!("fsm → {fsm}"),
                    Err(e) => println!("{e}"),
                },
                None => {
                    // The loop answers on its next cycle; wait for two to pass.
                    let before = control.status().counters.cycles;
                    commands.request_fsm(fsm);
                    let asked = std::time::Instant::now();
                    while control.status().counters.cycles < before + 2
                        && asked.elapsed() < Duration::from_millis(500)
                    {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    match control.status().last_fsm_result {
                        Some(Ok(f)) => println!("fsm → {f}"),
                        Some(Err(e)) => println!("{e}"),
                        None => println!("request pending"),
                    }
                }
            },
        }
    }
    drop(feeder);
    let report = control.stop();
    println!("control loop stopped (damping sent)\n{}", report.timing);
    println!(
        "safety trips {}, cycles {}",
        report.counters.safety.total_trips(),
        report.counters.cycles
    );
    Ok(())
}

/// One line of the operator console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConsoleCommand {
    Nothing,
    Quit,
    EStop,
    Reset,
    /// `play` (true) or `pause` (false) the action script.
    Play(bool),
    /// `arms on` / `arms off` (high-level mode).
    Arms(ArmRequest),
    Status,
    /// An FSM name or number (`damp`, `stand_up`, `500`, …).
    Fsm(FsmId),
}

impl ConsoleCommand {
    fn parse(line: &str) -> Result<ConsoleCommand, String> {
        Ok(match line.trim() {
            "" => ConsoleCommand::Nothing,
            "quit" | "exit" => ConsoleCommand::Quit,
            "estop" => ConsoleCommand::EStop,
            "reset" => ConsoleCommand::Reset,
            "play" => ConsoleCommand::Play(true),
            "pause" => ConsoleCommand::Play(false),
            "arms on" => ConsoleCommand::Arms(ArmRequest::Engage),
            "arms off" => ConsoleCommand::Arms(ArmRequest::Release),
            "status" => ConsoleCommand::Status,
            other => ConsoleCommand::Fsm(other.parse::<FsmId>().map_err(|e| {
                format!("{e}; or play, pause, arms on, arms off, estop, reset, status, quit")
            })?),
        })
    }
}

/// Lines typed by the operator, read on their own thread.
fn console() -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line.trim().to_string()).is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_launch_file_parses() {
        let f = LaunchFile::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("g1.toml")).unwrap();
        assert_eq!(f.robot.domain, 0);
        assert_eq!(f.robot.mode, Mode::Low);
        assert_eq!(f.control.period_ms, 2);
        assert_eq!(f.safety_config().max_state_age, Duration::from_millis(100));
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("g1.toml");
        let wave = f
            .producer_script(&path)
            .unwrap()
            .expect("g1.toml names wave.csv");
        assert!(wave.period_s() > 1.0);
    }

    fn write_launch(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("tendon-launch-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("launch.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const ROBOT: &str = "[robot]\niface = \"lo\"\ndomain = 1\nmode = \"low\"\n";

    #[test]
    fn fifo_priority_has_one_default_with_or_without_the_table() {
        let without = LaunchFile::load(&write_launch("fifo1", ROBOT)).unwrap();
        let with_table = LaunchFile::load(&write_launch(
            "fifo2",
            &format!("{ROBOT}[control]\nperiod_ms = 2\n"),
        ))
        .unwrap();
        assert_eq!(without.control.fifo_priority, 80);
        assert_eq!(with_table.control.fifo_priority, 80);
        let e = LaunchFile::load(&write_launch(
            "fifo3",
            &format!("{ROBOT}[control]\nfifo_priority = 120\n"),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("fifo_priority = 120"), "{e}");
    }

    #[test]
    fn console_lines_parse_to_commands_and_unknown_words_list_the_choices() {
        for (line, want) in [
            ("", ConsoleCommand::Nothing),
            ("  quit ", ConsoleCommand::Quit),
            ("exit", ConsoleCommand::Quit),
            ("estop", ConsoleCommand::EStop),
            ("reset", ConsoleCommand::Reset),
            ("play", ConsoleCommand::Play(true)),
            ("pause", ConsoleCommand::Play(false)),
            ("arms on", ConsoleCommand::Arms(ArmRequest::Engage)),
            ("arms off", ConsoleCommand::Arms(ArmRequest::Release)),
            ("status", ConsoleCommand::Status),
            ("damp", ConsoleCommand::Fsm(FsmId::Damp)),
            ("stand_up", ConsoleCommand::Fsm(FsmId::StandUp)),
        ] {
            assert_eq!(ConsoleCommand::parse(line), Ok(want), "{line:?}");
        }
        let e = ConsoleCommand::parse("jump").unwrap_err();
        assert!(e.contains("jump") && e.contains("estop"), "{e}");
    }

    #[test]
    fn wake_margin_has_one_default_and_is_capped_at_half_the_period() {
        let without = LaunchFile::load(&write_launch("wake1", ROBOT)).unwrap();
        let with_table = LaunchFile::load(&write_launch(
            "wake2",
            &format!("{ROBOT}[control]\nperiod_ms = 2\n"),
        ))
        .unwrap();
        assert_eq!(without.control.max_wake_margin_us, 200);
        assert_eq!(with_table.control.max_wake_margin_us, 200);
        let off = LaunchFile::load(&write_launch(
            "wake3",
            &format!("{ROBOT}[control]\nmax_wake_margin_us = 0\n"),
        ))
        .unwrap();
        assert_eq!(off.control.max_wake_margin_us, 0);
        let e = LaunchFile::load(&write_launch(
            "wake4",
            &format!("{ROBOT}[control]\nmax_wake_margin_us = 1500\n"),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("max_wake_margin_us = 1500") && e.contains("1000 µs"),
            "{e}"
        );
    }

    #[test]
    fn safety_values_are_checked_against_their_ranges() {
        for (line, key, value, range) in [
            ("max_tilt_rad = nan", "max_tilt_rad", "NaN", "0.1..=1.5"),
            ("max_tilt_rad = 7.0", "max_tilt_rad", "7", "0.1..=1.5"),
            (
                "max_state_age_ms = 60000",
                "max_state_age_ms",
                "60000",
                "4..=1000",
            ),
            (
                "max_joint_velocity_rad_s = inf",
                "max_joint_velocity_rad_s",
                "inf",
                "1..=40",
            ),
            (
                "chunk_grace_ms = 100000",
                "chunk_grace_ms",
                "100000",
                "0..=5000",
            ),
        ] {
            let p = write_launch("safety", &format!("{ROBOT}[safety]\n{line}\n"));
            let e = LaunchFile::load(&p).unwrap_err().to_string();
            assert!(
                e.contains(&format!("{key} = {value}"))
                    && e.contains(range)
                    && e.contains("launch.toml"),
                "{line}: {e}"
            );
        }
        let ok = write_launch(
            "safety-ok",
            &format!("{ROBOT}[safety]\nmax_tilt_rad = 0.8\n"),
        );
        assert_eq!(
            LaunchFile::load(&ok).unwrap().safety_config().max_tilt_rad,
            0.8
        );
    }

    #[test]
    fn bad_launch_file_names_key_and_file() {
        let dir = std::env::temp_dir().join(format!("tendon-launch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.toml");
        std::fs::write(
            &p,
            "[robot]\niface = \"lo\"\ndomain = 1\nmode = \"medium\"\n",
        )
        .unwrap();
        let e = LaunchFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("medium"), "{e}");
        std::fs::write(
            &p,
            "[robot]\niface = \"lo\"\ndomain = 1\nmode = \"low\"\nspeed = 3\n",
        )
        .unwrap();
        let e = LaunchFile::load(&p).unwrap_err().to_string();
        assert!(e.contains("speed"), "{e}");
    }
}
