//! 640x480 RGB8 -> 196 x 768 patches (bilinear letterbox resize to 224 +
//! SigLIP normalisation + patchify), against the same operation in numpy
//! (python/patchify_ref.py), alternating Rust and numpy batches in one run.
//!
//! Also: normalise + patchify alone on a 224x224 frame (no resize), against
//! numpy's `(x/255 - mean)/std` + reshape/transpose.
//!
//!   TENDON_PERCEPTION_PYTHON=$(scripts/install-perception.sh) cargo bench -p tendon-perception --bench patchify
//!
//! or scripts/bench-patchify.sh. Env: BENCH_ROUNDS (default 21).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use tendon_perception::{Fit, PreprocessConfig, Preprocessor, RgbView};

const SRC_W: usize = 640;
const SRC_H: usize = 480;

fn noise_image(width_px: usize, height_px: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..width_px * height_px * 3)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect()
}

struct Numpy {
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
    child: std::process::Child,
}

impl Numpy {
    /// Mean ns per call of `op` over `n` calls, timed inside Python.
    fn time(&mut self, op: &str, n: usize) -> f64 {
        writeln!(self.stdin, "{op} {n}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim()
            .parse()
            .unwrap_or_else(|_| panic!("numpy peer answered '{line}'"))
    }
}

/// Mean ns per call of `f` over `n` calls.
fn time_rust(n: usize, mut f: impl FnMut()) -> f64 {
    let t0 = Instant::now();
    for _ in 0..n {
        f();
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn main() {
    let python = std::env::var_os("TENDON_PERCEPTION_PYTHON").unwrap_or_else(|| {
        eprintln!(
            "TENDON_PERCEPTION_PYTHON is not set; the numpy anchor needs it. Run scripts/bench-patchify.sh, \
             or export TENDON_PERCEPTION_PYTHON=$(scripts/install-perception.sh)"
        );
        std::process::exit(2);
    });
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);

    let pixels = noise_image(SRC_W, SRC_H);
    let input =
        std::env::temp_dir().join(format!("tendon-bench-patchify-{}.u8", std::process::id()));
    std::fs::write(&input, &pixels).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/patchify_ref.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(["bench", "--input"])
        .arg(&input)
        .args([
            "--width", "640", "--height", "480", "--size", "224", "--patch", "16",
        ])
        .args([
            "--fit",
            "letterbox",
            "--pad",
            "0,0,0",
            "--mean",
            "0.5,0.5,0.5",
            "--std",
            "0.5,0.5,0.5",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the numpy peer");
    let mut numpy = Numpy {
        stdin: child.stdin.take().unwrap(),
        stdout: BufReader::new(child.stdout.take().unwrap()),
        child,
    };
    let mut ready = String::new();
    numpy.stdout.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready", "numpy peer did not start");

    // Full operation: default config is 224 letterbox, black bars, SigLIP.
    let mut full = Preprocessor::new(PreprocessConfig::default()).unwrap();
    let vga = RgbView::new(SRC_W, SRC_H, &pixels).unwrap();
    let mut out = vec![0.0f32; full.layout().len()];
    // Patchify only: a 224x224 frame (the top-left crop numpy also uses);
    // with a 1:1 scale the resize reduces to a copy.
    let small: Vec<u8> = pixels
        .chunks_exact(SRC_W * 3)
        .take(224)
        .flat_map(|row| row[..224 * 3].iter().copied())
        .collect();
    let small_view = RgbView::new(224, 224, &small).unwrap();
    let mut identity = Preprocessor::new(PreprocessConfig {
        fit: Fit::CenterCrop,
        ..PreprocessConfig::default()
    })
    .unwrap();

    // Batch sizes of roughly 20-50 ms each.
    let (n_rust, n_numpy) = (100, 10);
    full.patchify_into(vga, &mut out).unwrap();
    numpy.time("full", 2);
    numpy.time("patchify", 2);

    let mut series: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        series[0].push(time_rust(n_rust, || {
            full.patchify_into(vga, &mut out).unwrap()
        }));
        series[1].push(numpy.time("full", n_numpy));
        series[2].push(time_rust(n_rust, || {
            identity.patchify_into(small_view, &mut out).unwrap()
        }));
        series[3].push(numpy.time("patchify", n_numpy * 4));
    }
    drop(numpy.stdin);
    let _ = numpy.child.wait();
    let _ = std::fs::remove_file(&input);

    let us = |ns: f64| ns / 1000.0;
    println!("perception patchify benchmark: {rounds} rounds, alternating Rust and numpy batches");
    println!(
        "{:<58} {:>10} {:>10} {:>10}",
        "operation (per call, us)", "median", "min", "max"
    );
    let labels = [
        "rust  640x480 -> 196x768 (resize+normalise+patchify)",
        "numpy 640x480 -> 196x768 (resize+normalise+patchify)",
        "rust  224x224 -> 196x768 (normalise+patchify)",
        "numpy 224x224 -> 196x768 (normalise+reshape/transpose)",
    ];
    let mut medians = [0.0; 4];
    for (i, (label, s)) in labels.iter().zip(series).enumerate() {
        let (median, min, max) = stats(s);
        medians[i] = median;
        println!(
            "{label:<58} {:>10.1} {:>10.1} {:>10.1}",
            us(median),
            us(min),
            us(max)
        );
    }
    println!(
        "ratio numpy/rust (median): full {:.1}x, normalise+patchify {:.1}x; goal full <= 1000 us: {}",
        medians[1] / medians[0],
        medians[3] / medians[2],
        if medians[0] <= 1e6 { "met" } else { "NOT met" }
    );
}
