//! `tendon sim`: the MuJoCo G1 and the control loop, in process (fast,
//! deterministic) or over DDS, running the default scenario
//! zero torque → stand up → hold → squat → stand → sit → damp.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tendon_control::controller::ControllerConfig;
use tendon_control::safety::ALL_TRIP_CAUSES;
use tendon_control::timing::TimingStats;
use tendon_control::{ControlCommands, Controller, LoopBody};
use tendon_core::FsmId;
use tendon_sim::{default_scene_path, G1Sim, SimLink};

#[derive(Args)]
pub struct SimArgs {
    /// Run only the simulated robot over DDS (for Unitree's SDK or `tendon run`).
    #[arg(long)]
    serve_dds: bool,
    #[arg(long, default_value_t = 1)]
    domain: u16,
    #[arg(long, default_value = "lo")]
    iface: String,
    /// Seconds to serve (with --serve-dds; default until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Pace the in-process run to the wall clock.
    #[arg(long)]
    realtime: bool,
    /// Record LowState, LowCmd, FSM events, safety events and timing to an MCAP file
    /// (in-process runs).
    #[arg(long)]
    record: Option<std::path::PathBuf>,
    /// With --record: also render the head camera (640x480) this many times
    /// per second of sim time and store the frames as JPEG
    /// (sensor_msgs/CompressedImage on /camera/head). Rendering costs about
    /// 0.13 s per frame on a CPU renderer.
    #[arg(long, requires = "record")]
    record_camera_hz: Option<f64>,
    /// Print pelvis height, IMU, FSM and a knee's tracking every 0.2 s of sim time.
    #[arg(long)]
    trace: bool,
    /// Run the robot (tendon sim --serve-dds) and the controller as two
    /// processes talking DDS over loopback, in real time.
    #[arg(long)]
    over_dds: bool,
    /// With --serve-dds: print the simulated pelvis height as JSON lines (ground
    /// truth the robot does not report), for `--over-dds` to judge the run.
    #[arg(long, hide = true)]
    report_pelvis: bool,
    /// MuJoCo scene (default: the G1 installed by scripts/install-sim.sh).
    #[arg(long)]
    scene: Option<std::path::PathBuf>,
}

/// One step of the scenario.
struct Phase {
    name: &'static str,
    fsm: FsmId,
    duration_s: f64,
    /// Release the elastic band at the start of this phase.
    release_band: bool,
    /// The robot must stand (pelvis ≥ 0.7 m) for the last part of this phase.
    must_stand: bool,
}

const SCENARIO: &[Phase] = &[
    Phase {
        name: "zero torque (hanging)",
        fsm: FsmId::ZeroTorque,
        duration_s: 1.0,
        release_band: false,
        must_stand: false,
    },
    Phase {
        name: "stand up",
        fsm: FsmId::StandUp,
        duration_s: 3.5,
        release_band: false,
        must_stand: false,
    },
    Phase {
        name: "hold (band released)",
        fsm: FsmId::StandUp,
        duration_s: 10.0,
        release_band: true,
        must_stand: true,
    },
    Phase {
        name: "squat",
        fsm: FsmId::Squat,
        duration_s: 4.0,
        release_band: false,
        must_stand: false,
    },
    Phase {
        name: "stand",
        fsm: FsmId::StandUp,
        duration_s: 4.0,
        release_band: false,
        must_stand: true,
    },
    Phase {
        name: "sit",
        fsm: FsmId::Sit,
        duration_s: 4.0,
        release_band: false,
        must_stand: false,
    },
    Phase {
        name: "damp",
        fsm: FsmId::Damp,
        duration_s: 2.0,
        release_band: false,
        must_stand: false,
    },
];

/// What one phase measured.
#[derive(Debug, Default, Clone, Copy)]
struct PhaseReport {
    pelvis_min_m: f64,
    pelvis_max_m: f64,
    pelvis_end_m: f64,
    worst_tracking_rad: f32,
    fell: bool,
}

