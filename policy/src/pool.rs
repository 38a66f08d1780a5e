//! A small fixed thread pool for the kernels. One job at a time: the caller
//! publishes a closure, every worker runs it with its own index, the caller
//! runs index 0 and waits. Workers spin briefly (a token's matvecs come
//! microseconds apart), then park. Dispatch allocates nothing, so the
//! per-token path stays allocation-free; rayon's injector queue allocates.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};

type Job<'a> = &'a (dyn Fn(usize) + Sync);

struct Shared {
    /// Bumped once per job; workers run when they see a new value.
    generation: AtomicUsize,
    /// Workers still running the current job.
    pending: AtomicUsize,
    /// Points at a `Job` on the dispatching caller's stack, valid while `pending > 0`.
    job: AtomicPtr<()>,
    stop: AtomicBool,
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
            pending: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            stop: AtomicBool::new(false),
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
            .collect();
        Pool { shared, workers }
    }

    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(i)` for every thread index i in 0..threads() and returns when all are done.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            f(0);
            return;
        }
        let job: Job = f;
        let s = &self.shared;
        s.job
            .store(&job as *const Job as *mut (), Ordering::Release);
        s.pending.store(self.workers.len(), Ordering::Release);
        s.generation.fetch_add(1, Ordering::AcqRel);
        for (_, t) in &self.workers {
            t.unpark();
        }
        f(0);
        let mut spins = 0u32;
        while s.pending.load(Ordering::Acquire) != 0 {
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
    let mut seen = 0usize;
    loop {
        let mut spins = 0u32;
        let gen = loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let g = s.generation.load(Ordering::Acquire);
            if g != seen {
                break g;
            }
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
            } else {
                std::thread::park();
            }
        };
        seen = gen;
        // SAFETY: `run` keeps the job alive until `pending` reaches zero,
        // which happens only after this call returns.
        let job: Job = unsafe { *(s.job.load(Ordering::Acquire) as *const Job) };
        job(idx);
        s.pending.fetch_sub(1, Ordering::AcqRel);
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
    fn every_index_runs_once_per_job() {
        let pool = Pool::new(3);
        let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
        for _ in 0..1000 {
            pool.run(&|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
        }
        for h in &hits {
            assert_eq!(h.load(Ordering::Relaxed), 1000);
        }
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
