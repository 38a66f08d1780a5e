//! A decode step allocates nothing: a counting global allocator watches 200
//! decode steps on a multi-threaded engine after the prompt, 100 batch
//! steps with a finish and an admission every 25, and 100 parallel-head
//! chunks with a new state each.

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

/// The counter sees every thread, the test harness's included, so this file
/// has one test: a second one finishing (the harness then formats its
/// result) or running would be counted here.
#[test]
fn decode_and_batch_steps_allocate_nothing() {
    decode_steps_allocate_nothing();
    batch_steps_admissions_and_finishes_allocate_nothing();
    parallel_head_chunks_allocate_nothing();
}

fn parallel_head_chunks_allocate_nothing() {
    use tendon_policy::action::{decode_actions, DecodedActions};
    use tendon_policy::testmodel::tiny_parallel_config;
    let model =
        Arc::new(Model::random(tiny_parallel_config(), 5, &PrecisionPolicy::default()).unwrap());
    let mut e = Engine::new(
        model,
        EngineOptions {
            threads: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let states: Vec<Vec<f32>> = (0..4).map(|s| vec![0.1 * s as f32; 64]).collect();
    let vision = vec![0.3f32; 128];
    let mut out = DecodedActions::new();
    let mut p = vec![
        Input::Token(3),
        Input::Vision(&vision),
        Input::State(&states[0]),
    ];
    decode_actions(&mut e, &p, &mut out).unwrap();
    let before = ALLOCS.load(Ordering::SeqCst);
    for k in 0..100 {
        p[2] = Input::State(&states[k % 4]);
        decode_actions(&mut e, &p, &mut out).unwrap();
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(
        after - before,
        0,
        "allocations during 100 parallel-head chunks"
    );
    assert_eq!(out.values.len(), 12);
}

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

fn batch_steps_admissions_and_finishes_allocate_nothing() {
    use tendon_policy::batch::{Batch, SeqId};
    let model =
        Arc::new(Model::random(tiny_policy_config(), 5, &PrecisionPolicy::default()).unwrap());
    let opts = EngineOptions {
        threads: 2,
        ..Default::default()
    };
    let mut batch = Batch::new(model, opts, 4, 128).unwrap();
    let prompt = [Input::Token(1), Input::Token(2), Input::Token(3)];
    let mut next: Vec<(SeqId, u32)> = Vec::with_capacity(4);
    for _ in 0..4 {
        let (id, logits) = batch.admit(&prompt).unwrap();
        next.push((id, argmax(logits)));
    }
    let vocab = 64 + 32 + 2 + 4;
    let before = ALLOCS.load(Ordering::SeqCst);
    for step in 0..100 {
        let out = batch.step(&next).unwrap();
        for (i, (_, tok)) in next.iter_mut().enumerate() {
            *tok = argmax(&out[i * vocab..(i + 1) * vocab]);
        }
        // Every 25 steps the first sequence finishes and a new one takes its slot.
        if step % 25 == 24 {
            batch.finish(next[0].0);
            let (id, logits) = batch.admit(&prompt).unwrap();
            next[0] = (id, argmax(logits));
        }
    }
    let after = ALLOCS.load(Ordering::SeqCst);
    assert_eq!(after - before, 0, "allocations during 100 batch steps");
    assert_eq!(batch.pos(next[1].0), 103);
}
