//! `serve_dds`: the simulated G1 on DDS, speaking exactly what the robot
//! speaks (g1-protocol.md §4, §6, §8): LowState on `rt/lowstate` every 2 ms,
//! LowCmd from `rt/lowcmd`, upper-body commands from `rt/arm_sdk` blended
//! into the locomotion's targets, the loco RPC service, `rt/sportmodestate` at
//! ~50 Hz; physics and firmware PD at 1 kHz, paced to the wall clock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tendon_bridge::dds::DdsConfig;
use tendon_bridge::endpoint::RobotEndpoint;
use tendon_bridge::hg::SportModeState;
use tendon_bridge::loco::LOCO_SERVICE;
use tendon_bridge::rpc::{RpcReply, RpcServer};
use tendon_core::poses::STAND;
use tendon_core::Clock;

use crate::error::SimError;
use crate::loco::{blend_arm_sdk, LocoEmulator};
use crate::world::{G1Sim, SimOptions};

/// How the elastic band behaves while serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandPolicy {
    /// No band: the robot starts standing on the floor at the keyframe (and
    /// falls unless something holds it within a second).
    Off,
    /// Hang in the band for the whole run.
    Hold,
    /// Hang in the band until the robot holds the STAND pose with its legs
    /// and waist (slots 0–14 within `STAND_TOLERANCE_RAD` for `STAND_HOLD`;
    /// arms are free), then release it.
    ReleaseWhenStanding,
}

/// Joint tolerance around STAND for `BandPolicy::ReleaseWhenStanding`, rad.
pub const STAND_TOLERANCE_RAD: f32 = 0.1;
/// Slots 0–14: both legs and the waist.
const LEGS_AND_WAIST: usize = 15;
/// How long the pose must be held before the band lets go.
pub const STAND_HOLD: Duration = Duration::from_millis(500);
/// LowState period, like the robot (500 Hz).
pub const STATE_PERIOD: Duration = Duration::from_millis(2);
/// `rt/sportmodestate` period (~50 Hz).
pub const SPORT_STATE_PERIOD: Duration = Duration::from_millis(20);
/// How often pending RPC requests are answered.
pub const RPC_PERIOD: Duration = Duration::from_millis(10);
/// Falling further behind the wall clock than this resets the pacing (counted).
pub const MAX_LAG: Duration = Duration::from_millis(100);

/// What `serve_dds` runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub dds: DdsConfig,
    pub scene: PathBuf,
    /// Loco service name: `sport` (current firmware) or `loco` (older).
    pub loco_service: String,
    /// Stop after this much simulated time; `None` runs until stopped.
    pub duration: Option<Duration>,
    pub band: BandPolicy,
    pub options: SimOptions,
}

impl ServeConfig {
    /// Defaults: service `sport`, band released once standing, no time limit.
    pub fn new(dds: DdsConfig, scene: PathBuf) -> ServeConfig {
        ServeConfig {
            dds,
            scene,
            loco_service: LOCO_SERVICE.to_string(),
            duration: None,
            band: BandPolicy::ReleaseWhenStanding,
            options: SimOptions::default(),
        }
    }
}

/// Flags another thread (a Ctrl-C handler, a test) flips while serving.
#[derive(Debug, Default)]
pub struct ServeSignals {
    pub stop: AtomicBool,
    /// Stop publishing LowState (the physics keeps running), to test a
    /// controller's reaction to a silent robot.
    pub pause_state: AtomicBool,
    /// Ground truth the robot does not report, updated every 2 ms (f64 bits).
    pelvis_height_bits: AtomicU64,
    band_on: AtomicBool,
}

impl ServeSignals {
    /// Pelvis height in the simulated world, m (ground truth for tests and tools).
    pub fn pelvis_height_m(&self) -> f64 {
        f64::from_bits(self.pelvis_height_bits.load(Ordering::Relaxed))
    }

    /// Whether the elastic band still holds the robot.
    pub fn band_on(&self) -> bool {
        self.band_on.load(Ordering::Relaxed)
    }
}

/// What a `serve_dds` run did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ServeStats {
    pub physics_steps: u64,
    pub states_published: u64,
    pub state_publish_errors: u64,
    /// Valid LowCmds received on `rt/lowcmd`.
    pub commands_received: u64,
    /// LowCmds dropped for a wrong CRC (by the endpoint or the firmware).
    pub crc_errors: u64,
    pub rpc_requests: u64,
    /// Times the loop fell more than `MAX_LAG` behind the wall clock.
    pub lag_resets: u64,
    /// Sim time at which the band was released, s.
    pub band_released_at_s: Option<f64>,
    pub sim_time_s: f64,
    pub wall_time_s: f64,
    /// Pelvis height at the end, m.
    pub final_pelvis_height_m: f64,
}

impl ServeStats {
    /// Simulated seconds per wall-clock second (≈1 when keeping up).
    pub fn real_time_factor(&self) -> f64 {
        if self.wall_time_s > 0.0 {
            self.sim_time_s / self.wall_time_s
        } else {
            0.0
        }
    }
}

