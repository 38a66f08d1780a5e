//! The closed-loop demo's world: a stand in front of the robot carrying
//! coloured balls (red, green, blue). Which balls are present and where they
//! sit on the stand's top come from a seed, inside a region in front of the
//! chest that the arms reach and the head camera sees. The balls are static
//! bodies (no joints), so the robot's qpos layout, and everything that
//! relies on it, is unchanged.
//!
//! MuJoCo resolves the G1's mesh paths against the directory of the file it
//! loads, so the world is written as a small scene next to the G1's
//! `scene.xml` that includes it, loaded, and removed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tendon_core::rng::SplitMix64;

use crate::error::SimError;
use crate::world::{G1Sim, SimOptions};

/// A ball colour; also the ball's body name in the scene (`ball_red`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BallColour {
    Red,
    Green,
    Blue,
}

impl BallColour {
    pub const ALL: [BallColour; 3] = [BallColour::Red, BallColour::Green, BallColour::Blue];

    pub fn name(self) -> &'static str {
        match self {
            BallColour::Red => "red",
            BallColour::Green => "green",
            BallColour::Blue => "blue",
        }
    }

    /// Saturated, so that the camera can tell them apart under any light.
    fn rgba(self) -> &'static str {
        match self {
            BallColour::Red => "0.9 0.05 0.05 1",
            BallColour::Green => "0.05 0.8 0.05 1",
            BallColour::Blue => "0.05 0.1 0.9 1",
        }
    }
}

/// Ball radius, m (about a tennis ball).
pub const BALL_RADIUS_M: f64 = 0.035;
/// Height of the stand's top above the floor, m: between the standing
/// robot's hips (≈ 0.78 m) and shoulders (≈ 1.1 m), so that the arms reach
/// the balls and the head camera sees them whole (at 0.78 m the nearest
/// balls were cut by the frame's bottom edge).
pub const STAND_TOP_M: f64 = 0.9;
/// The stand's near edge in front of the pelvis (the robot faces +x), m.
const STAND_NEAR_X_M: f64 = 0.28;
const STAND_FAR_X_M: f64 = 0.52;
const STAND_HALF_WIDTH_M: f64 = 0.32;
/// Where ball centres may be drawn: within about 0.45 m of the shoulders
/// (the arm is about 0.5 m long) and inside the head camera's view
/// (`tests/balls.rs` renders them).
const BALL_X_RANGE_M: (f64, f64) = (0.32, 0.42);
const BALL_Y_RANGE_M: (f64, f64) = (-0.22, 0.22);
/// Closest two ball centres may be, m.
const MIN_BALL_GAP_M: f64 = 0.10;

/// One ball: its colour and the world position of its centre, m.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ball {
    pub colour: BallColour,
    pub centre_m: [f64; 3],
}

/// Which balls are present and where, drawn from a seed.
#[derive(Debug, Clone, PartialEq)]
pub struct BallLayout {
    pub seed: u64,
    pub balls: Vec<Ball>,
}

impl BallLayout {
    /// One to three balls (each colour at most once), at least
    /// `MIN_BALL_GAP_M` apart, on the stand's top.
    pub fn from_seed(seed: u64) -> BallLayout {
        let mut rng = SplitMix64::new(seed);
        // A non-empty subset of the three colours: 1..=7 as a bit mask.
        let mask = 1 + rng.next_u64() % 7;
        let mut balls: Vec<Ball> = Vec::new();
        for (i, colour) in BallColour::ALL.into_iter().enumerate() {
            if mask & (1 << i) == 0 {
                continue;
            }
            // Rejection sampling; the region fits three balls easily, so a
            // few tries suffice, and the cap keeps it total.
            for _ in 0..1000 {
                let x = rng.uniform_in(BALL_X_RANGE_M.0, BALL_X_RANGE_M.1);
                let y = rng.uniform_in(BALL_Y_RANGE_M.0, BALL_Y_RANGE_M.1);
                let clear = balls
                    .iter()
                    .all(|b| (b.centre_m[0] - x).hypot(b.centre_m[1] - y) >= MIN_BALL_GAP_M);
                if clear {
                    balls.push(Ball {
                        colour,
                        centre_m: [x, y, STAND_TOP_M + BALL_RADIUS_M],
                    });
                    break;
                }
            }
        }
        BallLayout { seed, balls }
    }

    pub fn ball(&self, colour: BallColour) -> Option<&Ball> {
        self.balls.iter().find(|b| b.colour == colour)
    }

