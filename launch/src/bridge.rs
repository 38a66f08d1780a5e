//! `tendon bridge …`: monitor, FSM requests and damping over DDS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use tendon_bridge::dds::{DdsConfig, DdsNode};
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink, StateSubscriber};
use tendon_bridge::loco::{LocoClient, LOCO_SERVICE};
use tendon_bridge::rpc::request_topic;
use tendon_core::joints::ALL_JOINTS;
use tendon_core::{Clock, FsmId, MotorTargets, RobotLink, RobotState};

#[derive(Args, Clone)]
pub struct DdsArgs {
    /// Network interface (e.g. eth0 on the robot network, lo for a local simulator).
    #[arg(long)]
    iface: Option<String>,
    /// DDS domain: 0 on the real robot, 1 for simulators by convention.
    #[arg(long, default_value_t = 0)]
    domain: u16,
}

impl DdsArgs {
    fn config(&self) -> DdsConfig {
        DdsConfig::new(self.domain, self.iface.as_deref())
    }

    fn describe(&self) -> String {
        format!(
            "domain {} on {}",
            self.domain,
            self.iface.as_deref().unwrap_or("all interfaces")
        )
    }
}

#[derive(Subcommand)]
pub enum BridgeCommand {
    /// Print robot state about twice a second (passive: writes nothing).
    Monitor {
        #[command(flatten)]
        dds: DdsArgs,
        /// Loco service name: `sport` on current firmware, `loco` on older.
        #[arg(long, default_value = LOCO_SERVICE)]
        service: String,
        /// Stop after this many seconds (default: until Ctrl-C).
        #[arg(long)]
        duration: Option<f64>,
        /// One JSON object per report instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Request an FSM state from the locomotion service (SetFsmId).
    Fsm {
        /// FSM name or id: zero_torque, damp, squat, sit, stand_up, start (500), …
        fsm: String,
        #[command(flatten)]
        dds: DdsArgs,
        #[arg(long, default_value = LOCO_SERVICE)]
        service: String,
        /// Reply deadline.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Wait for LowState, then send damping commands every 2 ms until Ctrl-C/SIGTERM.
    Damp {
        #[command(flatten)]
        dds: DdsArgs,
        /// Stop after this many seconds (default: until Ctrl-C/SIGTERM).
        #[arg(long)]
        duration: Option<f64>,
        /// How long to wait for the first LowState.
        #[arg(long, default_value_t = 10.0)]
        wait_state_s: f64,
    },
}

pub fn run(cmd: BridgeCommand) -> Result<()> {
    match cmd {
        BridgeCommand::Monitor {
            dds,
            service,
            duration,
            json,
        } => monitor(&dds, &service, duration, json),
        BridgeCommand::Fsm {
            fsm,
            dds,
            service,
            timeout_ms,
        } => fsm_request(&fsm, &dds, &service, Duration::from_millis(timeout_ms)),
        BridgeCommand::Damp {
            dds,
            duration,
            wait_state_s,
        } => damp(&dds, duration, wait_state_s),
    }
}

/// Ctrl-C and SIGTERM both set the returned flag.
fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C/SIGTERM handler")?;
    Ok(stop)
}

fn end_time(duration: Option<f64>) -> Option<Instant> {
    duration.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)))
}

fn monitor(dds: &DdsArgs, service: &str, duration: Option<f64>, json: bool) -> Result<()> {
    let stop = stop_flag()?;
    let end = end_time(duration);
    let node = DdsNode::new(&dds.config())?;
    let subscriber = StateSubscriber::spawn(&node, Clock::Real)?;
    let mut loco = LocoClient::new(&node, service, Duration::from_millis(150))?;
    let loco_topic = request_topic(service);
    if !json {
        println!("monitoring {}; Ctrl-C to stop", dds.describe());
    }
    while !stop.load(Ordering::SeqCst) && end.is_none_or(|e| Instant::now() < e) {
        std::thread::sleep(Duration::from_millis(500));
        // Ask the loco service only once it is visible, so a robot in
        // low-level mode does not slow the report down.
        let fsm = if node.remote_readers_on(&loco_topic) > 0 {
            loco.get_fsm_id().ok()
        } else {
            None
        };
        let state = subscriber.latest_state();
        let age_ms = state.map(|s| {
            Clock::Real
                .now()
                .saturating_since(s.received_at)
                .as_secs_f64()
                * 1e3
        });
        if json {
            let q: Vec<f32> = state
                .map(|s| {
                    ALL_JOINTS
                        .iter()
                        .map(|j| s.motors[j.slot()].q_rad)
                        .collect()
                })
                .unwrap_or_default();
            let line = serde_json::json!({
                "states_received": subscriber.states_received(),
                "mode_machine": state.map(|s| s.mode_machine),
                "tick_ms": state.map(|s| s.tick_ms),
                "state_age_ms": age_ms,
                "fsm_id": fsm.map(|f| f.raw_id),
                "crc_errors": subscriber.crc_errors(),
                "decode_errors": subscriber.decode_errors(),
                "non_finite": subscriber.non_finite_states(),
                "stale_gaps": subscriber.stale_gaps(),
                "q_rad": q,
            });
            println!("{line}");
        } else {
            print_report(&subscriber, state, age_ms, fsm.map(|f| f.raw_id));
        }
    }
    Ok(())
}