pub fn run(args: SimArgs) -> Result<()> {
    let scene = match &args.scene {
        Some(p) => p.clone(),
        None => default_scene_path()?,
    };
    if args.serve_dds {
        return serve_dds(&args, &scene);
    }
    if args.over_dds {
        return run_over_dds(&args, &scene);
    }
    let camera_every_cycles = match args.record_camera_hz {
        None => None,
        Some(hz) if hz.is_finite() && hz > 0.0 && hz <= CONTROL_RATE_HZ => {
            Some((CONTROL_RATE_HZ / hz).round() as u64)
        }
        Some(hz) => bail!(
            "--record-camera-hz {hz}: give a rate above 0 and at most the control rate ({CONTROL_RATE_HZ} Hz)"
        ),
    };
    run_in_process(
        &scene,
        args.realtime,
        args.trace,
        args.record.as_deref(),
        camera_every_cycles,
    )
}

/// The in-process loop runs one control cycle per 2 ms of sim time.
const CONTROL_RATE_HZ: f64 = 500.0;

/// The head camera, rendered every `every_cycles` control cycles.
struct CameraRecording {
    camera: tendon_sim::HeadCamera,
    every_cycles: u64,
}

impl CameraRecording {
    fn record_frame(
        &mut self,
        sim: &mut G1Sim,
        at: tendon_core::MonoTime,
        recorder: &crate::record::Recorder,
    ) -> Result<()> {
        let frame = self
            .camera
            .render(sim, at)
            .context("rendering the head camera")?;
        recorder.record(crate::record::RecordEvent::CameraFrame {
            frame: Box::new(frame),
        });
        Ok(())
    }
}

fn serve_dds(args: &SimArgs, scene: &std::path::Path) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    ctrlc::set_handler(move || s.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let mut cfg = tendon_sim::ServeConfig::new(
        tendon_bridge::dds::DdsConfig::new(args.domain, Some(&args.iface)),
        scene.to_path_buf(),
    );
    cfg.duration = args.duration.map(Duration::from_secs_f64);
    let signals = Arc::new(tendon_sim::ServeSignals::default());
    let relay = signals.clone();
    let report_pelvis = args.report_pelvis;
    std::thread::spawn(move || {
        let mut k = 0u64;
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            k += 1;
            if report_pelvis && k % 2 == 0 {
                println!(
                    "{{\"pelvis_m\": {:.4}, \"band\": {}}}",
                    relay.pelvis_height_m(),
                    relay.band_on()
                );
            }
        }
        relay.stop.store(true, Ordering::SeqCst);
    });
    eprintln!(
        "serving the simulated G1 on domain {} ({}); Ctrl-C to stop",
        args.domain, args.iface
    );
    let stats = tendon_sim::serve_dds(&cfg, &signals)?;
    println!("{stats:?}");
    println!("real-time factor {:.3}", stats.real_time_factor());
    Ok(())
}