    /// A MuJoCo scene that includes `g1_scene` and adds the stand and balls.
    pub fn scene_xml(&self, g1_scene_file_name: &str) -> String {
        let stand_centre_x = 0.5 * (STAND_NEAR_X_M + STAND_FAR_X_M);
        let stand_half_depth = 0.5 * (STAND_FAR_X_M - STAND_NEAR_X_M);
        let half_height = 0.5 * STAND_TOP_M;
        let mut xml = format!(
            "<mujoco model=\"g1 with balls (seed {seed})\">\n  <include file=\"{g1_scene_file_name}\"/>\n  <worldbody>\n    <body name=\"ball_stand\" pos=\"{stand_centre_x} 0 {half_height}\">\n      <geom name=\"ball_stand\" type=\"box\" size=\"{stand_half_depth} {STAND_HALF_WIDTH_M} {half_height}\" rgba=\"0.55 0.45 0.35 1\"/>\n    </body>\n",
            seed = self.seed
        );
        for b in &self.balls {
            let [x, y, z] = b.centre_m;
            xml.push_str(&format!(
                "    <body name=\"ball_{name}\" pos=\"{x} {y} {z}\">\n      <geom name=\"ball_{name}\" type=\"sphere\" size=\"{BALL_RADIUS_M}\" rgba=\"{rgba}\"/>\n    </body>\n",
                name = b.colour.name(),
                rgba = b.colour.rgba()
            ));
        }
        xml.push_str("  </worldbody>\n</mujoco>\n");
        xml
    }

    /// Loads the G1 in `g1_scene` with this layout added.
    pub fn load(&self, g1_scene: &Path, options: SimOptions) -> Result<G1Sim, SimError> {
        let dir = g1_scene.parent().unwrap_or(Path::new("."));
        let file_name = g1_scene
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| SimError::SceneMissing {
                path: g1_scene.to_path_buf(),
            })?;
        if !g1_scene.is_file() {
            return Err(SimError::SceneMissing {
                path: g1_scene.to_path_buf(),
            });
        }
        // Unique per process and load: tests load worlds in parallel.
        static LOADS: AtomicU64 = AtomicU64::new(0);
        let path: PathBuf = dir.join(format!(
            ".tendon-balls-{}-{}.xml",
            std::process::id(),
            LOADS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, self.scene_xml(file_name)).map_err(|e| SimError::Load {
            path: path.clone(),
            detail: format!(
                "cannot write the ball scene next to the G1 model ({e}); the G1's folder must be writable"
            ),
        })?;
        let loaded = G1Sim::load_with(&path, options);
        let _ = std::fs::remove_file(&path);
        loaded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_one_layout_and_layouts_vary() {
        assert_eq!(BallLayout::from_seed(7), BallLayout::from_seed(7));
        let layouts: Vec<BallLayout> = (0..200).map(BallLayout::from_seed).collect();
        let mut counts = [0usize; 4];
        for l in &layouts {
            counts[l.balls.len()] += 1;
            for b in &l.balls {
                assert!((BALL_X_RANGE_M.0..BALL_X_RANGE_M.1).contains(&b.centre_m[0]));
                assert!((BALL_Y_RANGE_M.0..BALL_Y_RANGE_M.1).contains(&b.centre_m[1]));
                assert_eq!(b.centre_m[2], STAND_TOP_M + BALL_RADIUS_M);
            }
            for (i, a) in l.balls.iter().enumerate() {
                for b in &l.balls[i + 1..] {
                    assert_ne!(a.colour, b.colour);
                    let gap = (a.centre_m[0] - b.centre_m[0]).hypot(a.centre_m[1] - b.centre_m[1]);
                    assert!(gap >= MIN_BALL_GAP_M, "seed {}: {gap}", l.seed);
                }
            }
        }
        assert_eq!(counts[0], 0, "never an empty stand");
        // Subsets of 1, 2 and 3 balls all occur (3, 3 and 1 of the 7 masks).
        assert!(
            counts[1] > 40 && counts[2] > 40 && counts[3] > 10,
            "{counts:?}"
        );
        assert_ne!(layouts[0], layouts[1]);
    }

    #[test]
    fn the_scene_includes_the_g1_and_names_each_present_ball() {
        let layout = BallLayout::from_seed(3);
        let xml = layout.scene_xml("scene.xml");
        assert!(xml.contains("<include file=\"scene.xml\"/>"));
        for c in BallColour::ALL {
            assert_eq!(
                xml.contains(&format!("name=\"ball_{}\"", c.name())),
                layout.ball(c).is_some(),
                "{xml}"
            );
        }
    }
}
