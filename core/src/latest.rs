//! `Latest<T>`: a lock-free single-slot handoff that keeps only the newest
//! value, for one writer at a time and any number of readers.
//!
//! The value lives in one of `SLOTS` buffers. Each buffer has a guard word:
//! the number of readers copying out of it, or `WRITING` while the writer
//! fills it. The writer only ever fills a buffer that is not the published
//! one and that it has claimed with a compare-and-swap from 0 (no reader in
//! it); a reader announces itself on the published buffer's guard and backs
//! off if the writer has claimed it meanwhile. So a buffer is never read and
//! written at the same time: no data race under Rust's memory model (the
//! earlier seqlock read bytes a writer might be writing and only discarded
//! them afterwards, which is undefined behaviour however it is checked).
//!
//! A reader never waits for a writer: the buffer it reads is complete, and a
//! writer preempted half-way through a store holds a different one. (A plain
//! seqlock made the 500 Hz SCHED_FIFO loop spin on a lower-priority writer
//! preempted mid-store: control cycles of up to 8 ms.) A reader retries only
//! when the writer has published a newer value in the meantime, and returns
//! exactly the value `published` named when it looked, so one reader never
//! sees values go backwards (loom found that an unchecked reader could take
//! a refilled, not yet published buffer, then an older one). The writer
//! waits only if every non-published buffer has a reader inside it, which
//! with four buffers takes three readers preempted mid-copy at once.
//!
//! Tested under loom (`RUSTFLAGS="--cfg loom"`, run by scripts/test.sh),
//! which explores the interleavings and flags any unsynchronised access.

#[cfg(loom)]
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Buffers per slot: the published one, one for the writer, and two spare
/// so that two readers stalled mid-copy never block the writer.
const SLOTS: usize = 4;
/// Guard value while the writer owns a buffer (reader counts stay below it).
const WRITING: u32 = 1 << 31;
/// `published` packs the store count above the buffer index.
const INDEX_BITS: u32 = 8;

/// The newest value of a `Copy` type, shared between threads.
pub struct Latest<T: Copy> {
    /// `(stores << INDEX_BITS) | index` of the newest complete buffer.
    published: AtomicU64,
    writer_busy: AtomicBool,
    guards: [AtomicU32; SLOTS],
    /// Each buffer holds a value and the store count it was written by.
    buffers: [Buffer<(T, u64)>; SLOTS],
}

// SAFETY: a buffer is accessed by the writer only while its guard is
// WRITING (claimed from 0), and by readers only while their count in the
// guard keeps the writer out; `T: Copy` has no drop glue.
unsafe impl<T: Copy + Send> Sync for Latest<T> {}
unsafe impl<T: Copy + Send> Send for Latest<T> {}

impl<T: Copy> Latest<T> {
    pub fn new(initial: T) -> Self {
        Latest {
            published: AtomicU64::new(0),
            writer_busy: AtomicBool::new(false),
            guards: std::array::from_fn(|_| AtomicU32::new(0)),
            buffers: std::array::from_fn(|_| Buffer::new((initial, 0))),
        }
    }

    /// Publishes a new value. Never allocates; spins only against another
    /// writer, or while every spare buffer has a reader inside it.
    pub fn store(&self, value: T) {
        while self
            .writer_busy
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin();
        }
        let published = self.published.load(Ordering::Relaxed);
        let current = (published & ((1 << INDEX_BITS) - 1)) as usize;
        let stores = (published >> INDEX_BITS) + 1;
        let free = loop {
            let claimed = (0..SLOTS).filter(|&i| i != current).find(|&i| {
                self.guards[i]
                    .compare_exchange(0, WRITING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            });
            match claimed {
                Some(i) => break i,
                None => spin(),
            }
        };
        // SAFETY: the guard is WRITING, claimed from 0: no reader is inside,
        // and readers arriving now back off without touching the buffer.
        unsafe { self.buffers[free].write((value, stores)) };
        // fetch_and, not store(0): a reader that arrived meanwhile has its
        // +1 in the guard and is about to take it back out.
        self.guards[free].fetch_and(!WRITING, Ordering::Release);
        self.published
            .store((stores << INDEX_BITS) | free as u64, Ordering::Release);
        self.writer_busy.store(false, Ordering::Release);
    }

    /// Copies out the newest complete value and the number of stores it reflects.
    pub fn load_with_count(&self) -> (T, u64) {
        loop {
            let published = self.published.load(Ordering::Acquire);
            let i = (published & ((1 << INDEX_BITS) - 1)) as usize;
            if self.guards[i].fetch_add(1, Ordering::Acquire) & WRITING != 0 {
                // The writer published a newer value and took this buffer
                // back; undo and read the newer one.
                self.guards[i].fetch_sub(1, Ordering::Release);
                spin();
                continue;
            }
            // SAFETY: our count in the guard keeps the writer out of this
            // buffer until the fetch_sub below.
            let (value, stores) = unsafe { self.buffers[i].read() };
            self.guards[i].fetch_sub(1, Ordering::Release);
            if stores != published >> INDEX_BITS {
                // Between our load of `published` and our arrival the writer
                // published newer values and refilled this buffer with one
                // it has not published yet: returning it, then an older one
                // on the next load, would run time backwards.
                continue;
            }
            return (value, stores);
        }
    }

