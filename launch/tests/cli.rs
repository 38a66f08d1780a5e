//! The `tendon` binary's error paths: bad input gets a message that names
//! the problem and the fix, and a non-zero exit.

mod common;

use common::tendon;

#[test]
fn unknown_fsm_name_lists_the_valid_ones() {
    let (code, _, err) = tendon(&["bridge", "fsm", "fly", "--iface", "lo", "--domain", "120"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown FSM 'fly'"), "{err}");
    assert!(
        err.contains("stand_up (4)") && err.contains("start (500)"),
        "{err}"
    );
}

#[test]
fn unknown_interface_names_the_available_ones() {
    let (code, _, err) = tendon(&[
        "bridge",
        "monitor",
        "--iface",
        "nosuch0",
        "--domain",
        "121",
        "--duration",
        "0",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("'nosuch0' not found") && err.contains("lo"),
        "{err}"
    );
}

#[test]
fn damp_without_a_robot_explains_what_to_check() {
    let (code, _, err) = tendon(&[
        "bridge",
        "damp",
        "--iface",
        "lo",
        "--domain",
        "122",
        "--wait-state-s",
        "0.5",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no LowState on domain 122 on lo"), "{err}");
    assert!(err.contains("--iface/--domain"), "{err}");
}

#[test]
fn fsm_request_without_service_is_a_typed_timeout() {
    let (code, _, err) = tendon(&[
        "bridge",
        "fsm",
        "damp",
        "--iface",
        "lo",
        "--domain",
        "123",
        "--timeout-ms",
        "300",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("timed out") && err.contains("'sport'"),
        "{err}"
    );
}
