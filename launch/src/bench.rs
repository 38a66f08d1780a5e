//! `tendon bench …`: measurements that print figures (BENCHMARKS.md).

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Subcommand;
use tendon_bridge::dds::{wait_readable, DdsConfig, DdsNode, TOPIC_LOWCMD, TOPIC_LOWSTATE};
use tendon_bridge::hg::{LowCmd, LowState};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Policy-sized model (200 vision + 32 audio + 16 text + 1 state in, one
    /// action chunk out): observation-to-chunk time cold and with a prefix-cache
    /// hit, speculative-decoding speedup, peak RSS.
    Policy {
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 8)]
        horizon: usize,
        #[arg(long, default_value_t = 29)]
        dims: usize,
        #[arg(long, default_value_t = 3)]
        repeats: usize,
    },
    /// Parallel action head against direct bins on one demo-sized model
    /// (d 128, 4 layers, 16 × 17 chunk by default), about 77 and 233 input
    /// positions: observation → chunk, cold and with a prefix-cache hit.
    ActionHead {
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 16)]
        horizon: usize,
        #[arg(long, default_value_t = 17)]
        dims: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        #[arg(long)]
        json: bool,
    },
    /// Policy engine tokens/s: prefill P token ids, then decode G greedily.
    Decode {
        #[arg(long)]
        model: std::path::PathBuf,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 64)]
        gen_tokens: usize,
        /// Runs; the best of each phase is reported.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Also decode this many sequences together (continuous-batching
        /// engine) and report their total tokens/s next to batch 1.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        #[arg(long)]
        json: bool,
    },
    /// Real-time run of the 500 Hz control loop against a robot endpoint over
    /// DDS loopback; prints the wake-up error (period error) histogram.
    Loop {
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        #[arg(long, default_value_t = 141)]
        domain: u16,
        #[arg(long, default_value = "lo")]
        iface: String,
        /// Run without SCHED_FIFO, pinning and mlockall (as a plain thread).
        #[arg(long)]
        no_rt: bool,
        /// Cap of the early-wake margin (sleep to before the deadline, spin
        /// the rest); 0 sleeps only.
        #[arg(long, default_value_t = tendon_control::runtime::DEFAULT_MAX_WAKE_MARGIN.as_micros() as u64)]
        max_wake_margin_us: u64,
        /// Keep the kernel's timer slack (50 µs by default) instead of 1 ns.
        #[arg(long)]
        kernel_timer_slack: bool,
        #[arg(long)]
        json: bool,
    },
    /// DDS round trip: our LowCmd → an echo peer → LowState back (peer copies
    /// LowCmd.reserve[0] into LowState.tick).
    DdsRtt {
        #[arg(long, default_value_t = 1)]
        domain: u16,
        #[arg(long, default_value = "lo")]
        iface: String,
        #[arg(long, default_value_t = 2000)]
        count: u32,
        /// Seconds to wait for the echo peer to appear.
        #[arg(long, default_value_t = 10.0)]
        discovery_s: f64,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Policy {
            threads,
            horizon,
            dims,
            repeats,
        } => {
            let b = tendon_policy::cli::bench_policy(threads, horizon, dims, repeats)?;
            println!("{b:#?}");
            Ok(())
        }
        BenchCommand::ActionHead {
            threads,
            horizon,
            dims,
            repeats,
            json,
        } => {
            let b = tendon_policy::cli::bench_action_head(threads, horizon, dims, repeats)?;
            if json {
                println!("{}", serde_json::to_string(&b)?);
                return Ok(());
            }
            println!(
                "{} ({}), {} thread(s); d_model {}, {} layers, weights {}; chunk {} x {}",
                b.cpu, b.simd, b.threads, b.d_model, b.n_layers, b.weights, b.horizon, b.dims
            );
            println!(
                "{:<12} {:>9} {:>7} {:>26} {:>26}",
                "head",
                "positions",
                "passes",
                "cold ms p50 (min-max)",
                "prefix hit ms p50 (min-max)"
            );
            for r in &b.rows {
                println!(
                    "{:<12} {:>9} {:>7} {:>12.2} ({:.2}-{:.2}) {:>12.2} ({:.2}-{:.2})",
                    r.head,
                    r.prompt_positions,
                    r.passes_per_chunk,
                    r.cold_ms[0],
                    r.cold_ms[1],
                    r.cold_ms[2],
                    r.prefix_hit_ms[0],
                    r.prefix_hit_ms[1],
                    r.prefix_hit_ms[2]
                );
            }
            for pair in b.rows.chunks(2) {
                if let [p, d] = pair {
                    println!(
                        "{} positions: parallel / direct bins = {:.3} cold, {:.3} prefix hit",
                        p.prompt_positions,
                        p.cold_ms[0] / d.cold_ms[0],
                        p.prefix_hit_ms[0] / d.prefix_hit_ms[0]
                    );
                }
            }
            Ok(())
        }
        BenchCommand::Decode {
            model,
            threads,
            prompt_tokens,
            gen_tokens,
            repeats,
            batch,
            json,
        } => {
            let b = tendon_policy::cli::bench_decode(
                &model,
                threads,
                prompt_tokens,
                gen_tokens,
                repeats,
                batch,
            )?;
            if json {
                println!("{}", b.to_json());
            } else {
                println!(
                    "{}: {} weights, {} threads ({}): prefill {:.1} tok/s, decode {:.1} tok/s",
                    model.display(),
                    b.format,
                    b.threads,
                    b.simd,
                    b.prefill_tok_s,
                    b.decode_tok_s
                );
                if let Some(t) = b.batch_decode_tok_s {
                    println!(
                        "batch {}: decode {t:.1} tok/s in total ({:.2}x batch 1)",
                        b.batch,
                        t / b.decode_tok_s
                    );
                }
            }
            Ok(())
        }
        BenchCommand::Loop {
            seconds,
            domain,
            iface,
            no_rt,
            max_wake_margin_us,
            kernel_timer_slack,
            json,
        } => {
            let mut rt = tendon_control::RtConfig {
                max_wake_margin: Duration::from_micros(max_wake_margin_us),
                ..Default::default()
            };
            if no_rt {
                rt.fifo_priority = None;
                rt.lock_memory = false;
            }
            if kernel_timer_slack {
                rt.timer_slack_ns = None;
            }
            loop_jitter(seconds, domain, &iface, rt, json)
        }
        BenchCommand::DdsRtt {
            domain,
            iface,
            count,
            discovery_s,
            json,
        } => dds_rtt(domain, &iface, count, discovery_s, json),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx]
}

