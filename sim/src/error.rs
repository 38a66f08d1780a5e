//! Errors of the simulator. Each names the problem and what to do about it.

use std::path::PathBuf;

use tendon_bridge::dds::DdsError;
use tendon_bridge::rpc::RpcError;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("G1 scene not found at '{}'; run scripts/install.sh (it installs libmujoco and the menagerie unitree_g1 model into ${{TENDON_CACHE:-~/.cache/tendon}}), or point TENDON_G1_SCENE at a scene.xml", path.display())]
    SceneMissing { path: PathBuf },
    #[error("neither TENDON_G1_SCENE, TENDON_CACHE nor HOME is set, so the G1 scene cannot be located; set TENDON_G1_SCENE to the scene.xml that scripts/install-sim.sh installed")]
    NoSceneLocation,
    #[error("MuJoCo could not load '{}': {detail}; check that the file is the menagerie unitree_g1 scene.xml (re-run scripts/install-sim.sh --force if it is damaged)", path.display())]
    Load { path: PathBuf, detail: String },
    #[error("the model at '{}' is not the 29-DoF G1 this simulator emulates: {detail}; use the menagerie unitree_g1 scene.xml from scripts/install-sim.sh", path.display())]
    ModelMismatch { path: PathBuf, detail: String },
    #[error("render size {width}x{height} exceeds the model's offscreen buffer {max_width}x{max_height} (larger frames come out scrambled); ask for at most {max_width}x{max_height}")]
    RenderSize {
        width: usize,
        height: usize,
        max_width: usize,
        max_height: usize,
    },
    #[error("offscreen rendering failed: {detail}; headless rendering needs EGL with Mesa (apt libegl1 libegl-mesa0 libgl1-mesa-dri, which scripts/install.sh installs)")]
    Render { detail: String },
    #[error(transparent)]
    Dds(#[from] DdsError),
    #[error(transparent)]
    Rpc(#[from] RpcError),
}