/// Runs the simulated robot over DDS until `signals.stop` or `config.duration`.
pub fn serve_dds(config: &ServeConfig, signals: &ServeSignals) -> Result<ServeStats, SimError> {
    let options = SimOptions {
        start_hanging: config.band != BandPolicy::Off,
        ..config.options
    };
    let mut sim = G1Sim::load_with(&config.scene, options)?;
    let mut endpoint = RobotEndpoint::open(&config.dds, Clock::Real)?;
    let mut rpc = RpcServer::new(endpoint.node(), &config.loco_service)?;
    let mut loco = LocoEmulator::new();
    log::info!(
        "sim: serving G1 on DDS domain {} ({}), loco service '{}'",
        config.dds.domain_id,
        config.dds.iface.as_deref().unwrap_or("all interfaces"),
        config.loco_service
    );

    let state_every = ticks(STATE_PERIOD);
    let sport_every = ticks(SPORT_STATE_PERIOD);
    let rpc_every = ticks(RPC_PERIOD);
    let stand_hold_ms = STAND_HOLD.as_millis() as u64;
    let end_ms = config.duration.map(|d| d.as_millis() as u64);

    let mut stats = ServeStats::default();
    let mut seen_commands = endpoint.commands_version();
    let mut standing_ms = 0u64;
    let started = Instant::now();
    let mut deadline = started;
    let mut ms = 0u64;
    while !signals.stop.load(Ordering::Relaxed) && end_ms.is_none_or(|end| ms < end) {
        // The firmware reads the newest command every 1 ms.
        let version = endpoint.commands_version();
        if version != seen_commands {
            seen_commands = version;
            if let Some(received) = endpoint.latest_command() {
                sim.apply_lowcmd(&received.cmd);
            }
        }
        if ms % rpc_every == 0 {
            let before = loco.transitions();
            let (now_s, q_now) = (sim.sim_time(), sim.joint_q());
            let mut handler = |req: &tendon_bridge::rpc::Request| -> RpcReply {
                loco.handle(req.header.api_id, &req.parameter, now_s, &q_now)
            };
            match rpc.serve_pending(Duration::ZERO, &mut handler) {
                Ok(n) => stats.rpc_requests += n as u64,
                Err(e) => log::warn!("sim: loco service: {e}"),
            }
            if loco.transitions() != before {
                // The service accepted a new FSM: it owns the motors again.
                sim.release_low_level();
            }
        }
        let mut service = loco.targets(sim.sim_time());
        if loco.fsm().allows_arm_actions() {
            if let Some(arm) = endpoint.latest_arm_command() {
                service = blend_arm_sdk(&service, &arm.cmd.to_targets());
            }
        }
        sim.set_service_targets(Some(service));

        if ms % state_every == 0 {
            signals
                .pelvis_height_bits
                .store(sim.pelvis_height_m().to_bits(), Ordering::Relaxed);
            signals.band_on.store(sim.band_on(), Ordering::Relaxed);
            if !signals.pause_state.load(Ordering::Relaxed) && !sim.state_paused() {
                let mut state = sim.low_state();
                match endpoint.publish_state(&mut state) {
                    Ok(()) => stats.states_published += 1,
                    Err(e) => {
                        stats.state_publish_errors += 1;
                        log::warn!("sim: {e}");
                    }
                }
            }
            if config.band == BandPolicy::ReleaseWhenStanding && sim.band_on() {
                let q = sim.joint_q();
                let at_stand = q[..LEGS_AND_WAIST]
                    .iter()
                    .zip(STAND.iter())
                    .all(|(a, b)| (a - b).abs() < STAND_TOLERANCE_RAD);
                standing_ms = if at_stand {
                    standing_ms + state_every
                } else {
                    0
                };
                if standing_ms >= stand_hold_ms {
                    sim.set_band(false);
                    stats.band_released_at_s = Some(sim.sim_time());
                    log::info!(
                        "sim: robot holds STAND; elastic band released at {:.3} s",
                        sim.sim_time()
                    );
                }
            }
        }
        if ms % sport_every == 0 {
            let s = SportModeState {
                fsm_id: loco.fsm().id(),
                fsm_mode: loco.fsm_mode(),
                ..SportModeState::default()
            };
            if let Err(e) = endpoint.publish_sport_mode_state(s) {
                log::warn!("sim: {e}");
            }
        }

        sim.step_1ms();
        ms += 1;

        // Pace to the wall clock on absolute deadlines; never burst to catch up
        // by more than MAX_LAG.
        deadline += Duration::from_millis(1);
        let now = Instant::now();
        if deadline > now {
            std::thread::sleep(deadline - now);
        } else if now - deadline > MAX_LAG {
            stats.lag_resets += 1;
            deadline = now;
        }
    }
    let e = endpoint.stats();
    stats.physics_steps = sim.stats().steps;
    stats.commands_received = e.commands_received;
    stats.crc_errors = e.crc_errors + sim.stats().crc_errors;
    stats.sim_time_s = sim.sim_time();
    stats.wall_time_s = started.elapsed().as_secs_f64();
    stats.final_pelvis_height_m = sim.pelvis_height_m();
    log::info!(
        "sim: stopped after {:.2} s sim / {:.2} s wall (x{:.2}); {} states, {} commands, {} CRC errors",
        stats.sim_time_s,
        stats.wall_time_s,
        stats.real_time_factor(),
        stats.states_published,
        stats.commands_received,
        stats.crc_errors
    );
    Ok(stats)
}

/// Whole 1 ms physics steps in `period` (at least 1).
fn ticks(period: Duration) -> u64 {
    (period.as_millis() as u64).max(1)
}