    pub fn load(&self) -> T {
        self.load_with_count().0
    }

    /// How many values have been stored; cheap change detection for pollers.
    pub fn version(&self) -> u64 {
        self.published.load(Ordering::Acquire) >> INDEX_BITS
    }
}

fn spin() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    std::hint::spin_loop();
}

/// An `UnsafeCell` with the access API of loom's, so that loom can check
/// every access to the buffers.
#[cfg(not(loom))]
struct Buffer<V>(std::cell::UnsafeCell<V>);
#[cfg(loom)]
struct Buffer<V>(loom::cell::UnsafeCell<V>);

impl<V: Copy> Buffer<V> {
    fn new(v: V) -> Self {
        #[cfg(not(loom))]
        return Buffer(std::cell::UnsafeCell::new(v));
        #[cfg(loom)]
        return Buffer(loom::cell::UnsafeCell::new(v));
    }

    /// # Safety
    /// No writer may be inside this buffer.
    unsafe fn read(&self) -> V {
        #[cfg(not(loom))]
        return unsafe { *self.0.get() };
        #[cfg(loom)]
        return self.0.with(|p| unsafe { *p });
    }

    /// # Safety
    /// No reader or other writer may be inside this buffer.
    unsafe fn write(&self, v: V) {
        #[cfg(not(loom))]
        unsafe {
            *self.0.get() = v
        };
        #[cfg(loom)]
        self.0.with_mut(|p| unsafe { *p = v });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn load_returns_latest_store() {
        let slot = Latest::new(1u32);
        assert_eq!(slot.load_with_count(), (1, 0));
        slot.store(7);
        slot.store(9);
        assert_eq!(slot.load_with_count(), (9, 2));
        assert_eq!(slot.version(), 2);
    }

    #[test]
    fn reader_does_not_wait_for_a_writer_stuck_mid_store() {
        // A writer preempted mid-store owns a spare buffer; simulate it by
        // claiming one by hand and never releasing it.
        let slot = Latest::new(5u32);
        slot.store(6);
        let current = (slot.published.load(Ordering::Relaxed) & 0xff) as usize;
        let stuck = (current + 1) % SLOTS;
        slot.guards[stuck].store(WRITING, Ordering::Release);
        assert_eq!(
            slot.load_with_count(),
            (6, 1),
            "the published copy is returned at once"
        );
        // The next writer goes around the stuck buffer.
        slot.store(7);
        assert_eq!(slot.load(), 7);
    }

    #[test]
    fn a_reader_inside_a_buffer_keeps_the_writer_out_of_it() {
        let slot = Latest::new(0u64);
        slot.store(1);
        let current = (slot.published.load(Ordering::Relaxed) & 0xff) as usize;
        // A reader stalled inside the published buffer.
        slot.guards[current].fetch_add(1, Ordering::Acquire);
        for v in 2..10 {
            slot.store(v);
            let now = (slot.published.load(Ordering::Relaxed) & 0xff) as usize;
            assert_ne!(now, current, "store {v} reused the buffer being read");
        }
        // SAFETY: test-only peek; no writer is active.
        assert_eq!(unsafe { slot.buffers[current].read() }, (1, 1));
        slot.guards[current].fetch_sub(1, Ordering::Release);
        assert_eq!(slot.load_with_count(), (9, 9));
    }

    #[test]
    fn concurrent_readers_never_see_a_torn_value() {
        // Every stored array has all elements equal; a torn read would mix two.
        let slot = Arc::new(Latest::new([0u64; 64]));
        let writer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                for i in 1..=100_000u64 {
                    slot.store([i; 64]);
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let slot = slot.clone();
                std::thread::spawn(move || {
                    let mut last_seen = 0;
                    while last_seen < 100_000 {
                        let (v, stores) = slot.load_with_count();
                        assert!(v.iter().all(|x| *x == v[0]), "torn read: {:?}", &v[..4]);
                        assert!(v[0] >= last_seen, "went backwards");
                        assert_eq!(v[0], stores, "value and store count belong together");
                        last_seen = v[0];
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Every interleaving of one writer storing twice and two readers:
    /// loom fails on any unsynchronised access to a buffer, and each read
    /// is a whole stored value with its own store count, never older than
    /// one the same reader saw before.
    #[test]
    fn every_interleaving_reads_whole_values_without_a_data_race() {
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(3);
        model.check(|| {
            let slot = Arc::new(Latest::new([0u64; 2]));
            let writer = {
                let slot = slot.clone();
                loom::thread::spawn(move || {
                    slot.store([1, 1]);
                    slot.store([2, 2]);
                })
            };
            let reader = {
                let slot = slot.clone();
                loom::thread::spawn(move || {
                    let (a, na) = slot.load_with_count();
                    let (b, nb) = slot.load_with_count();
                    assert!(a[0] == a[1] && b[0] == b[1]);
                    assert!(a[0] == na && b[0] == nb);
                    assert!(nb >= na);
                })
            };
            let (c, nc) = slot.load_with_count();
            assert!(c[0] == c[1] && c[0] == nc);
            writer.join().unwrap();
            reader.join().unwrap();
            assert_eq!(slot.load_with_count(), ([2, 2], 2));
        });
    }
}
