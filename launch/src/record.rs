//! MCAP recording on its own thread. Producers hand events over a bounded
//! queue with `try_send`: a full queue drops the event and counts it, so a
//! slow disk never blocks the control loop. Messages are JSON with a JSON
//! schema per channel, which Foxglove and Python's `mcap` read directly.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use serde_json::json;
use tendon_bridge::hg::LowState;
use tendon_control::safety::Trip;
use tendon_control::timing::TimingSummary;
use tendon_core::{FsmId, MonoTime, MotorTargets};
use tendon_perception::{add_frame_channel, encode_frame_message, Frame, FrameEncoding};

/// One thing to record.
#[derive(Debug, Clone)]
pub enum RecordEvent {
    LowState {
        at: MonoTime,
        state: Box<LowState>,
    },
    LowCmd {
        at: MonoTime,
        targets: Box<MotorTargets>,
    },
    Fsm {
        at: MonoTime,
        from: FsmId,
        to: FsmId,
    },
    Safety {
        at: MonoTime,
        trip: Trip,
    },
    Timing {
        at: MonoTime,
        summary: Box<TimingSummary>,
    },
    /// A head-camera image; logged at its capture time on [`CAMERA_TOPIC`]
    /// (only with a camera channel, see [`Recorder::create`]).
    CameraFrame {
        frame: Box<Frame>,
    },
}

/// What the recorder wrote and dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordStats {
    pub written: u64,
    pub dropped: u64,
}

pub struct Recorder {
    tx: Option<SyncSender<RecordEvent>>,
    dropped: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<u64>>>,
}

const CHANNELS: [&str; 5] = ["/lowstate", "/lowcmd", "/fsm", "/safety", "/timing"];

/// Head-camera frames, as ROS 2 `sensor_msgs/msg/Image` or
/// `CompressedImage`, which `tendon_perception::McapFrameSource` replays.
pub const CAMERA_TOPIC: &str = "/camera/head";

impl Recorder {
    /// Creates `path` and starts the writer thread with a queue of `capacity`
    /// events. With `camera`, frames are stored on [`CAMERA_TOPIC`] in that
    /// encoding (encoded on the writer thread, not by the producer).
    pub fn create(path: &Path, capacity: usize, camera: Option<FrameEncoding>) -> Result<Recorder> {
        let file = File::create(path)
            .with_context(|| format!("creating recording '{}'", path.display()))?;
        let mut writer =
            mcap::Writer::new(BufWriter::new(file)).context("starting the MCAP writer")?;
        let mut ids = [0u16; 5];
        for (id, topic) in ids.iter_mut().zip(CHANNELS) {
            let schema = writer.add_schema(
                &format!("tendon{}", topic.replace('/', ".")),
                "jsonschema",
                br#"{"type":"object"}"#,
            )?;
            *id = writer.add_channel(schema, topic, "json", &BTreeMap::new())?;
        }
        let camera_channel = camera
            .map(|encoding| {
                add_frame_channel(&mut writer, CAMERA_TOPIC, encoding)
                    .map(|id| (id, encoding))
                    .context("adding the camera channel")
            })
            .transpose()?;
        let (tx, rx) = sync_channel::<RecordEvent>(capacity);
        let thread =
            std::thread::Builder::new()
                .name("recorder".into())
                .spawn(move || -> Result<u64> {
                    let mut written = 0u64;
                    let mut sequence = [0u32; 5];
                    let mut camera_sequence = 0u32;
                    let mut frame_message = Vec::new();
                    for ev in rx {
                        if let RecordEvent::CameraFrame { frame } = &ev {
                            let Some((channel_id, encoding)) = camera_channel else {
                                continue;
                            };
                            encode_frame_message(
                                frame,
                                "head_camera",
                                encoding,
                                &mut frame_message,
                            )
                            .map_err(|e| anyhow::anyhow!("encoding a camera frame: {e}"))?;
                            camera_sequence += 1;
                            writer.write_to_known_channel(
                                &mcap::records::MessageHeader {
                                    channel_id,
                                    sequence: camera_sequence,
                                    log_time: frame.capture_time.ns,
                                    publish_time: frame.capture_time.ns,
                                },
                                &frame_message,
                            )?;
                            written += 1;
                            continue;
                        }
                        let Some((ch, at, body)) = encode(&ev) else {
                            continue;
                        };
                        sequence[ch] += 1;
                        writer.write_to_known_channel(
                            &mcap::records::MessageHeader {
                                channel_id: ids[ch],
                                sequence: sequence[ch],
                                log_time: at.ns,
                                publish_time: at.ns,
                            },
                            body.to_string().as_bytes(),
                        )?;
                        written += 1;
                    }
                    writer.finish().context("finishing the MCAP file")?;
                    Ok(written)
                })?;
        Ok(Recorder {
            tx: Some(tx),
            dropped: Arc::new(AtomicU64::new(0)),
            thread: Some(thread),
        })
    }