fn dds_rtt(domain: u16, iface: &str, count: u32, discovery_s: f64, json: bool) -> Result<()> {
    let node = DdsNode::new(&DdsConfig::new(domain, Some(iface)))?;
    let writer = node.writer::<LowCmd>(TOPIC_LOWCMD)?;
    let mut reader = node.reader::<LowState>(TOPIC_LOWSTATE)?;
    let mut poll = mio::Poll::new()?;
    let mut events = mio::Events::with_capacity(8);
    reader.register(&poll, mio::Token(1))?;
    let deadline = Instant::now() + Duration::from_secs_f64(discovery_s);
    while node.remote_readers_on(TOPIC_LOWCMD) == 0
        || node.remote_writers_on(TOPIC_LOWSTATE).is_empty()
    {
        if Instant::now() > deadline {
            bail!("no echo peer on domain {domain} ({iface}) within {discovery_s} s; start one (firmware-bridge/tests/peers/cyclone_rtt.py pong)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let warmup = 50u32;
    let mut rtts_us = Vec::with_capacity(count as usize);
    let mut lost = 0u32;
    for seq in 1..=(count + warmup) {
        let mut cmd = LowCmd::default();
        cmd.reserve[0] = seq;
        cmd.seal();
        let sent = Instant::now();
        writer.write(cmd)?;
        let timeout_at = sent + Duration::from_millis(100);
        let mut got = false;
        while !got {
            while let Some(sample) = reader.take()? {
                if matches!(sample, Ok(s) if s.tick == seq) {
                    got = true;
                }
            }
            if got {
                break;
            }
            let now = Instant::now();
            if now >= timeout_at {
                break;
            }
            wait_readable(&mut poll, &mut events, timeout_at - now);
        }
        if seq > warmup {
            if got {
                rtts_us.push(sent.elapsed().as_secs_f64() * 1e6);
            } else {
                lost += 1;
            }
        }
    }
    rtts_us.sort_by(f64::total_cmp);
    let (p50, p99, max) = (
        percentile(&rtts_us, 0.5),
        percentile(&rtts_us, 0.99),
        rtts_us.last().copied().unwrap_or(f64::NAN),
    );
    if json {
        println!(
            "{}",
            serde_json::json!({"impl": "tendon-rustdds", "count": rtts_us.len(), "lost": lost, "p50_us": p50, "p99_us": p99, "max_us": max})
        );
    } else {
        println!("dds round trip over {} samples ({lost} lost): p50 {p50:.1} µs, p99 {p99:.1} µs, max {max:.1} µs", rtts_us.len());
    }
    Ok(())
}

fn loop_jitter(
    seconds: f64,
    domain: u16,
    iface: &str,
    rt: tendon_control::RtConfig,
    json: bool,
) -> Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use tendon_bridge::endpoint::RobotEndpoint;
    use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
    use tendon_control::{ControlLoop, Controller, ControllerConfig};
    use tendon_core::{Clock, RobotLink};

    let dds = DdsConfig::new(domain, Some(iface));
    let stop = Arc::new(AtomicBool::new(false));
    let robot = {
        let (stop, dds) = (stop.clone(), dds.clone());
        std::thread::spawn(move || -> Result<()> {
            let mut endpoint = RobotEndpoint::open(&dds, Clock::Real)?;
            let mut state = LowState {
                mode_machine: 5,
                ..LowState::default()
            };
            let start = Instant::now();
            let mut next = start;
            while !stop.load(Ordering::SeqCst) {
                state.tick = start.elapsed().as_millis() as u32 + 1;
                endpoint.publish_state(&mut state)?;
                next += Duration::from_millis(2);
                if let Some(w) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(w);
                }
            }
            Ok(())
        })
    };
    let mut cfg = DdsLinkConfig::lowcmd(dds);
    cfg.sole_writer_window = Duration::from_millis(300);
    let link = Arc::new(DdsRobotLink::open(&cfg, Clock::Real)?);
    if link.wait_for_state(Duration::from_secs(10)).is_none() {
        stop.store(true, Ordering::SeqCst);
        bail!("the in-process robot endpoint published no LowState on domain {domain} ({iface})");
    }
    let control = ControlLoop::spawn(
        Controller::new(ControllerConfig::default()),
        link.clone() as Arc<dyn RobotLink>,
        rt,
    )?;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let report = control.stop();
    stop.store(true, Ordering::SeqCst);
    let _ = robot.join();
    let t = report.timing;
    let us = |d: Duration| (d.as_secs_f64() * 1e7).round() / 10.0;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "impl": "tendon control loop",
                "max_wake_margin_us": rt.max_wake_margin.as_micros() as u64,
                "spin_p50_us": us(t.spin.p50),
                "spin_share": t.spin.mean.as_secs_f64() / rt.period.as_secs_f64(),
                "timer_slack_ns": format!("{:?}", report.rt.timer_slack_ns),
                "calls": t.period_error.count,
                "overruns": t.overruns,
                "p50_us": us(t.period_error.p50),
                "p99_us": us(t.period_error.p99),
                "p999_us": us(t.period_error.p999),
                "max_us": us(t.period_error.max),
                "compute_p50_us": us(t.compute.p50),
                "compute_p99_us": us(t.compute.p99),
                "compute_max_us": us(t.compute.max),
                "sched_fifo": format!("{:?}", report.rt.fifo),
                "mlockall": format!("{:?}", report.rt.mlock),
                "commands_sent": link.stats().commands_sent,
            })
        );
    } else {
        println!("{t}");
        println!("rt settings: {:?}", report.rt);
    }
    Ok(())
}
