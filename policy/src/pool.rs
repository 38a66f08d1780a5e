//! A small fixed thread pool for the kernels. A job is split into chunks;
//! the caller and the workers claim chunks from one atomic word until none
//! is left, so a worker the OS has descheduled (another process, or the
//! control loop's real-time thread, took its core) costs at most the chunk
//! it holds: the others take its share. Workers spin briefly between jobs (a
//! token's matvecs come microseconds apart), then park. Dispatch allocates
//! nothing, so the per-token path stays allocation-free; rayon's injector
//! queue allocates.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};

type Job<'a> = &'a (dyn Fn(usize, usize) + Sync);

struct Shared {
    /// Bumped once per job to wake parked workers.
    generation: AtomicUsize,
    /// Chunk count (high 32 bits) and next unclaimed chunk (low 32 bits) of
    /// the current job. Claiming is a CAS on this word, so a chunk index is
    /// only ever handed out for the job it belongs to.
    claim: AtomicU64,
    /// Chunks of the current job finished.
    done: AtomicUsize,
    /// Points at the current `Job` on the caller's stack. Valid while the
    /// job has unfinished chunks; read only after claiming one.
    job: AtomicPtr<()>,
    stop: AtomicBool,
    /// Workers past their start-up.
    started: AtomicUsize,
}

impl Shared {
    fn try_claim(&self) -> Option<usize> {
        let mut v = self.claim.load(Ordering::Acquire);
        loop {
            let (n, next) = (v >> 32, v & 0xFFFF_FFFF);
            if next >= n {
                return None;
            }
            match self
                .claim
                .compare_exchange_weak(v, v + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(next as usize),
                Err(now) => v = now,
            }
        }
    }

    /// Runs claimed chunks of the current job as thread `idx` until none is left.
    fn work(&self, idx: usize) {
        while let Some(chunk) = self.try_claim() {
            // SAFETY: a chunk was claimed, so the job is unfinished and its
            // caller is still inside `run_chunks`, keeping the job alive.
            let job: Job = unsafe { *(self.job.load(Ordering::Acquire) as *const Job) };
            job(idx, chunk);
            self.done.fetch_add(1, Ordering::AcqRel);
        }
    }
}

pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<(JoinHandle<()>, Thread)>,
}

const SPIN_ROUNDS: u32 = 20_000;

impl Pool {
    /// A pool running jobs on `threads` threads (the caller counts as one).
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            generation: AtomicUsize::new(0),
            claim: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            stop: AtomicBool::new(false),
            started: AtomicUsize::new(0),
        });
        let workers = (1..threads.max(1))
            .map(|idx| {
                let s = shared.clone();
                let h = std::thread::Builder::new()
                    .name(format!("policy-{idx}"))
                    .spawn(move || worker(s, idx))
                    .expect("spawning a policy worker thread");
                let t = h.thread().clone();
                (h, t)
            })
            .collect::<Vec<_>>();
        // A thread's start-up allocates (its thread-local state), at whatever
        // moment the OS first runs it; waiting here keeps that out of the
        // first jobs, which must not allocate.
        while shared.started.load(Ordering::Acquire) < workers.len() {
            std::thread::yield_now();
        }
        Pool { shared, workers }
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(thread, chunk)` for every chunk in 0..n_chunks, each exactly
    /// once, on whichever threads claim them; returns when all are done.
    /// `thread` is in 0..threads() and unique among concurrently running calls.
    pub fn run_chunks(&self, n_chunks: usize, f: &(dyn Fn(usize, usize) + Sync)) {
        if self.workers.is_empty() || n_chunks <= 1 {
            for c in 0..n_chunks {
                f(0, c);
            }
            return;
        }
        let job: Job = f;
        let s = &self.shared;
        s.job
            .store(&job as *const Job as *mut (), Ordering::Release);
        s.done.store(0, Ordering::Release);
        s.claim.store((n_chunks as u64) << 32, Ordering::Release);
        s.generation.fetch_add(1, Ordering::AcqRel);
        for (_, t) in &self.workers {
            t.unpark();
        }
        s.work(0);
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) != n_chunks {
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

fn worker(s: Arc<Shared>, idx: usize) {
    // `park` needs this thread's handle; make it now, not in a job.
    let _ = std::thread::current();
    s.started.fetch_add(1, Ordering::AcqRel);
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let g = s.generation.load(Ordering::Acquire);
            if g != seen {
                seen = g;
                break;
            }
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
            } else {
                std::thread::park();
            }
        }
        s.work(idx);
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for (h, t) in self.workers.drain(..) {
            t.unpark();
            let _ = h.join();
        }
    }
}

/// The `i`-th of `n` near-equal parts of 0..len, rounded to multiples of `align`.
pub fn split(len: usize, n: usize, i: usize, align: usize) -> std::ops::Range<usize> {
    let units = len.div_ceil(align);
    let per = units / n;
    let extra = units % n;
    let start = i * per + i.min(extra);
    let end = start + per + usize::from(i < extra);
    (start * align).min(len)..(end * align).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_runs_exactly_once_per_job() {
        let pool = Pool::new(3);
        let hits: Vec<AtomicUsize> = (0..37).map(|_| AtomicUsize::new(0)).collect();
        let threads_seen: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..500 {
            pool.run_chunks(37, &|t, c| {
                hits[c].fetch_add(1, Ordering::Relaxed);
                threads_seen[t].fetch_add(1, Ordering::Relaxed);
            });
        }
        for h in &hits {
            assert_eq!(h.load(Ordering::Relaxed), 500);
        }
        let total: usize = threads_seen.iter().map(|t| t.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 500 * 37);
    }

    #[test]
    fn a_stalled_worker_does_not_hold_up_the_other_chunks() {
        // Chunk 0 sleeps; the other chunks still all run, on other threads.
        let pool = Pool::new(2);
        let hits: Vec<AtomicUsize> = (0..16).map(|_| AtomicUsize::new(0)).collect();
        pool.run_chunks(16, &|_, c| {
            if c == 0 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            hits[c].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn split_covers_the_range_without_overlap() {
        for (len, n, align) in [(100, 3, 1), (64, 4, 8), (7, 4, 1), (0, 2, 1), (33, 2, 16)] {
            let mut next = 0;
            for i in 0..n {
                let r = split(len, n, i, align);
                assert_eq!(r.start, next.min(len));
                next = r.end;
            }
            assert_eq!(next, len);
        }
    }
}
