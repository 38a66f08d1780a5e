//! Our controller side against our robot side over real DDS on loopback, and
//! our RPC client against our RPC server. Each test uses its own domain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tendon_bridge::dds::{DdsConfig, DdsError, DdsNode};
use tendon_bridge::endpoint::RobotEndpoint;
use tendon_bridge::hg::LowState;
use tendon_bridge::link::{DdsLinkConfig, DdsRobotLink};
use tendon_bridge::loco::{api, LocoClient};
use tendon_bridge::rpc::{RpcCode, RpcError, RpcReply, RpcServer};
use tendon_core::{Clock, FsmId, LinkError, MotorTargets, RobotLink};

fn lo(domain: u16) -> DdsConfig {
    DdsConfig::new(domain, Some("lo"))
}

#[test]
fn link_refuses_to_send_before_first_state_and_then_echoes_mode_machine() {
    let domain = 61;
    let mut robot = RobotEndpoint::open(&lo(domain), Clock::Real).unwrap();
    let mut cfg = DdsLinkConfig::lowcmd(lo(domain));
    cfg.sole_writer_window = Duration::from_millis(300);
    let link = DdsRobotLink::open(&cfg, Clock::Real).unwrap();
    assert_eq!(
        link.send(&MotorTargets::damping()),
        Err(LinkError::NoStateYet)
    );

    let mut state = LowState {
        mode_machine: 5,
        ..LowState::default()
    };
    state.motor_state[3].q = 0.42;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut received = None;
    let mut tick = 0;
    while Instant::now() < deadline && received.is_none() {
        tick += 2;
        state.tick = tick;
        robot.publish_state(&mut state).unwrap();
        if link.latest_state().is_some() {
            link.send(&MotorTargets::damping()).unwrap();
        }
        received = robot.latest_command();
        std::thread::sleep(Duration::from_millis(2));
    }
    let got = received.expect("robot side received no LowCmd within 10 s");
    assert_eq!(got.cmd.mode_machine, 5, "mode_machine must be echoed");
    assert!(got.cmd.check_crc().is_ok());
    assert_eq!(got.cmd.to_targets(), MotorTargets::damping());
    let s = link.latest_state().unwrap();
    assert_eq!(s.motors[3].q_rad, 0.42);
    assert_eq!(robot.stats().crc_errors, 0);

    let mut nan = MotorTargets::damping();
    nan.motors[12].q_rad = f32::NAN;
    assert_eq!(
        link.send(&nan),
        Err(LinkError::NonFiniteTarget { slot: 12 })
    );
    assert!(link.stats().commands_refused >= 2);
}

#[test]
fn stale_state_is_reported() {
    let domain = 62;
    let mut robot = RobotEndpoint::open(&lo(domain), Clock::Real).unwrap();
    let mut cfg = DdsLinkConfig::lowcmd(lo(domain));
    cfg.sole_writer_window = Duration::ZERO;
    let link = DdsRobotLink::open(&cfg, Clock::Real).unwrap();
    let clock = Clock::Real;
    assert!(
        link.is_stale(clock.now(), Duration::from_millis(100)),
        "no state yet counts as stale"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while link.latest_state().is_none() && Instant::now() < deadline {
        robot.publish_state(&mut LowState::default()).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!link.is_stale(clock.now(), Duration::from_millis(100)));
    std::thread::sleep(Duration::from_millis(150));
    assert!(link.is_stale(clock.now(), Duration::from_millis(100)));
    // A state after the gap counts one stale episode.
    robot.publish_state(&mut LowState::default()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while link.detailed_stats().stale_gaps == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(link.detailed_stats().stale_gaps, 1);
}

#[test]
fn second_writer_on_lowcmd_is_refused() {
    let domain = 63;
    let _first = DdsRobotLink::open(&DdsLinkConfig::lowcmd(lo(domain)), Clock::Real).unwrap();
    let mut cfg = DdsLinkConfig::lowcmd(lo(domain));
    cfg.sole_writer_window = Duration::from_secs(5);
    match DdsRobotLink::open(&cfg, Clock::Real) {
        Err(DdsError::SecondWriter { topic, .. }) => assert_eq!(topic, "rt/lowcmd"),
        Err(e) => panic!("expected SecondWriter, got {e}"),
        Ok(_) => panic!("a second controller was allowed to take rt/lowcmd"),
    }
}

#[test]
fn rpc_without_server_times_out_within_deadline() {
    let node = DdsNode::new(&lo(64)).unwrap();
    for timeout_ms in [200u64, 700] {
        let mut loco = LocoClient::new(&node, "sport", Duration::from_millis(timeout_ms)).unwrap();
        let start = Instant::now();
        let err = loco.set_fsm_id(FsmId::Damp).unwrap_err();
        let took = start.elapsed();
        assert!(
            matches!(err, RpcError::Timeout { api_id: 7101, .. }),
            "{err}"
        );
        let diff_ms = (took.as_secs_f64() * 1e3 - timeout_ms as f64).abs();
        assert!(diff_ms <= 50.0, "timeout {timeout_ms} ms took {took:?}");
        assert!(err.to_string().contains("timed out"));
    }
}

#[test]
fn rpc_round_trip_between_our_client_and_our_server() {
    let domain = 65;
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = stop.clone();
    let server = std::thread::spawn(move || {
        let node = DdsNode::new(&lo(domain)).unwrap();
        let mut server = RpcServer::new(&node, "sport").unwrap();
        let mut fsm = 1u32;
        server
            .serve_until(&server_stop, &mut |req| match req.header.api_id {
                api::GET_FSM_ID => RpcReply::ok(format!("{{\"data\": {fsm}}}")),
                api::SET_FSM_ID => {
                    let v: serde_json::Value = serde_json::from_str(&req.parameter).unwrap();
                    match v["data"].as_u64().and_then(|id| FsmId::from_id(id as u32)) {
                        Some(f) => {
                            fsm = f.id();
                            RpcReply::ok("")
                        }
                        None => RpcReply::error(RpcCode::InvalidFsmId),
                    }
                }
                _ => RpcReply::error(RpcCode::NotImplemented),
            })
            .unwrap()
    });
    let node = DdsNode::new(&lo(domain)).unwrap();
    let mut loco = LocoClient::new(&node, "sport", Duration::from_secs(5)).unwrap();
    loco.set_fsm_id(FsmId::StandUp).unwrap();
    assert_eq!(loco.get_fsm_id().unwrap().fsm, Some(FsmId::StandUp));
    let err = loco
        .rpc()
        .call(api::SET_FSM_ID, "{\"data\": 12345}")
        .unwrap_err();
    assert!(
        matches!(
            err,
            RpcError::Server {
                code: RpcCode::InvalidFsmId,
                ..
            }
        ),
        "{err}"
    );
    let err = loco.get_fsm_mode().unwrap_err();
    assert!(
        matches!(
            err,
            RpcError::Server {
                code: RpcCode::NotImplemented,
                ..
            }
        ),
        "{err}"
    );
    stop.store(true, Ordering::SeqCst);
    assert_eq!(server.join().unwrap(), 4);
}
