//! The real-time thread around `Controller`: absolute 2 ms deadlines on
//! CLOCK_MONOTONIC, met by sleeping to just before them and spinning the
//! rest (`wake`), SCHED_FIFO, a pinned CPU, locked memory and a 1 ns timer
//! slack where the OS permits them (it says once when it does not, and runs anyway). A missed
//! deadline is skipped and counted, never caught up in a burst. Inputs
//! (chunks, FSM requests, e-stop) arrive through lock-free slots and atomics;
//! the cycle does no I/O except `RobotLink::send`, and allocates nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tendon_core::{ActionChunk, Clock, FsmId, Latest, MonoTime, MotorTargets, RobotLink};

use crate::arm_sdk::ArmRequest;
use crate::controller::{Controller, ControllerCounters, CycleInputs};
use crate::fsm::TransitionRefused;
use crate::safety::Trip;
use crate::timing::{TimingStats, TimingSummary};
use crate::wake::{set_timer_slack, spin_until, WakeMargin};

/// Real-time settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RtConfig {
    pub period: Duration,
    /// SCHED_FIFO priority (1–99); `None` leaves the default scheduler.
    pub fifo_priority: Option<i32>,
    /// CPU to pin the thread to.
    pub cpu: Option<usize>,
    pub lock_memory: bool,
    /// The thread's timer slack; `None` leaves the kernel's (50 µs by
    /// default, which delays every sleep of a thread that is not real-time).
    pub timer_slack_ns: Option<u64>,
    /// Upper bound of the early-wake margin (`wake`): the loop sleeps until
    /// up to this much before each deadline and spins the rest. Zero sleeps
    /// only.
    pub max_wake_margin: Duration,
}

impl Default for RtConfig {
    fn default() -> Self {
        RtConfig {
            period: Duration::from_millis(2),
            fifo_priority: Some(80),
            cpu: None,
            lock_memory: true,
            timer_slack_ns: Some(1),
            max_wake_margin: DEFAULT_MAX_WAKE_MARGIN,
        }
    }
}

/// 10 % of the 2 ms period: enough for a VM's 60–100 µs timer floor with its
/// spread; a real-time kernel's margin settles far below it.
pub const DEFAULT_MAX_WAKE_MARGIN: Duration = Duration::from_micros(200);

/// Which real-time settings took effect.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtReport {
    pub fifo: Option<Result<i32, String>>,
    pub cpu: Option<Result<usize, String>>,
    pub mlock: Option<Result<(), String>>,
    pub timer_slack_ns: Option<Result<u64, String>>,
}

fn errno_text() -> String {
    std::io::Error::last_os_error().to_string()
}

/// Applies the settings to the calling thread. Failures are reported, not fatal.
pub fn apply_rt_settings(cfg: &RtConfig) -> RtReport {
    let mut report = RtReport::default();
    if cfg.lock_memory {
        // SAFETY: mlockall has no memory-safety preconditions.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        report.mlock = Some(if rc == 0 { Ok(()) } else { Err(errno_text()) });
    }
    if let Some(cpu) = cfg.cpu {
        // SAFETY: cpu_set_t is plain data; CPU_SET stays within its bounds for cpu < 1024.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu % 1024, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        report.cpu = Some(if rc == 0 { Ok(cpu) } else { Err(errno_text()) });
    }
    if let Some(slack_ns) = cfg.timer_slack_ns {
        report.timer_slack_ns = Some(set_timer_slack(slack_ns));
    }
    if let Some(prio) = cfg.fifo_priority {
        let param = libc::sched_param {
            sched_priority: prio,
        };
        // SAFETY: valid pointer to a sched_param for the calling thread (pid 0).
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        report.fifo = Some(if rc == 0 { Ok(prio) } else { Err(errno_text()) });
    }
    for (what, err) in [
        (
            "SCHED_FIFO",
            report.fifo.as_ref().and_then(|r| r.as_ref().err()),
        ),
        (
            "CPU pinning",
            report.cpu.as_ref().and_then(|r| r.as_ref().err()),
        ),
        (
            "mlockall",
            report.mlock.as_ref().and_then(|r| r.as_ref().err()),
        ),
        (
            "PR_SET_TIMERSLACK",
            report
                .timer_slack_ns
                .as_ref()
                .and_then(|r| r.as_ref().err()),
        ),
    ] {
        if let Some(e) = err {
            log::warn!("control loop: {what} not permitted ({e}); running without it");
        }
    }
    report
}

