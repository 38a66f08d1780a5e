//! `DdsRobotLink`: the controller side of the G1 low-level protocol over DDS.
//!
//! A reader thread takes LowState from `rt/lowstate`, checks CDR, CRC and
//! finiteness (dropping and counting failures), and publishes the state into a
//! lock-free slot. `send` (called from the control thread) builds and seals a
//! LowCmd echoing the robot's `mode_machine`, drops it into another slot and
//! wakes the writer thread; it never blocks and never allocates. The writer
//! thread does the DDS write.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use tendon_core::{Clock, Latest, LinkError, LinkStats, MotorTargets, RobotLink, RobotState};

use crate::dds::{
    wait_readable, DdsConfig, DdsError, DdsNode, TopicReader, TOPIC_ARM_SDK, TOPIC_LOWCMD,
    TOPIC_LOWSTATE, TOPIC_SECONDARY_IMU, TOPIC_SPORTMODESTATE,
};
use crate::hg::{Checked, DropCounters, ImuStateMsg, LowCmd, LowState, SportModeState};

/// How the link is set up.
#[derive(Debug, Clone)]
pub struct DdsLinkConfig {
    pub dds: DdsConfig,
    /// `rt/lowcmd` (whole body) or `rt/arm_sdk` (upper body, robot's locomotion on).
    pub command_topic: String,
    /// How long to watch discovery for another writer before taking the command topic.
    pub sole_writer_window: Duration,
    /// Skip the second-writer check (only for a topic that is meant to be shared).
    pub allow_other_writers: bool,
}

impl DdsLinkConfig {
    pub fn lowcmd(dds: DdsConfig) -> Self {
        DdsLinkConfig {
            dds,
            command_topic: TOPIC_LOWCMD.to_string(),
            sole_writer_window: Duration::from_millis(1500),
            allow_other_writers: false,
        }
    }

    /// Upper-body commands on `rt/arm_sdk`, while the robot's locomotion runs.
    pub fn arm_sdk(dds: DdsConfig) -> Self {
        DdsLinkConfig {
            command_topic: TOPIC_ARM_SDK.to_string(),
            ..Self::lowcmd(dds)
        }
    }
}

/// A gap between two LowStates longer than this counts as a stale episode.
pub const STALE_AFTER: Duration = Duration::from_millis(100);

struct StateShared {
    clock: Clock,
    state: Latest<RobotState>,
    has_state: AtomicBool,
    mode_machine: AtomicU8,
    secondary_imu: Latest<Option<ImuStateMsg>>,
    sport_mode: Latest<Option<SportModeState>>,
    stop: AtomicBool,
    states_received: AtomicU64,
    stale_gaps: AtomicU64,
    dropped: DropCounters,
}

#[derive(Default)]
struct CommandCounters {
    sent: AtomicU64,
    refused: AtomicU64,
    write_errors: AtomicU64,
}

struct CommandShared {
    command: Latest<LowCmd>,
    writer_thread: OnceLock<Thread>,
    stop: AtomicBool,
    counters: CommandCounters,
}

/// Extra counters beyond `LinkStats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DdsLinkStats {
    pub link: LinkStats,
    /// States dropped for NaN/Inf readings.
    pub non_finite_states: u64,
    /// Gaps between LowStates longer than `STALE_AFTER`.
    pub stale_gaps: u64,
    /// DDS writes that failed.
    pub write_errors: u64,
}

/// Passive subscriber to the robot's state topics: `rt/lowstate` (checked and
/// counted), `rt/secondary_imu` and `rt/sportmodestate`. Writes nothing, so a
/// monitor can run beside a controller.
pub struct StateSubscriber {
    shared: Arc<StateShared>,
    thread: Option<JoinHandle<()>>,
}

/// The controller side of the robot link over DDS.
pub struct DdsRobotLink {
    state: StateSubscriber,
    command: Arc<CommandShared>,
    writer_thread: Option<JoinHandle<()>>,
    node: Arc<DdsNode>,
}

const STATE_TOKEN: mio::Token = mio::Token(1);
const IMU_TOKEN: mio::Token = mio::Token(2);
const SPORT_TOKEN: mio::Token = mio::Token(3);

