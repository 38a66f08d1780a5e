//! `tendon sim`: the MuJoCo G1 and the control loop, in process (fast,
//! deterministic) or over DDS, running the default scenario
//! zero torque → stand up → hold → squat → stand → sit → damp. The scenario,
//! its runner and its judge live in `tendon_sim::scenario`; this prints the
//! report (a table, or `--json`) and turns failures into the exit status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tendon_control::controller::ControllerConfig;
use tendon_control::Controller;
use tendon_core::FsmId;
use tendon_sim::{
    default_scene_path, G1Sim, InProcessOptions, PhaseJudge, Scenario, ScenarioReport, Transport,
};

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
    /// Print the scenario's report as one JSON object on stdout (in-process
    /// and --over-dds runs).
    #[arg(long)]
    json: bool,
    /// MuJoCo scene (default: the G1 installed by scripts/install-sim.sh).
    #[arg(long)]
    scene: Option<std::path::PathBuf>,
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
        args.json,
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
    json: bool,
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
    let scenario = Scenario::stand_squat_sit();
    let mut cycle_count = 0u64;
    let mut last_at = tendon_core::MonoTime::ZERO;
    let (report, timing) = tendon_sim::scenario::run_in_process(
        &mut sim,
        &scenario,
        InProcessOptions { realtime },
        |sim, st, phase| {
            cycle_count += 1;
            last_at = st.at;
            if let Some(rec) = &recorder {
                use crate::record::RecordEvent;
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
                    if let Err(e) = cam.record_frame(sim, st.at, rec) {
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
            if trace && cycle_count % 100 == 0 {
                let ls = sim.low_state();
                eprintln!("{:>6.2}s {:<22} h {:.3} rpy {:?} fsm {} trip {:?} knee_q {:.3} tgt {:.3} kp {}", sim.sim_time(), phase.name, sim.pelvis_height_m(), ls.imu_state.rpy, st.fsm, st.tripped.map(|t| t.cause), ls.motor_state[3].q, st.last_targets.motors[3].q_rad, st.last_targets.motors[3].kp);
            }
        },
    );
    let recorded = match recorder {
        Some(rec) => {
            rec.record(crate::record::RecordEvent::Timing {
                at: last_at,
                summary: Box::new(timing.summary()),
            });
            Some(rec.finish()?)
        }
        None => None,
    };
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_report(&report);
        println!("firmware: {:?}", sim.stats());
        if let Some(stats) = recorded {
            println!(
                "recorded {} messages ({} dropped) to {}",
                stats.written,
                stats.dropped,
                record.unwrap().display()
            );
        }
    }
    finish(&report, json)
}

/// The report as a table, then the timing and the trips.
fn print_report(report: &ScenarioReport) {
    println!(
        "tendon sim: MuJoCo G1, scenario '{}', {}",
        report.scenario,
        match report.transport {
            Transport::InProcess => "control loop in process, as fast as possible",
            Transport::InProcessRealTime => "control loop in process, real time",
            Transport::OverDds => "robot and controller in two processes over DDS, real time",
        }
    );
    println!(
        "{:<24} {:>9} {:>9} {:>9} {:>14}",
        "phase", "pelvis min", "max", "end", "worst track"
    );
    for r in &report.phases {
        println!(
            "{:<24} {:>8.3}m {:>8.3}m {:>8.3}m {:>11.4} rad",
            r.name, r.pelvis_min_m, r.pelvis_max_m, r.pelvis_end_m, r.worst_tracking_rad
        );
    }
    println!(
        "sim time {:.1} s in {:.2} s wall: real-time factor {:.1}×",
        report.sim_time_s,
        report.wall_s,
        report.real_time_factor()
    );
    println!(
        "control cycle compute: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
        report.compute_p50_us, report.compute_p99_us, report.compute_max_us
    );
    println!("safety trips: {}", report.trips_text());
}

/// Exit status: an error naming every failure, or the success line (on
/// stderr under `--json`, whose stdout is the report alone).
fn finish(report: &ScenarioReport, json: bool) -> Result<()> {
    let failures = report.failures();
    if !failures.is_empty() {
        for f in &failures {
            eprintln!("FAIL {f}");
        }
        bail!("the scenario failed ({} problems above)", failures.len());
    }
    if json {
        eprintln!("OK: {}", report.success);
    } else {
        println!("OK: {}", report.success);
    }
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
    use tendon_sim::scenario::tracking_error_rad;
    use tendon_sim::PhaseSample;

    let scenario = Scenario::stand_squat_sit();
    let total_s = scenario.duration().as_secs_f64();
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
        let wall_start = Instant::now();
        let mut phases = Vec::new();
        for phase in &scenario.phases {
            control.commands().request_fsm(phase.fsm);
            let start = Instant::now();
            let mut judge = PhaseJudge::new(phase);
            while start.elapsed() < phase.duration {
                std::thread::sleep(Duration::from_millis(20));
                let (pelvis_m, band_on) = pelvis.load();
                let st = control.status();
                let q_rad: Option<Vec<f32>> = link
                    .latest_state()
                    .map(|s| s.motors[..29].iter().map(|m| m.q_rad).collect());
                let tracking = q_rad.and_then(|q| tracking_error_rad(&st, &q));
                judge.observe(&PhaseSample {
                    elapsed: start.elapsed(),
                    pelvis_m,
                    band_on,
                    tracking_error_rad: tracking,
                });
            }
            phases.push(judge.finish_with(&control.status()));
        }
        let status = control.status();
        let loop_report = control.stop();
        let report = ScenarioReport::new(
            &scenario,
            Transport::OverDds,
            phases,
            tendon_sim::scenario::trips_of(&status),
            wall_start.elapsed(),
            &loop_report.timing.compute,
        );
        let link_stats = link.detailed_stats();
        if args.json {
            let mut value = serde_json::to_value(&report)?;
            value["link"] = serde_json::json!({
                "states_received": link_stats.link.states_received,
                "crc_errors": link_stats.link.crc_errors,
                "decode_errors": link_stats.link.decode_errors,
                "commands_sent": link_stats.link.commands_sent,
            });
            println!("{value}");
        } else {
            print_report(&report);
            println!(
                "control loop (real time, over DDS):\n{}",
                loop_report.timing
            );
            println!("link: {link_stats:?}");
        }
        finish(&report, args.json)
    })();
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    result
}