fn run_in_process(
    scene: &std::path::Path,
    realtime: bool,
    trace: bool,
    record: Option<&std::path::Path>,
    camera_every_cycles: Option<u64>,
) -> Result<()> {
    let camera_encoding =
        camera_every_cycles.map(|_| tendon_perception::FrameEncoding::Jpeg { quality: 85 });
    let recorder = record
        .map(|p| crate::record::Recorder::create(p, 4096, camera_encoding))
        .transpose()?;
    let mut last_fsm = FsmId::Damp;
    let mut last_trip = None;
    let load_start = Instant::now();
    let mut sim = G1Sim::load(scene)?;
    eprintln!(
        "loaded {} in {:.1} s",
        scene.display(),
        load_start.elapsed().as_secs_f64()
    );
    let mut camera = camera_every_cycles
        .map(|every_cycles| -> Result<CameraRecording> {
            Ok(CameraRecording {
                camera: tendon_sim::HeadCamera::new(&sim, 640, 480)
                    .context("creating the head camera renderer for --record-camera-hz")?,
                every_cycles,
            })
        })
        .transpose()?;
    let link = Arc::new(SimLink::new());
    let commands = Arc::new(ControlCommands::default());
    let config = ControllerConfig::default();
    let mut body = LoopBody::new(Controller::new(config), link.clone(), commands.clone());
    let status = body.status();
    let mut timing = TimingStats::default();
    let wall_start = Instant::now();
    let sim_start_s = sim.sim_time();
    let mut reports = Vec::new();
    let mut failures = Vec::new();
    let period = Duration::from_millis(2);

    let mut cycle_count = 0u64;
    for phase in SCENARIO {
        if phase.release_band {
            sim.set_band(false);
        }
        commands.request_fsm(phase.fsm);
        let cycles = (phase.duration_s / period.as_secs_f64()).round() as u64;
        let mut rep = PhaseReport {
            pelvis_min_m: f64::MAX,
            pelvis_max_m: f64::MIN,
            ..PhaseReport::default()
        };
        for k in 0..cycles {
            let mut compute_ns = 0;
            tendon_sim::run_in_process(&mut sim, &link, period, |now| {
                let t0 = Instant::now();
                body.cycle(now);
                compute_ns = t0.elapsed().as_nanos() as u64;
            });
            timing.record(0, compute_ns);
            cycle_count += 1;
            if let Some(rec) = &recorder {
                use crate::record::RecordEvent;
                let st = status.load();
                rec.record(RecordEvent::LowState {
                    at: st.at,
                    state: Box::new(sim.low_state()),
                });
                rec.record(RecordEvent::LowCmd {
                    at: st.at,
                    targets: Box::new(st.last_targets),
                });
                if let Some(cam) = camera
                    .as_mut()
                    .filter(|c| cycle_count % c.every_cycles == 0)
                {
                    // A renderer failure ends the camera stream, not the run:
                    // the recording so far must still be finished and kept.
                    if let Err(e) = cam.record_frame(&mut sim, st.at, rec) {
                        eprintln!("camera recording stopped: {e:#}");
                        camera = None;
                    }
                }
                if st.fsm != last_fsm {
                    rec.record(RecordEvent::Fsm {
                        at: st.at,
                        from: last_fsm,
                        to: st.fsm,
                    });
                    last_fsm = st.fsm;
                }
                if st.tripped != last_trip {
                    if let Some(trip) = st.tripped {
                        rec.record(RecordEvent::Safety { at: st.at, trip });
                    }
                    last_trip = st.tripped;
                }
            }
            if realtime {
                let due = wall_start + Duration::from_secs_f64(sim.sim_time() - sim_start_s);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let h = sim.pelvis_height_m();
            if trace && k % 100 == 0 {
                let st = status.load();
                let ls = sim.low_state();
                eprintln!("{:>6.2}s {:<22} h {:.3} rpy {:?} fsm {} trip {:?} knee_q {:.3} tgt {:.3} kp {}", sim.sim_time(), phase.name, h, ls.imu_state.rpy, st.fsm, st.tripped.map(|t| t.cause), ls.motor_state[3].q, st.last_targets.motors[3].q_rad, st.last_targets.motors[3].kp);
            }
            rep.pelvis_min_m = rep.pelvis_min_m.min(h);
            rep.pelvis_max_m = rep.pelvis_max_m.max(h);
            // Tracking error once the motion has settled (last second of a holding phase).
            let settled = (cycles - k) as f64 * period.as_secs_f64() <= 1.0;
            let st = status.load();
            if settled && st.last_targets.motors[0].kp > 0.0 {
                let q = sim.joint_q();
                for (i, qi) in q.iter().enumerate() {
                    rep.worst_tracking_rad = rep
                        .worst_tracking_rad
                        .max((st.last_targets.motors[i].q_rad - qi).abs());
                }
            }
            if phase.must_stand
                && (cycles - k) as f64 * period.as_secs_f64() <= phase.duration_s - 1.0
                && h < 0.7
                && !rep.fell
            {
                rep.fell = true;
                failures.push(format!(
                    "{}: pelvis at {:.3} m (< 0.7 m) while standing, t = {:.2} s",
                    phase.name,
                    h,
                    sim.sim_time()
                ));
            }
        }
        rep.pelvis_end_m = sim.pelvis_height_m();
        let st = status.load();
        if let Some(Err(e)) = st.last_fsm_result {
            failures.push(format!("{}: {e}", phase.name));
        }
        reports.push((phase.name, rep));
    }
    let wall = wall_start.elapsed().as_secs_f64();
    let sim_s = SCENARIO.iter().map(|p| p.duration_s).sum::<f64>();
    let st = status.load();

    println!(
        "tendon sim: MuJoCo G1, control loop in process ({})",
        if realtime {
            "real time"
        } else {
            "as fast as possible"
        }
    );
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>14}",
        "phase", "pelvis min", "max", "end", "worst track"
    );
    for (name, r) in &reports {
        println!(
            "{:<24} {:>8.3}m {:>8.3}m {:>8.3}m {:>11.4} rad",
            name, r.pelvis_min_m, r.pelvis_max_m, r.pelvis_end_m, r.worst_tracking_rad
        );
    }
    println!(
        "sim time {sim_s:.1} s in {wall:.2} s wall: real-time factor {:.1}×",
        sim_s / wall
    );
    println!("control cycle compute: {}", timing.compute.percentiles());
    let trips: Vec<String> = ALL_TRIP_CAUSES
        .iter()
        .filter(|c| st.counters.safety.trips(**c) > 0)
        .map(|c| format!("{} ×{}", c.name(), st.counters.safety.trips(*c)))
        .collect();
    println!(
        "safety trips: {}",
        if trips.is_empty() {
            "none".to_string()
        } else {
            trips.join(", ")
        }
    );
    println!(
        "chunks accepted {}, rejected {}; NaN targets rejected {}; firmware: {:?}",
        st.counters.chunks.accepted,
        st.counters.chunks.rejected,
        st.counters.safety.non_finite_rejected,
        sim.stats()
    );
    if let Some(rec) = recorder {
        rec.record(crate::record::RecordEvent::Timing {
            at: status.load().at,
            summary: Box::new(timing.summary()),
        });
        let stats = rec.finish()?;
        println!(
            "recorded {} messages ({} dropped) to {}",
            stats.written,
            stats.dropped,
            record.unwrap().display()
        );
    }
    // The scenario never asks for an e-stop, and a correct run trips nothing.
    if st.counters.safety.total_trips() > 0 {
        failures.push(format!("unexpected safety trips: {}", trips.join(", ")));
    }
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAIL {f}");
        }
        bail!("the scenario failed ({} problems above)", failures.len());
    }
    println!("OK: the G1 stood up, held, squatted, stood, sat and was damped");
    Ok(())
}

