//! The ball world loads with the G1 unchanged, and the head camera sees
//! exactly the balls a seed puts on the stand, in their colours.

mod common;

use tendon_core::MonoTime;
use tendon_sim::{BallColour, BallLayout, HeadCamera, SimOptions};

/// Pixels of a saturated colour: the channel of `colour` high, the others low.
fn pixels_of(frame: &tendon_core::Frame, colour: BallColour) -> usize {
    let channel = match colour {
        BallColour::Red => 0,
        BallColour::Green => 1,
        BallColour::Blue => 2,
    };
    frame
        .pixels
        .chunks_exact(3)
        .filter(|px| {
            let main = px[channel] as i32;
            let others = (0..3).filter(|&c| c != channel).map(|c| px[c] as i32);
            main > 90 && others.into_iter().all(|o| o * 2 < main)
        })
        .count()
}

#[test]
fn the_head_camera_sees_the_balls_of_the_seed_and_no_others() {
    let scene = common::scene();
    // Seeds covering one, two and three balls.
    let mut seen_counts = std::collections::BTreeSet::new();
    for seed in 0..40u64 {
        let layout = BallLayout::from_seed(seed);
        if !seen_counts.insert(layout.balls.len()) {
            continue;
        }
        let mut sim = layout
            .load(&scene, SimOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sim.model().nu(), 29, "the G1's actuators are unchanged");
        sim.step_for(0.2);
        let mut camera = HeadCamera::new(&sim, 320, 240).unwrap_or_else(|e| panic!("{e}"));
        let frame = camera
            .render(&mut sim, MonoTime::ZERO)
            .unwrap_or_else(|e| panic!("{e}"));
        let path = std::env::temp_dir().join(format!("tendon_balls_seed{seed}.ppm"));
        std::fs::write(&path, frame.to_ppm()).unwrap();
        for colour in BallColour::ALL {
            let n = pixels_of(&frame, colour);
            println!(
                "seed {seed}: {} ball, {n} pixels ({})",
                colour.name(),
                path.display()
            );
            if layout.ball(colour).is_some() {
                assert!(
                    n >= 40,
                    "seed {seed}: the {} ball covers {n} pixels",
                    colour.name()
                );
            } else {
                assert!(
                    n < 5,
                    "seed {seed}: no {} ball, yet {n} pixels",
                    colour.name()
                );
            }
        }
    }
    assert_eq!(seen_counts.len(), 3, "{seen_counts:?}");
}

#[test]
fn the_plain_scenario_still_passes_beside_the_stand() {
    use tendon_sim::scenario::run_in_process;
    use tendon_sim::{InProcessOptions, Scenario};
    let mut sim = BallLayout::from_seed(1)
        .load(&common::scene(), SimOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let (report, _) = run_in_process(
        &mut sim,
        &Scenario::stand_squat_sit(),
        InProcessOptions::default(),
        |_, _, _| {},
    );
    assert!(report.passed(), "{:?}", report.failures());
}
