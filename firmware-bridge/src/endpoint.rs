//! `RobotEndpoint`: the robot side of the protocol. It publishes LowState
//! (sealed with its CRC), the torso IMU and the sport-mode state, and receives
//! LowCmd on `rt/lowcmd` and `rt/arm_sdk`, checking each CRC. The simulator
//! uses it to speak exactly what a G1 speaks.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tendon_core::{Clock, Latest, MonoTime};

use crate::dds::{
    wait_readable, DdsConfig, DdsError, DdsNode, TopicReader, TopicWriter, TOPIC_ARM_SDK,
    TOPIC_LOWCMD, TOPIC_LOWSTATE, TOPIC_SECONDARY_IMU, TOPIC_SPORTMODESTATE,
};
use crate::hg::{Checked, DropCounters, ImuStateMsg, LowCmd, LowState, SportModeState};

/// A received, CRC-checked command and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceivedCmd {
    pub cmd: LowCmd,
    pub received_at: MonoTime,
}

/// Counters of the robot side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    pub states_published: u64,
    pub commands_received: u64,
    pub arm_commands_received: u64,
    pub crc_errors: u64,
    pub decode_errors: u64,
    pub non_finite: u64,
}

#[derive(Default)]
struct Counters {
    commands: AtomicU64,
    arm_commands: AtomicU64,
    dropped: DropCounters,
}

struct Shared {
    clock: Clock,
    lowcmd: Latest<Option<ReceivedCmd>>,
    arm_sdk: Latest<Option<ReceivedCmd>>,
    stop: AtomicBool,
    counters: Counters,
}

/// The robot side of the G1 low-level protocol.
pub struct RobotEndpoint {
    state_writer: TopicWriter<LowState>,
    imu_writer: TopicWriter<ImuStateMsg>,
    sport_writer: TopicWriter<SportModeState>,
    shared: Arc<Shared>,
    reader_thread: Option<JoinHandle<()>>,
    states_published: u64,
    // Last: the participant must outlive its writers when dropped.
    node: DdsNode,
}

const LOWCMD_TOKEN: mio::Token = mio::Token(1);
const ARM_TOKEN: mio::Token = mio::Token(2);

impl RobotEndpoint {
    pub fn open(dds: &DdsConfig, clock: Clock) -> Result<RobotEndpoint, DdsError> {
        let node = DdsNode::new(dds)?;
        let state_writer = node.writer::<LowState>(TOPIC_LOWSTATE)?;
        let imu_writer = node.writer::<ImuStateMsg>(TOPIC_SECONDARY_IMU)?;
        let sport_writer = node.writer::<SportModeState>(TOPIC_SPORTMODESTATE)?;
        let mut cmd_reader = node.reader::<LowCmd>(TOPIC_LOWCMD)?;
        let mut arm_reader = node.reader::<LowCmd>(TOPIC_ARM_SDK)?;
        let mut poll = mio::Poll::new().map_err(|e| DdsError::Create {
            what: "poll".into(),
            detail: e.to_string(),
        })?;
        cmd_reader.register(&poll, LOWCMD_TOKEN)?;
        arm_reader.register(&poll, ARM_TOKEN)?;
        let shared = Arc::new(Shared {
            clock,
            lowcmd: Latest::new(None),
            arm_sdk: Latest::new(None),
            stop: AtomicBool::new(false),
            counters: Counters::default(),
        });
        let s = shared.clone();
        let reader_thread = std::thread::Builder::new()
            .name("robot-lowcmd".into())
            .spawn(move || {
                let mut events = mio::Events::with_capacity(16);
                while !s.stop.load(Ordering::Relaxed) {
                    wait_readable(&mut poll, &mut events, Duration::from_millis(20));
                    drain_commands(&s, &mut cmd_reader, &s.lowcmd, &s.counters.commands);
                    drain_commands(&s, &mut arm_reader, &s.arm_sdk, &s.counters.arm_commands);
                }
            })
            .map_err(|e| DdsError::Create {
                what: "reader thread".into(),
                detail: e.to_string(),
            })?;
        Ok(RobotEndpoint {
            node,
            state_writer,
            imu_writer,
            sport_writer,
            shared,
            reader_thread: Some(reader_thread),
            states_published: 0,
        })
    }

    pub fn node(&self) -> &DdsNode {
        &self.node
    }

    /// Seals `state` with its CRC and publishes it on `rt/lowstate`.
    pub fn publish_state(&mut self, state: &mut LowState) -> Result<(), DdsError> {
        state.seal();
        self.state_writer.write(*state)?;
        self.states_published += 1;
        Ok(())
    }

    pub fn publish_secondary_imu(&self, imu: ImuStateMsg) -> Result<(), DdsError> {
        self.imu_writer.write(imu)
    }

    pub fn publish_sport_mode_state(&self, s: SportModeState) -> Result<(), DdsError> {
        self.sport_writer.write(s)
    }

    /// The newest valid command on `rt/lowcmd`.
    pub fn latest_command(&self) -> Option<ReceivedCmd> {
        self.shared.lowcmd.load()
    }

    /// The newest valid command on `rt/arm_sdk`.
    pub fn latest_arm_command(&self) -> Option<ReceivedCmd> {
        self.shared.arm_sdk.load()
    }

    /// How many valid commands have arrived on `rt/lowcmd` so far.
    pub fn commands_version(&self) -> u64 {
        self.shared.lowcmd.version()
    }

    pub fn stats(&self) -> EndpointStats {
        let c = &self.shared.counters;
        EndpointStats {
            states_published: self.states_published,
            commands_received: c.commands.load(Ordering::Relaxed),
            arm_commands_received: c.arm_commands.load(Ordering::Relaxed),
            crc_errors: c.dropped.crc_errors.load(Ordering::Relaxed),
            decode_errors: c.dropped.decode_errors.load(Ordering::Relaxed),
            non_finite: c.dropped.non_finite.load(Ordering::Relaxed),
        }
    }
}

fn drain_commands(
    shared: &Shared,
    reader: &mut TopicReader<LowCmd>,
    slot: &Latest<Option<ReceivedCmd>>,
    received: &AtomicU64,
) {
    while let Ok(Some(sample)) = reader.take() {
        let received_at = shared.clock.now();
        match LowCmd::validated(sample) {
            Ok(cmd) => {
                slot.store(Some(ReceivedCmd { cmd, received_at }));
                received.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => shared.counters.dropped.count(&e),
        }
    }
}

impl Drop for RobotEndpoint {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.reader_thread.take() {
            let _ = t.join();
        }
    }
}
