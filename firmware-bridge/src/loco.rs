//! Clients of the G1's high-level services: the locomotion service (`sport`
//! on current firmware, `loco` on older) and the motion switcher
//! (g1-protocol.md §6).

use std::time::Duration;

use tendon_core::FsmId;

use crate::dds::DdsNode;
use crate::rpc::{Response, RpcClient, RpcError};

/// Service name on ai_sport ≥ 8.2.
pub const LOCO_SERVICE: &str = "sport";
/// Service name on older firmware.
pub const LOCO_SERVICE_LEGACY: &str = "loco";
pub const LOCO_API_VERSION: &str = "1.0.0.0";

pub mod api {
    pub const GET_FSM_ID: i64 = 7001;
    pub const GET_FSM_MODE: i64 = 7002;
    pub const GET_BALANCE_MODE: i64 = 7003;
    pub const GET_SWING_HEIGHT: i64 = 7004;
    pub const GET_STAND_HEIGHT: i64 = 7005;
    pub const SET_FSM_ID: i64 = 7101;
    pub const SET_BALANCE_MODE: i64 = 7102;
    pub const SET_SWING_HEIGHT: i64 = 7103;
    pub const SET_STAND_HEIGHT: i64 = 7104;
    pub const SET_VELOCITY: i64 = 7105;
    pub const SET_ARM_TASK: i64 = 7106;
    pub const SET_SPEED_MODE: i64 = 7107;
    pub const SWITCH_TO_USER_CTRL: i64 = 7110;
    pub const SWITCH_TO_INTERNAL_CTRL: i64 = 7111;
}

/// Arm tasks of SetArmTask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArmTask {
    Wave = 0,
    WaveAndTurn = 1,
    ShakeHandStart = 2,
    ShakeHandEnd = 3,
}

/// The FSM the service reports: the raw id, and its meaning where known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsmReport {
    pub raw_id: u32,
    pub fsm: Option<FsmId>,
}

/// Client of the loco service.
pub struct LocoClient {
    rpc: RpcClient,
}

/// `{"data": <value>}` with Python's `json.dumps` spacing, as Unitree's
/// clients send it (the SetFsmId wire vector depends on the space).
fn data_param(value: impl std::fmt::Display) -> String {
    format!("{{\"data\": {value}}}")
}

fn parse_data_field(
    rpc: &RpcClient,
    api_id: i64,
    reply: &Response,
) -> Result<serde_json::Value, RpcError> {
    let bad = |detail: String| RpcError::BadReply {
        service: rpc.service().to_string(),
        api_id,
        detail,
        data: reply.data.clone(),
    };
    let v: serde_json::Value =
        serde_json::from_str(&reply.data).map_err(|e| bad(format!("not JSON: {e}")))?;
    v.get("data")
        .cloned()
        .ok_or_else(|| bad("no \"data\" field".into()))
}

impl LocoClient {
    pub fn new(node: &DdsNode, service: &str, timeout: Duration) -> Result<LocoClient, RpcError> {
        Ok(LocoClient {
            rpc: RpcClient::new(node, service, timeout)?,
        })
    }

    pub fn rpc(&mut self) -> &mut RpcClient {
        &mut self.rpc
    }

    fn get_u32(&mut self, api_id: i64) -> Result<u32, RpcError> {
        let reply = self.rpc.call(api_id, "")?;
        let v = parse_data_field(&self.rpc, api_id, &reply)?;
        v.as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| RpcError::BadReply {
                service: self.rpc.service().to_string(),
                api_id,
                detail: "\"data\" is not an unsigned integer".into(),
                data: reply.data.clone(),
            })
    }

    pub fn get_fsm_id(&mut self) -> Result<FsmReport, RpcError> {
        let raw_id = self.get_u32(api::GET_FSM_ID)?;
        Ok(FsmReport {
            raw_id,
            fsm: FsmId::from_id(raw_id),
        })
    }

    pub fn get_fsm_mode(&mut self) -> Result<u32, RpcError> {
        self.get_u32(api::GET_FSM_MODE)
    }

    pub fn set_fsm_id(&mut self, fsm: FsmId) -> Result<Response, RpcError> {
        self.rpc.call(api::SET_FSM_ID, &data_param(fsm.id()))
    }

    /// Body-frame velocity command: vx, vy in m/s, wz in rad/s, for `duration_s`.
    pub fn set_velocity(
        &mut self,
        vx_m_s: f32,
        vy_m_s: f32,
        wz_rad_s: f32,
        duration_s: f32,
    ) -> Result<Response, RpcError> {
        let p = format!(
            "{{\"velocity\": [{:?}, {:?}, {:?}], \"duration\": {:?}}}",
            vx_m_s as f64, vy_m_s as f64, wz_rad_s as f64, duration_s as f64
        );
        self.rpc.call(api::SET_VELOCITY, &p)
    }

    pub fn set_arm_task(&mut self, task: ArmTask) -> Result<Response, RpcError> {
        self.rpc.call(api::SET_ARM_TASK, &data_param(task as u32))
    }

    pub fn set_balance_mode(&mut self, mode: u32) -> Result<Response, RpcError> {
        self.rpc.call(api::SET_BALANCE_MODE, &data_param(mode))
    }

    pub fn set_stand_height(&mut self, height: f32) -> Result<Response, RpcError> {
        self.rpc.call(
            api::SET_STAND_HEIGHT,
            &data_param(format!("{:?}", height as f64)),
        )
    }
}

pub const MOTION_SWITCHER_SERVICE: &str = "motion_switcher";
pub const MOTION_SWITCHER_API_VERSION: &str = "1.0.0.1";
pub const MS_CHECK_MODE: i64 = 1001;
pub const MS_SELECT_MODE: i64 = 1002;
pub const MS_RELEASE_MODE: i64 = 1003;

/// The high-level mode the motion switcher reports; an empty name means
/// nothing runs and low-level control may take over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotionMode {
    pub form: String,
    pub name: String,
}

/// Client of the motion switcher.
pub struct MotionSwitcherClient {
    rpc: RpcClient,
}

impl MotionSwitcherClient {
    pub fn new(node: &DdsNode, timeout: Duration) -> Result<Self, RpcError> {
        Ok(MotionSwitcherClient {
            rpc: RpcClient::new(node, MOTION_SWITCHER_SERVICE, timeout)?,
        })
    }

    pub fn check_mode(&mut self) -> Result<MotionMode, RpcError> {
        let reply = self.rpc.call(MS_CHECK_MODE, "")?;
        let v: serde_json::Value =
            serde_json::from_str(&reply.data).map_err(|e| RpcError::BadReply {
                service: MOTION_SWITCHER_SERVICE.into(),
                api_id: MS_CHECK_MODE,
                detail: format!("not JSON: {e}"),
                data: reply.data.clone(),
            })?;
        let field = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_default()
                .to_string()
        };
        Ok(MotionMode {
            form: field("form"),
            name: field("name"),
        })
    }

    pub fn select_mode(&mut self, name: &str) -> Result<Response, RpcError> {
        let p = serde_json::json!({ "name": name }).to_string();
        self.rpc.call(MS_SELECT_MODE, &p)
    }

    pub fn release_mode(&mut self) -> Result<Response, RpcError> {
        self.rpc.call(MS_RELEASE_MODE, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_param_uses_python_spacing() {
        assert_eq!(data_param(500), "{\"data\": 500}");
    }
}
