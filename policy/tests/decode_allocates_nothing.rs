//! A decode step allocates nothing: a counting global allocator watches 200
//! decode steps on a multi-threaded engine after the prompt.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tendon_policy::engine::{Engine, EngineOptions};
use tendon_policy::model::{Input, Model};
use tendon_policy::precision::PrecisionPolicy;
use tendon_policy::reference::argmax;
use tendon_policy::testmodel::tiny_policy_config;

struct CountingAlloc;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn decode_steps_allocate_nothing() {
    let mut cfg = tiny_policy_config();
    cfg.max_seq_len = 256;
    let model = Arc::new(Model::random(cfg, 5, &PrecisionPolicy::default()).unwrap());
    let mut e = Engine::new(
        model,
        EngineOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let mut tok = argmax(e.forward(&[Input::Token(1), Input::Token(2)]).unwrap());
    let before = ALLOCS.load(Ordering::SeqCst);
    for _ in 0..200 {
        tok = argmax(e.forward(&[Input::Token(tok)]).unwrap());
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations during 200 decode steps");
    assert_eq!(e.pos(), 202);
}
