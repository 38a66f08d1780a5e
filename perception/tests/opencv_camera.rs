//! OpenCV camera source (feature `opencv`; needs libopencv-dev). This machine
//! has no camera, so only the missing-device path is checked here.
#![cfg(feature = "opencv")]

use tendon_perception::{OpenCvCamera, PerceptionError};

#[test]
fn a_missing_camera_is_an_error_naming_the_device() {
    let err = OpenCvCamera::open(99, 640, 480, 30.0)
        .err()
        .expect("/dev/video99 must not open");
    assert!(matches!(err, PerceptionError::Camera { .. }), "{err}");
    assert!(err.to_string().contains("/dev/video99"), "{err}");
}