/// The scenario with the robot in a child process (`tendon sim --serve-dds`)
/// and the real-time control loop here, over DDS loopback.
fn run_over_dds(args: &SimArgs, scene: &std::path::Path) -> Result<()> {
    use std::io::BufRead;
    use tendon_bridge::dds::DdsConfig;
    use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
    use tendon_control::runtime::RtConfig;
    use tendon_control::ControlLoop;
    use tendon_core::{Clock, Latest, RobotLink};

    let total_s: f64 = SCENARIO.iter().map(|p| p.duration_s).sum();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "sim",
            "--serve-dds",
            "--report-pelvis",
            "--iface",
            &args.iface,
        ])
        .args([
            "--domain",
            &args.domain.to_string(),
            "--duration",
            &format!("{}", total_s + 20.0),
        ])
        .arg("--scene")
        .arg(scene)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .context("starting the robot process (tendon sim --serve-dds)")?;
    let pelvis = Arc::new(Latest::new((0.0f64, true)));
    let reader = {
        let pelvis = pelvis.clone();
        let out = child.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if let (Some(h), Some(b)) = (v["pelvis_m"].as_f64(), v["band"].as_bool()) {
                        pelvis.store((h, b));
                    }
                }
            }
        })
    };
    let result = (|| -> Result<()> {
        let mut cfg = DdsLinkConfig::lowcmd(DdsConfig::new(args.domain, Some(&args.iface)));
        cfg.sole_writer_window = Duration::from_millis(500);
        let link = Arc::new(DdsRobotLink::open(&cfg, Clock::Real)?);
        link.wait_for_state(Duration::from_secs(20))
            .context("the robot process published no LowState within 20 s")?;
        let control = ControlLoop::spawn(
            Controller::new(ControllerConfig::default()),
            link.clone() as Arc<dyn RobotLink>,
            RtConfig::default(),
        )?;
        let mut failures = Vec::new();
        println!(
            "tendon sim --over-dds: robot and controller in two processes, DDS domain {} on {}",
            args.domain, args.iface
        );
        println!(
            "{:<24} {:>9} {:>9} {:>9} {:>14}",
            "phase", "pelvis min", "max", "end", "worst track"
        );
        for phase in SCENARIO {
            control.commands().request_fsm(phase.fsm);
            let start = Instant::now();
            let mut rep = PhaseReport {
                pelvis_min_m: f64::MAX,
                pelvis_max_m: f64::MIN,
                ..PhaseReport::default()
            };
            while start.elapsed().as_secs_f64() < phase.duration_s {
                std::thread::sleep(Duration::from_millis(20));
                let (h, band) = pelvis.load();
                rep.pelvis_min_m = rep.pelvis_min_m.min(h);
                rep.pelvis_max_m = rep.pelvis_max_m.max(h);
                let left = phase.duration_s - start.elapsed().as_secs_f64();
                let st = control.status();
                if left <= 1.0 && st.last_targets.motors[0].kp > 0.0 {
                    if let Some(s) = link.latest_state() {
                        for i in 0..29 {
                            rep.worst_tracking_rad = rep
                                .worst_tracking_rad
                                .max((st.last_targets.motors[i].q_rad - s.motors[i].q_rad).abs());
                        }
                    }
                }
                if phase.must_stand
                    && !band
                    && left <= phase.duration_s - 1.0
                    && h < 0.7
                    && !rep.fell
                {
                    rep.fell = true;
                    failures.push(format!(
                        "{}: pelvis at {h:.3} m (< 0.7 m) while standing",
                        phase.name
                    ));
                }
            }
            rep.pelvis_end_m = pelvis.load().0;
            if let Some(Err(e)) = control.status().last_fsm_result {
                failures.push(format!("{}: {e}", phase.name));
            }
            println!(
                "{:<24} {:>8.3}m {:>8.3}m {:>8.3}m {:>11.4} rad",
                phase.name,
                rep.pelvis_min_m,
                rep.pelvis_max_m,
                rep.pelvis_end_m,
                rep.worst_tracking_rad
            );
        }
        let report = control.stop();
        println!("control loop (real time, over DDS):\n{}", report.timing);
        println!("link: {:?}", link.detailed_stats());
        if report.counters.safety.total_trips() > 0 {
            let trips: Vec<String> = ALL_TRIP_CAUSES
                .iter()
                .filter(|c| report.counters.safety.trips(**c) > 0)
                .map(|c| c.name().to_string())
                .collect();
            failures.push(format!("unexpected safety trips: {}", trips.join(", ")));
        } else {
            println!("safety trips: none");
        }
        if !failures.is_empty() {
            for f in &failures {
                eprintln!("FAIL {f}");
            }
            bail!(
                "the scenario over DDS failed ({} problems above)",
                failures.len()
            );
        }
        println!("OK: over DDS, the G1 stood up, held, squatted, stood, sat and was damped");
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    result
}
