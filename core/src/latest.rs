//! `Latest<T>`: a lock-free single-slot handoff (a seqlock) that keeps only the
//! newest value. Readers never block writers and writers never wait for
//! readers, so a slow reader cannot stall the 500 Hz loop or the DDS thread.

use std::cell::UnsafeCell;
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// The newest value of a `Copy` type, shared between threads.
///
/// `seq` is odd while a write is in progress; a reader copies the value and
/// retries if `seq` moved underneath it. Writers serialise on `seq` with a CAS,
/// so several writers are safe (they are expected to be rare).
pub struct Latest<T: Copy> {
    seq: AtomicU64,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is coordinated by the sequence counter; torn reads
// are detected and discarded, and `T: Copy` means no destructor ever observes a
// torn value.
unsafe impl<T: Copy + Send> Sync for Latest<T> {}
unsafe impl<T: Copy + Send> Send for Latest<T> {}

impl<T: Copy> Latest<T> {
    pub fn new(initial: T) -> Self {
        Latest {
            seq: AtomicU64::new(0),
            value: UnsafeCell::new(initial),
        }
    }

    /// Publishes a new value. Never allocates; spins only against another writer.
    pub fn store(&self, value: T) {
        let mut seq = self.seq.load(Ordering::Relaxed);
        loop {
            if seq & 1 == 0 {
                match self.seq.compare_exchange_weak(
                    seq,
                    seq + 1,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => seq = now,
                }
            } else {
                std::hint::spin_loop();
                seq = self.seq.load(Ordering::Relaxed);
            }
        }
        fence(Ordering::Release);
        // SAFETY: we hold the odd sequence number, so no other writer touches the slot;
        // concurrent readers will see the odd/changed sequence and discard their copy.
        unsafe { std::ptr::write_volatile(self.value.get(), value) };
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// Copies out the newest value and the number of stores so far.
    pub fn load_with_count(&self) -> (T, u64) {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            // SAFETY: the copy may be torn if a writer races us; it is then discarded
            // below without being used. `T: Copy` has no drop glue.
            let value = unsafe { std::ptr::read_volatile(self.value.get()) };
            fence(Ordering::Acquire);
            let after = self.seq.load(Ordering::Relaxed);
            if before == after {
                return (value, before / 2);
            }
        }
    }

    pub fn load(&self) -> T {
        self.load_with_count().0
    }

    /// How many values have been stored; cheap change detection for pollers.
    pub fn version(&self) -> u64 {
        self.seq.load(Ordering::Acquire) / 2
    }
}

#[cfg(test)]
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
    fn concurrent_reader_never_sees_a_torn_value() {
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
        let mut last_seen = 0;
        while last_seen < 100_000 {
            let v = slot.load();
            assert!(v.iter().all(|x| *x == v[0]), "torn read: {:?}", &v[..4]);
            assert!(v[0] >= last_seen, "went backwards");
            last_seen = v[0];
        }
        writer.join().unwrap();
    }
}