    /// Queues an event; never blocks. A full queue drops it and counts it.
    pub fn record(&self, ev: RecordEvent) {
        if let Some(tx) = &self.tx {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = tx.try_send(ev) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Flushes and closes the file.
    pub fn finish(mut self) -> Result<RecordStats> {
        self.tx = None;
        let written = self
            .thread
            .take()
            .expect("joined once")
            .join()
            .map_err(|_| anyhow::anyhow!("recorder thread panicked"))??;
        Ok(RecordStats {
            written,
            dropped: self.dropped.load(Ordering::Relaxed),
        })
    }
}

fn encode(ev: &RecordEvent) -> Option<(usize, MonoTime, serde_json::Value)> {
    Some(match ev {
        RecordEvent::LowState { at, state } => {
            let m = &state.motor_state[..29];
            let imu = &state.imu_state;
            (
                0,
                *at,
                json!({
                    "tick_ms": state.tick, "mode_machine": state.mode_machine, "crc": state.crc,
                    "q_rad": m.iter().map(|x| x.q).collect::<Vec<_>>(),
                    "dq_rad_s": m.iter().map(|x| x.dq).collect::<Vec<_>>(),
                    "tau_est_nm": m.iter().map(|x| x.tau_est).collect::<Vec<_>>(),
                    "imu": {"quat_wxyz": imu.quaternion, "gyro_rad_s": imu.gyroscope, "accel_m_s2": imu.accelerometer, "rpy_rad": imu.rpy},
                }),
            )
        }
        RecordEvent::LowCmd { at, targets } => {
            let m = &targets.motors[..29];
            (
                1,
                *at,
                json!({
                    "enabled": m.iter().map(|x| x.enabled).collect::<Vec<_>>(),
                    "q_rad": m.iter().map(|x| x.q_rad).collect::<Vec<_>>(),
                    "dq_rad_s": m.iter().map(|x| x.dq_rad_s).collect::<Vec<_>>(),
                    "tau_nm": m.iter().map(|x| x.tau_nm).collect::<Vec<_>>(),
                    "kp": m.iter().map(|x| x.kp).collect::<Vec<_>>(),
                    "kd": m.iter().map(|x| x.kd).collect::<Vec<_>>(),
                }),
            )
        }
        RecordEvent::Fsm { at, from, to } => (
            2,
            *at,
            json!({"from": from.name(), "from_id": from.id(), "to": to.name(), "to_id": to.id()}),
        ),
        RecordEvent::Safety { at, trip } => (
            3,
            *at,
            json!({"cause": trip.cause.name(), "value": trip.value, "slot": trip.slot}),
        ),
        RecordEvent::Timing { at, summary } => {
            let p = |x: &tendon_control::timing::Percentiles| {
                json!({
                    "count": x.count, "p50_us": x.p50.as_secs_f64() * 1e6, "p99_us": x.p99.as_secs_f64() * 1e6,
                    "p999_us": x.p999.as_secs_f64() * 1e6, "max_us": x.max.as_secs_f64() * 1e6,
                })
            };
            (
                4,
                *at,
                json!({"period_error": p(&summary.period_error), "compute": p(&summary.compute), "wake_spin": p(&summary.spin), "overruns": summary.overruns}),
            )
        }
        // Binary, not JSON: written by the writer loop itself.
        RecordEvent::CameraFrame { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_queue_drops_and_counts_instead_of_blocking() {
        let dir = std::env::temp_dir().join(format!("tendon-rec-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rec = Recorder::create(&dir.join("burst.mcap"), 1, None).unwrap();
        let state = Box::new(LowState::default());
        for k in 0..10_000u64 {
            rec.record(RecordEvent::LowState {
                at: MonoTime::from_ns(k),
                state: state.clone(),
            });
        }
        let stats = rec.finish().unwrap();
        assert_eq!(stats.written + stats.dropped, 10_000);
        assert!(
            stats.dropped > 0,
            "a 1-slot queue under a 10k burst must drop: {stats:?}"
        );
        assert!(stats.written > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