/// Sleeps until an absolute CLOCK_MONOTONIC time.
pub fn sleep_until(deadline: MonoTime) {
    let ts = libc::timespec {
        tv_sec: (deadline.ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline.ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if rc != libc::EINTR {
            return;
        }
    }
}

/// Inputs to the loop from other threads.
pub struct ControlCommands {
    chunk: Latest<ActionChunk>,
    /// `(sequence << 32) | fsm id`; 0 means none pending.
    fsm_request: AtomicU64,
    fsm_seq: AtomicU64,
    /// 0 none, 1 engage, 2 release.
    arm_request: AtomicU8,
    e_stop: AtomicBool,
    reset: AtomicBool,
    stop: AtomicBool,
}

impl Default for ControlCommands {
    fn default() -> Self {
        ControlCommands {
            chunk: Latest::new(ActionChunk {
                t_obs: MonoTime::ZERO,
                dt: Duration::from_millis(20),
                len: 0,
                steps: [[0.0; 29]; tendon_core::MAX_CHUNK_STEPS],
            }),
            fsm_request: AtomicU64::new(0),
            fsm_seq: AtomicU64::new(0),
            arm_request: AtomicU8::new(0),
            e_stop: AtomicBool::new(false),
            reset: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }
}

impl ControlCommands {
    pub fn send_chunk(&self, chunk: &ActionChunk) {
        self.chunk.store(*chunk);
    }

    /// How many chunks have been sent (producers' and monitors' view).
    pub fn chunks_sent(&self) -> u64 {
        self.chunk.version()
    }

    /// The chunk sent last (an empty one before the first).
    pub fn latest_chunk(&self) -> ActionChunk {
        self.chunk.load()
    }

    pub fn request_fsm(&self, fsm: FsmId) {
        let seq = self.fsm_seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.fsm_request
            .store((seq << 32) | fsm.id() as u64, Ordering::Release);
    }

    /// Take (ramp in) or release (ramp out) the upper body on `rt/arm_sdk`.
    pub fn request_arms(&self, request: ArmRequest) {
        let raw = match request {
            ArmRequest::Engage => 1,
            ArmRequest::Release => 2,
        };
        self.arm_request.store(raw, Ordering::Release);
    }

    /// Latched until `reset`: damping on the next cycle.
    pub fn e_stop(&self) {
        self.e_stop.store(true, Ordering::Release);
    }

    /// Clears the e-stop and a latched safety trip; the FSM stays in damp.
    pub fn reset(&self) {
        self.e_stop.store(false, Ordering::Release);
        self.reset.store(true, Ordering::Release);
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// What the loop publishes each cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ControlStatus {
    pub at: MonoTime,
    pub fsm: FsmId,
    pub tripped: Option<Trip>,
    pub counters: ControllerCounters,
    pub last_fsm_result: Option<Result<FsmId, TransitionRefused>>,
    pub last_targets: MotorTargets,
    pub link_errors: u64,
    /// The `rt/arm_sdk` blend weight last sent (0 on `rt/lowcmd`).
    pub arm_weight: f32,
}

/// One loop iteration without the sleeping, so tests and the simulator can
/// drive it on their own clock.
pub struct LoopBody {
    controller: Controller,
    link: Arc<dyn RobotLink>,
    commands: Arc<ControlCommands>,
    status: Arc<Latest<ControlStatus>>,
    chunk_version: u64,
    chunk: ActionChunk,
    link_errors: u64,
    last_fsm_result: Option<Result<FsmId, TransitionRefused>>,
}

impl LoopBody {
    pub fn new(
        controller: Controller,
        link: Arc<dyn RobotLink>,
        commands: Arc<ControlCommands>,
    ) -> Self {
        let status = Arc::new(Latest::new(ControlStatus {
            at: MonoTime::ZERO,
            fsm: controller.fsm_state(),
            tripped: None,
            counters: controller.counters(),
            last_fsm_result: None,
            last_targets: MotorTargets::damping(),
            link_errors: 0,
            arm_weight: 0.0,
        }));
        let chunk_version = commands.chunk.version();
        let chunk = commands.chunk.load();
        LoopBody {
            controller,
            link,
            commands,
            status,
            chunk_version,
            chunk,
            link_errors: 0,
            last_fsm_result: None,
        }
    }

    pub fn status(&self) -> Arc<Latest<ControlStatus>> {
        self.status.clone()
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Runs one cycle at `now`.
    pub fn cycle(&mut self, now: MonoTime) {
        let state = self.link.latest_state();
        let version = self.commands.chunk.version();
        let new_chunk = if version != self.chunk_version {
            let (chunk, v) = self.commands.chunk.load_with_count();
            self.chunk = chunk;
            self.chunk_version = v;
            Some(&self.chunk)
        } else {
            None
        };
        let fsm_request = match self.commands.fsm_request.swap(0, Ordering::AcqRel) {
            0 => None,
            raw => FsmId::from_id((raw & 0xFFFF_FFFF) as u32),
        };
        let out = self.controller.tick(&CycleInputs {
            now,
            state: state.as_ref(),
            new_chunk,
            fsm_request,
            e_stop: self.commands.e_stop.load(Ordering::Acquire),
            reset: self.commands.reset.swap(false, Ordering::AcqRel),
            arm_request: match self.commands.arm_request.swap(0, Ordering::AcqRel) {
                1 => Some(ArmRequest::Engage),
                2 => Some(ArmRequest::Release),
                _ => None,
            },
        });
        if out.fsm_result.is_some() {
            self.last_fsm_result = out.fsm_result;
        }
        if self.link.send(&out.targets).is_err() {
            self.link_errors += 1;
        }
        self.status.store(ControlStatus {
            at: now,
            fsm: out.fsm,
            tripped: out.tripped,
            counters: self.controller.counters(),
            last_fsm_result: self.last_fsm_result,
            last_targets: out.targets,
            link_errors: self.link_errors,
            arm_weight: out.arm_weight,
        });
    }

    /// Sends damping (used on exit: every way out ends in the safe sink).
    pub fn damp(&self) {
        let _ = self.link.send(&MotorTargets::damping());
    }
}

/// What the loop reports when it stops.
#[derive(Debug, Clone)]
pub struct LoopReport {
    pub timing: TimingSummary,
    pub rt: RtReport,
    pub counters: ControllerCounters,
}

/// A running control thread.
pub struct ControlLoop {
    handle: Option<JoinHandle<LoopReport>>,
    commands: Arc<ControlCommands>,
    status: Arc<Latest<ControlStatus>>,
}

impl ControlLoop {
    /// Starts the loop on its own thread against `link`, on the real clock.
    pub fn spawn(
        controller: Controller,
        link: Arc<dyn RobotLink>,
        rt: RtConfig,
    ) -> std::io::Result<ControlLoop> {
        let commands = Arc::new(ControlCommands::default());
        let mut body = LoopBody::new(controller, link, commands.clone());
        let status = body.status();
        let cmds = commands.clone();
        let handle = std::thread::Builder::new()
            .name("control-500hz".into())
            .spawn(move || {
                let rt_report = apply_rt_settings(&rt);
                let mut timing = TimingStats::default();
                let period_ns = rt.period.as_nanos() as u64;
                let clock = Clock::Real;
                let mut deadline = MonoTime::from_ns(clock.now().ns + period_ns);
                let mut margin = WakeMargin::new(rt.max_wake_margin);
                while !cmds.stop.load(Ordering::Acquire) {
                    let sleep_target = margin.sleep_target(deadline);
                    sleep_until(sleep_target);
                    let slept_to = clock.now();
                    margin.observe(slept_to.ns.saturating_sub(sleep_target.ns));
                    let wake = spin_until(&clock, deadline);
                    if !rt.max_wake_margin.is_zero() {
                        timing.record_spin(wake.ns - slept_to.ns.min(wake.ns));
                    }
                    body.cycle(wake);
                    let done = clock.now();
                    timing.record(wake.ns.saturating_sub(deadline.ns), done.ns - wake.ns);
                    deadline = MonoTime::from_ns(deadline.ns + period_ns);
                    if done > deadline {
                        // Skip the missed deadlines instead of bursting to catch up.
                        let missed = (done.ns - deadline.ns) / period_ns + 1;
                        timing.overruns += missed;
                        deadline = MonoTime::from_ns(deadline.ns + missed * period_ns);
                    }
                }
                body.damp();
                LoopReport {
                    timing: timing.summary(),
                    rt: rt_report,
                    counters: body.controller().counters(),
                }
            })?;
        Ok(ControlLoop {
            handle: Some(handle),
            commands,
            status,
        })
    }

    pub fn commands(&self) -> &Arc<ControlCommands> {
        &self.commands
    }

    pub fn status(&self) -> ControlStatus {
        self.status.load()
    }

    /// Stops the loop (it sends damping on the way out) and returns its report.
    pub fn stop(mut self) -> LoopReport {
        self.commands.stop();
        self.handle
            .take()
            .expect("joined once")
            .join()
            .expect("control thread panicked")
    }
}

impl Drop for ControlLoop {
    fn drop(&mut self) {
        self.commands.stop();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
