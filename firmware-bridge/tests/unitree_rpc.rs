//! RPC against Unitree's Python SDK: our loco client against a server built on
//! the SDK's `rpc.server.Server`, and the SDK's `LocoClient` against our server.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::PeerProcess;
use tendon_bridge::dds::{DdsConfig, DdsNode};
use tendon_bridge::loco::{api, ArmTask, LocoClient};
use tendon_bridge::rpc::{RpcCode, RpcError, RpcReply, RpcServer};
use tendon_core::FsmId;

#[test]
fn our_loco_client_against_unitree_sdk_server() {
    let _serial = common::serial();
    let peer = PeerProcess::spawn(
        "rpc_server.py",
        &[
            "--domain",
            "81",
            "--iface",
            "lo",
            "--service",
            "sport",
            "--duration",
            "8",
        ],
    );
    let node = DdsNode::new(&DdsConfig::new(81, Some("lo"))).unwrap();
    let mut loco = LocoClient::new(&node, "sport", Duration::from_secs(5)).unwrap();
    loco.set_fsm_id(FsmId::StandUp).unwrap();
    assert_eq!(loco.get_fsm_id().unwrap().fsm, Some(FsmId::StandUp));
    loco.set_fsm_id(FsmId::Start).unwrap();
    let report = loco.get_fsm_id().unwrap();
    assert_eq!((report.raw_id, report.fsm), (500, Some(FsmId::Start)));
    loco.set_velocity(0.3, 0.0, 0.1, 1.0).unwrap();
    loco.set_arm_task(ArmTask::Wave).unwrap();
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
    let err = loco.rpc().call(9999, "{}").unwrap_err();
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
    drop(loco);
    let summary = peer.summary(Duration::from_secs(20));
    let requests = summary["requests"].as_array().unwrap();
    let set_fsm: Vec<&str> = requests
        .iter()
        .filter(|r| r["api_id"] == api::SET_FSM_ID)
        .map(|r| r["parameter"].as_str().unwrap())
        .collect();
    assert_eq!(
        set_fsm,
        ["{\"data\": 4}", "{\"data\": 500}", "{\"data\": 12345}"]
    );
    assert_eq!(summary["final_fsm_id"], 500);
}

#[test]
fn unitree_sdk_loco_client_against_our_server() {
    let _serial = common::serial();
    let domain = 82;
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = stop.clone();
    let server = std::thread::spawn(move || {
        let node = DdsNode::new(&DdsConfig::new(domain, Some("lo"))).unwrap();
        let mut server = RpcServer::new(&node, "sport").unwrap();
        let mut fsm = FsmId::Damp;
        let mut seen = Vec::new();
        server
            .serve_until(&server_stop, &mut |req| {
                seen.push((req.header.api_id, req.parameter.clone()));
                match req.header.api_id {
                    api::GET_FSM_ID => RpcReply::ok(format!("{{\"data\": {}}}", fsm.id())),
                    api::SET_FSM_ID => {
                        let v: serde_json::Value = match serde_json::from_str(&req.parameter) {
                            Ok(v) => v,
                            Err(_) => return RpcReply::error(RpcCode::BadParameter),
                        };
                        match v["data"].as_u64().and_then(|id| FsmId::from_id(id as u32)) {
                            Some(f) => {
                                fsm = f;
                                RpcReply::ok("")
                            }
                            None => RpcReply::error(RpcCode::InvalidFsmId),
                        }
                    }
                    _ => RpcReply::error(RpcCode::NotImplemented),
                }
            })
            .unwrap();
        seen
    });
    let summary = common::run_peer(
        "rpc_client.py",
        &[
            "--domain",
            &domain.to_string(),
            "--iface",
            "lo",
            "--service",
            "sport",
            "--fsm-id",
            "500",
            "--timeout-s",
            "5",
        ],
    );
    stop.store(true, Ordering::SeqCst);
    let seen = server.join().unwrap();
    let summary: serde_json::Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    eprintln!("SDK client: {summary}\nour server saw: {seen:?}");
    assert_eq!(summary["set_fsm_id_code"], 0);
    assert_eq!(summary["get_fsm_id_code"], 0);
    assert_eq!(summary["fsm_id_read_back"], 500);
    assert!(
        seen.contains(&(api::SET_FSM_ID, "{\"data\": 500}".to_string())),
        "{seen:?}"
    );
}
