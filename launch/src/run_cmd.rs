//! `tendon run --config FILE`: the daemon against a robot over DDS. The
//! launch file gives interface, domain and mode. An operator console on
//! standard input takes FSM names, `estop`, `reset`, `status` and `quit`;
//! Ctrl-C or SIGTERM stops the loop, which damps on the way out.

use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use tendon_bridge::dds::DdsConfig;
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
use tendon_bridge::loco::LocoClient;
use tendon_control::controller::ControllerConfig;
use tendon_control::runtime::RtConfig;
use tendon_control::safety::SafetyConfig;
use tendon_control::{ControlLoop, Controller};
use tendon_core::{Clock, FsmId, RobotLink};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchFile {
    pub robot: RobotSection,
    #[serde(default)]
    pub control: ControlSection,
    #[serde(default)]
    pub safety: SafetySection,
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
    pub fifo_priority: Option<i32>,
    pub cpu: Option<usize>,
}

fn default_period() -> u64 {
    2
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            period_ms: 2,
            fifo_priority: Some(80),
            cpu: None,
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
        if file.robot.domain > 232 {
            bail!(
                "launch file '{}': robot.domain = {} must be 0..=232",
                path.display(),
                file.robot.domain
            );
        }
        Ok(file)
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
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C/SIGTERM handler")?;
    let dds = DdsConfig::new(file.robot.domain, Some(&file.robot.iface));
    match file.robot.mode {
        Mode::Low => run_low_level(&file, dds, &stop),
        Mode::High => run_high_level(&file, dds, &stop),
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

fn run_low_level(file: &LaunchFile, dds: DdsConfig, stop: &AtomicBool) -> Result<()> {
    let link = Arc::new(DdsRobotLink::open(
        &DdsLinkConfig::lowcmd(dds),
        Clock::Real,
    )?);
    if link.wait_for_state(Duration::from_secs(10)).is_none() {
        bail!(
            "no LowState on domain {} ({}) within 10 s; is the robot (or `tendon sim --serve-dds`) running, and are robot.iface/robot.domain right?",
            file.robot.domain,
            file.robot.iface
        );
    }
    let controller = Controller::new(ControllerConfig {
        safety: file.safety_config(),
        ..ControllerConfig::default()
    });
    let rt = RtConfig {
        period: Duration::from_millis(file.control.period_ms),
        fifo_priority: file.control.fifo_priority,
        cpu: file.control.cpu,
        lock_memory: true,
    };
    let control = ControlLoop::spawn(controller, link.clone() as Arc<dyn RobotLink>, rt)?;
    eprintln!("tendon run: low-level control on domain {} ({}); type an FSM name (zero_torque, stand_up, squat, sit, start, damp), estop, reset, status or quit", file.robot.domain, file.robot.iface);
    let lines = console();
    while !stop.load(Ordering::SeqCst) {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match line.as_str() {
            "" => {}
            "quit" | "exit" => break,
            "estop" => control.commands().e_stop(),
            "reset" => control.commands().reset(),
            "status" => {
                let st = control.status();
                println!(
                    "fsm {}  tripped {:?}  cycles {}  link {:?}",
                    st.fsm,
                    st.tripped.map(|t| t.cause.name()),
                    st.counters.cycles,
                    link.detailed_stats()
                );
            }
            other => match other.parse::<FsmId>() {
                Ok(fsm) => {
                    // The loop answers on its next cycle; wait for two to pass.
                    let before = control.status().counters.cycles;
                    control.commands().request_fsm(fsm);
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
                Err(e) => println!("{e}; or estop, reset, status, quit"),
            },
        }
    }
    let report = control.stop();
    println!("control loop stopped (damping sent)\n{}", report.timing);
    println!(
        "safety trips {}, cycles {}",
        report.counters.safety.total_trips(),
        report.counters.cycles
    );
    Ok(())
}

fn run_high_level(file: &LaunchFile, dds: DdsConfig, stop: &AtomicBool) -> Result<()> {
    let node = tendon_bridge::dds::DdsNode::new(&dds)?;
    let mut loco = LocoClient::new(&node, &file.robot.loco_service, Duration::from_secs(2))?;
    eprintln!(
        "tendon run: high-level mode, loco service '{}'; type an FSM name, status or quit",
        file.robot.loco_service
    );
    let lines = console();
    while !stop.load(Ordering::SeqCst) {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        match line.as_str() {
            "" => {}
            "quit" | "exit" => break,
            "status" => match loco.get_fsm_id() {
                Ok(r) => println!(
                    "fsm {}",
                    r.fsm
                        .map(|f| f.to_string())
                        .unwrap_or(format!("unknown ({})", r.raw_id))
                ),
                Err(e) => println!("{e}"),
            },
            other => match other.parse::<FsmId>() {
                Ok(fsm) => match loco.set_fsm_id(fsm) {
                    Ok(_) => println!("fsm → {fsm}"),
                    Err(e) => println!("{e}"),
                },
                Err(e) => println!("{e}; or status, quit"),
            },
        }
    }
    Ok(())
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
