//! The thread that feeds a scripted producer's chunks into the loop at its
//! own rate, while playing. The producer itself (`producer`) is the plain
//! part; this is the thin runtime around it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tendon_core::{Clock, MonoTime};

use crate::producer::ScriptedProducer;
use crate::runtime::ControlCommands;

/// How often chunks are made and how they are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeederTiming {
    pub chunk_period: Duration,
    pub step: Duration,
    pub steps: usize,
}

/// Sends `ScriptedProducer` chunks, each stamped with the time it was made
/// on `clock`, to the loop's `ControlCommands` every `chunk_period` while
/// playing. The script restarts from its first keyframe on each `play`.
pub struct ChunkFeeder {
    playing: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChunkFeeder {
    pub fn spawn(
        script: ScriptedProducer,
        timing: FeederTiming,
        commands: Arc<ControlCommands>,
        clock: Clock,
    ) -> std::io::Result<ChunkFeeder> {
        let playing = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (playing.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("chunk-producer".into())
            .spawn(move || {
                let mut started: Option<MonoTime> = None;
                while !s.load(Ordering::Acquire) {
                    let now = clock.now();
                    if p.load(Ordering::Acquire) {
                        let t0 = *started.get_or_insert(now);
                        match script.chunk(t0, now, timing.step, timing.steps) {
                            Ok(chunk) => commands.send_chunk(&chunk),
                            Err(e) => log::warn!("chunk producer: {e}"),
                        }
                    } else {
                        started = None;
                    }
                    std::thread::sleep(timing.chunk_period);
                }
            })?;
        Ok(ChunkFeeder {
            playing,
            stop,
            thread: Some(thread),
        })
    }

    pub fn set_playing(&self, playing: bool) {
        self.playing.store(playing, Ordering::Release);
    }
}

impl Drop for ChunkFeeder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> FeederTiming {
        FeederTiming {
            chunk_period: Duration::from_millis(5),
            step: Duration::from_millis(20),
            steps: 4,
        }
    }

    #[test]
    fn feeds_chunks_stamped_on_its_clock_only_while_playing() {
        let script = ScriptedProducer::parse("t_s,left_shoulder_roll\n0,0.5\n1,0.5\n").unwrap();
        let commands = Arc::new(ControlCommands::default());
        let clock = Clock::Sim(Arc::new(tendon_core::SimClock::new(MonoTime::from_ns(
            7_000_000,
        ))));
        let feeder = ChunkFeeder::spawn(script, timing(), commands.clone(), clock).unwrap();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(commands.chunks_sent(), 0, "paused feeders send nothing");
        feeder.set_playing(true);
        std::thread::sleep(Duration::from_millis(60));
        let sent = commands.chunks_sent();
        assert!(sent >= 2, "{sent} chunks in 60 ms at one per 5 ms");
        let chunk = commands.latest_chunk();
        assert_eq!(chunk.t_obs, MonoTime::from_ns(7_000_000));
        assert_eq!(chunk.len, 4);
        assert_eq!(chunk.dt, Duration::from_millis(20));
        let slot = tendon_core::JointIndex::LeftShoulderRoll.slot();
        assert_eq!(chunk.steps[0][slot], 0.5);
        feeder.set_playing(false);
        std::thread::sleep(Duration::from_millis(20));
        let after_pause = commands.chunks_sent();
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(commands.chunks_sent(), after_pause);
    }
}