fn print_report(
    sub: &StateSubscriber,
    state: Option<RobotState>,
    age_ms: Option<f64>,
    fsm: Option<u32>,
) {
    let fsm_text = match fsm {
        Some(id) => match FsmId::from_id(id) {
            Some(f) => f.to_string(),
            None => format!("unknown ({id})"),
        },
        None => "n/a (loco service not answering)".into(),
    };
    println!("----");
    match state {
        None => println!(
            "no LowState yet (crc errors {}, decode errors {})",
            sub.crc_errors(),
            sub.decode_errors()
        ),
        Some(s) => {
            println!(
                "mode_machine {}  tick {} ms  age {:.1} ms  fsm {}  states {}  crc_err {}  decode_err {}  nan {}  stale {}",
                s.mode_machine,
                s.tick_ms,
                age_ms.unwrap_or(f64::NAN),
                fsm_text,
                sub.states_received(),
                sub.crc_errors(),
                sub.decode_errors(),
                sub.non_finite_states(),
                sub.stale_gaps()
            );
            let rpy = s.imu.rpy_rad;
            println!("imu rpy [{:+.3} {:+.3} {:+.3}] rad", rpy[0], rpy[1], rpy[2]);
            for group in [0..6, 6..12, 12..15, 15..22, 22..29] {
                let cells: Vec<String> = ALL_JOINTS[group]
                    .iter()
                    .map(|j| {
                        let m = s.motors[j.slot()];
                        format!("{:>18} {:+.3}", j.name(), m.q_rad)
                    })
                    .collect();
                println!("{}", cells.join(" "));
            }
        }
    }
}

fn fsm_request(fsm: &str, dds: &DdsArgs, service: &str, timeout: Duration) -> Result<()> {
    let fsm: FsmId = fsm.parse()?;
    let node = DdsNode::new(&dds.config())?;
    let mut loco = LocoClient::new(&node, service, timeout)?;
    let reply = loco.set_fsm_id(fsm)?;
    println!(
        "SetFsmId {fsm} accepted by '{service}' (code {}, data {:?})",
        reply.code, reply.data
    );
    Ok(())
}

fn damp(dds: &DdsArgs, duration: Option<f64>, wait_state_s: f64) -> Result<()> {
    let stop = stop_flag()?;
    let link = DdsRobotLink::open(&DdsLinkConfig::lowcmd(dds.config()), Clock::Real)?;
    let Some(first) = link.wait_for_state(Duration::from_secs_f64(wait_state_s)) else {
        bail!(
            "no LowState on {} within {wait_state_s} s; is the robot (or simulator) running, and are --iface/--domain right?",
            dds.describe()
        );
    };
    eprintln!(
        "LowState received (mode_machine {}); sending damping (kp 0, kd {}) every 2 ms; Ctrl-C to stop",
        first.mode_machine,
        MotorTargets::DAMPING_KD
    );
    let end = end_time(duration);
    let targets = MotorTargets::damping();
    let period = Duration::from_millis(2);
    let mut next = Instant::now();
    let mut missed = 0u64;
    while !stop.load(Ordering::SeqCst) && end.is_none_or(|e| Instant::now() < e) {
        if let Err(e) = link.send(&targets) {
            log::warn!("{e}");
        }
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            // Skip ahead instead of bursting to catch up.
            missed += 1;
            next = now;
        }
    }
    // Let the writer flush the last command before reporting.
    std::thread::sleep(Duration::from_millis(10));
    let stats = link.close();
    println!(
        "damping stopped: {} LowCmd sent, {} refused, {} write errors, {} missed periods; {} LowState received, {} CRC errors",
        stats.link.commands_sent,
        stats.link.commands_refused,
        stats.write_errors,
        missed,
        stats.link.states_received,
        stats.link.crc_errors
    );
    Ok(())
}