impl StateSubscriber {
    pub fn spawn(node: &DdsNode, clock: Clock) -> Result<StateSubscriber, DdsError> {
        let mut state_reader = node.reader::<LowState>(TOPIC_LOWSTATE)?;
        let mut imu_reader = node.reader::<ImuStateMsg>(TOPIC_SECONDARY_IMU)?;
        let mut sport_reader = node.reader::<SportModeState>(TOPIC_SPORTMODESTATE)?;
        let mut poll = mio::Poll::new().map_err(|e| DdsError::Create {
            what: "poll".into(),
            detail: e.to_string(),
        })?;
        state_reader.register(&poll, STATE_TOKEN)?;
        imu_reader.register(&poll, IMU_TOKEN)?;
        sport_reader.register(&poll, SPORT_TOKEN)?;
        let shared = Arc::new(StateShared {
            clock,
            state: Latest::new(RobotState::default()),
            has_state: AtomicBool::new(false),
            mode_machine: AtomicU8::new(0),
            secondary_imu: Latest::new(None),
            sport_mode: Latest::new(None),
            stop: AtomicBool::new(false),
            states_received: AtomicU64::new(0),
            stale_gaps: AtomicU64::new(0),
            dropped: DropCounters::default(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("bridge-lowstate".into())
            .spawn(move || {
                let mut events = mio::Events::with_capacity(16);
                while !s.stop.load(Ordering::Relaxed) {
                    wait_readable(&mut poll, &mut events, Duration::from_millis(20));
                    drain_states(&s, &mut state_reader);
                    while let Ok(Some(sample)) = imu_reader.take() {
                        if let Ok(imu) = sample {
                            s.secondary_imu.store(Some(imu));
                        }
                    }
                    while let Ok(Some(sample)) = sport_reader.take() {
                        if let Ok(sport) = sample {
                            s.sport_mode.store(Some(sport));
                        }
                    }
                }
            })
            .map_err(|e| DdsError::Create {
                what: "reader thread".into(),
                detail: e.to_string(),
            })?;
        Ok(StateSubscriber {
            shared,
            thread: Some(thread),
        })
    }

    /// The newest accepted state, or `None` before the first one.
    pub fn latest_state(&self) -> Option<RobotState> {
        if self.shared.has_state.load(Ordering::Acquire) {
            Some(self.shared.state.load())
        } else {
            None
        }
    }

    /// The robot's `mode_machine` from the newest LowState (0 before any).
    pub fn mode_machine(&self) -> u8 {
        self.shared.mode_machine.load(Ordering::Acquire)
    }

    /// The torso IMU from `rt/secondary_imu`, if one was received.
    pub fn secondary_imu(&self) -> Option<ImuStateMsg> {
        self.shared.secondary_imu.load()
    }

    /// The newest `rt/sportmodestate`, if one was received.
    pub fn sport_mode_state(&self) -> Option<SportModeState> {
        self.shared.sport_mode.load()
    }

    /// Blocks until the first LowState arrives or `timeout` passes.
    pub fn wait_for_state(&self, timeout: Duration) -> Option<RobotState> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(s) = self.latest_state() {
                return Some(s);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn states_received(&self) -> u64 {
        self.shared.states_received.load(Ordering::Relaxed)
    }

    pub fn crc_errors(&self) -> u64 {
        self.shared.dropped.crc_errors.load(Ordering::Relaxed)
    }

    pub fn decode_errors(&self) -> u64 {
        self.shared.dropped.decode_errors.load(Ordering::Relaxed)
    }

    pub fn non_finite_states(&self) -> u64 {
        self.shared.dropped.non_finite.load(Ordering::Relaxed)
    }

    pub fn stale_gaps(&self) -> u64 {
        self.shared.stale_gaps.load(Ordering::Relaxed)
    }
}

impl Drop for StateSubscriber {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl DdsRobotLink {
    /// Joins the domain, checks that nobody else writes the command topic,
    /// and starts the reader and writer threads.
    pub fn open(config: &DdsLinkConfig, clock: Clock) -> Result<DdsRobotLink, DdsError> {
        let node = Arc::new(DdsNode::new(&config.dds)?);
        let state = StateSubscriber::spawn(&node, clock)?;
        if !config.allow_other_writers {
            node.ensure_sole_writer(&config.command_topic, config.sole_writer_window)?;
        }
        let writer = node.writer::<LowCmd>(&config.command_topic)?;
        let command = Arc::new(CommandShared {
            command: Latest::new(LowCmd::default()),
            writer_thread: OnceLock::new(),
            stop: AtomicBool::new(false),
            counters: CommandCounters::default(),
        });
        let c = command.clone();
        let writer_thread = std::thread::Builder::new()
            .name("bridge-lowcmd".into())
            .spawn(move || {
                let mut written = c.command.version();
                while !c.stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(Duration::from_millis(50));
                    let (cmd, version) = c.command.load_with_count();
                    if version == written {
                        continue;
                    }
                    written = version;
                    match writer.write(cmd) {
                        Ok(()) => c.counters.sent.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            log::warn!("{e}");
                            c.counters.write_errors.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
            .map_err(|e| DdsError::Create {
                what: "writer thread".into(),
                detail: e.to_string(),
            })?;
        let _ = command.writer_thread.set(writer_thread.thread().clone());
        Ok(DdsRobotLink {
            state,
            command,
            writer_thread: Some(writer_thread),
            node,
        })
    }

    pub fn node(&self) -> &Arc<DdsNode> {
        &self.node
    }

    /// The state side of the link (IMU, sport mode, counters).
    pub fn state(&self) -> &StateSubscriber {
        &self.state
    }

    pub fn mode_machine(&self) -> u8 {
        self.state.mode_machine()
    }

    pub fn detailed_stats(&self) -> DdsLinkStats {
        DdsLinkStats {
            link: self.stats(),
            non_finite_states: self.state.non_finite_states(),
            stale_gaps: self.state.stale_gaps(),
            write_errors: self.command.counters.write_errors.load(Ordering::Relaxed),
        }
    }

    pub fn wait_for_state(&self, timeout: Duration) -> Option<RobotState> {
        self.state.wait_for_state(timeout)
    }

    /// Stops the writer; the participant leaves the domain when dropped.
    pub fn close(mut self) -> DdsLinkStats {
        self.stop_writer();
        self.detailed_stats()
    }

    fn stop_writer(&mut self) {
        self.command.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.command.writer_thread.get() {
            t.unpark();
        }
        if let Some(t) = self.writer_thread.take() {
            let _ = t.join();
        }
    }
}

fn drain_states(shared: &StateShared, reader: &mut TopicReader<LowState>) {
    loop {
        let sample = match reader.take() {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                log::warn!("{e}");
                shared.dropped.decode_errors.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        let received_at = shared.clock.now();
        match LowState::validated(sample) {
            Ok(state) => {
                if shared.has_state.load(Ordering::Relaxed) {
                    let previous = shared.state.load().received_at;
                    if received_at.saturating_since(previous) > STALE_AFTER {
                        shared.stale_gaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
                shared.state.store(state.to_robot_state(received_at));
                shared
                    .mode_machine
                    .store(state.mode_machine, Ordering::Release);
                shared.has_state.store(true, Ordering::Release);
                shared.states_received.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => shared.dropped.count(&e),
        }
    }
}

impl RobotLink for DdsRobotLink {
    fn latest_state(&self) -> Option<RobotState> {
        self.state.latest_state()
    }

    fn send(&self, targets: &MotorTargets) -> Result<(), LinkError> {
        let c = &self.command.counters;
        if self.state.latest_state().is_none() {
            c.refused.fetch_add(1, Ordering::Relaxed);
            return Err(LinkError::NoStateYet);
        }
        if let Some(slot) = targets.motors.iter().position(|m| !m.is_finite()) {
            c.refused.fetch_add(1, Ordering::Relaxed);
            return Err(LinkError::NonFiniteTarget { slot });
        }
        if self.command.stop.load(Ordering::Relaxed) {
            return Err(LinkError::Closed {
                reason: "the link was closed".into(),
            });
        }
        self.command
            .command
            .store(LowCmd::from_targets(targets, self.mode_machine()));
        if let Some(t) = self.command.writer_thread.get() {
            t.unpark();
        }
        Ok(())
    }

    fn stats(&self) -> LinkStats {
        let c = &self.command.counters;
        LinkStats {
            states_received: self.state.states_received(),
            crc_errors: self.state.crc_errors(),
            decode_errors: self.state.decode_errors(),
            commands_sent: c.sent.load(Ordering::Relaxed),
            commands_refused: c.refused.load(Ordering::Relaxed),
        }
    }
}

impl Drop for DdsRobotLink {
    fn drop(&mut self) {
        self.stop_writer();
    }
}
