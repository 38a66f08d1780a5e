//! A global allocator for the tests that prove a hot path allocates nothing.
//! It counts allocations per thread, so the test harness's own threads (its
//! main thread waits on each test with a timer, and may print) are not
//! counted against the code under test. Install it in a test binary:
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: ThreadCountingAllocator = ThreadCountingAllocator;
//! ```
//!
//! and compare `allocations_on_this_thread()` before and after the code.
//! Work the code hands to other threads is not counted; tests of such code
//! count globally themselves.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting allocations and reallocations per thread.
pub struct ThreadCountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: a thread being torn down may still free and allocate.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations and reallocations the calling thread has made so far (only
/// while `ThreadCountingAllocator` is the global allocator).
pub fn allocations_on_this_thread() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for ThreadCountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
