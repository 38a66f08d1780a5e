//! The hg message family (`unitree_hg::msg::dds_`, G1 and H1-2), field for
//! field as in Unitree's IDL (g1-protocol.md §1). Field names follow the IDL so
//! that they can be checked against Unitree's SDK one to one; units are
//! rad, rad/s, N·m, °C and ms. Conversion to and from `tendon_core` types,
//! which carry units in their names, lives at the bottom.

use tendon_core::{
    ImuState, MonoTime, MotorState, MotorTargets, RemoteState, RobotState, NUM_MOTOR_SLOTS,
};

use crate::cdr::{CdrError, CdrMessage, CdrReader, CdrWriter};

pub const LOWCMD_TYPE: &str = "unitree_hg::msg::dds_::LowCmd_";
pub const LOWSTATE_TYPE: &str = "unitree_hg::msg::dds_::LowState_";
pub const IMUSTATE_TYPE: &str = "unitree_hg::msg::dds_::IMUState_";
pub const SPORTMODESTATE_TYPE: &str = "unitree_hg::msg::dds_::SportModeState_";

/// CDR body sizes (without the 4-byte encapsulation header).
pub const LOWCMD_BODY_LEN: usize = 1000;
pub const LOWSTATE_BODY_LEN: usize = 2088;
/// Full serialized payload sizes, header included.
pub const LOWCMD_PAYLOAD_LEN: usize = LOWCMD_BODY_LEN + 4;
pub const LOWSTATE_PAYLOAD_LEN: usize = LOWSTATE_BODY_LEN + 4;

/// A message failed a protocol check after decoding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HgError {
    #[error(transparent)]
    Cdr(#[from] CdrError),
    #[error("{type_name}: CRC mismatch (message carries {carried:#010x}, content gives {computed:#010x}); the frame is corrupt or the sender computes the CRC over the wrong layout")]
    CrcMismatch {
        type_name: &'static str,
        carried: u32,
        computed: u32,
    },
    #[error(
        "{type_name}: field {field}[{index}] is {value} (not finite); the message was dropped"
    )]
    NonFinite {
        type_name: &'static str,
        field: &'static str,
        index: usize,
        value: f32,
    },
}

/// `MotorCmd_`: one motor's command.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MotorCmd {
    /// 1 = enable, 0 = disable.
    pub mode: u8,
    pub q: f32,
    pub dq: f32,
    pub tau: f32,
    pub kp: f32,
    pub kd: f32,
    pub reserve: u32,
}

/// `LowCmd_`: whole-body command on `rt/lowcmd` (and `rt/arm_sdk`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowCmd {
    pub mode_pr: u8,
    pub mode_machine: u8,
    pub motor_cmd: [MotorCmd; NUM_MOTOR_SLOTS],
    pub reserve: [u32; 4],
    pub crc: u32,
}

impl Default for LowCmd {
    fn default() -> Self {
        LowCmd {
            mode_pr: 0,
            mode_machine: 0,
            motor_cmd: [MotorCmd::default(); NUM_MOTOR_SLOTS],
            reserve: [0; 4],
            crc: 0,
        }
    }
}

/// `IMUState_`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ImuStateMsg {
    /// w, x, y, z.
    pub quaternion: [f32; 4],
    pub gyroscope: [f32; 3],
    pub accelerometer: [f32; 3],
    pub rpy: [f32; 3],
    pub temperature: i16,
}

/// `MotorState_`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MotorStateMsg {
    pub mode: u8,
    pub q: f32,
    pub dq: f32,
    pub ddq: f32,
    pub tau_est: f32,
    /// Casing, winding (°C).
    pub temperature: [i16; 2],
    pub vol: f32,
    pub sensor: [u32; 2],
    /// Error code.
    pub motorstate: u32,
    pub reserve: [u32; 4],
}

/// `LowState_`: the robot's full low-level state on `rt/lowstate`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LowState {
    pub version: [u32; 2],
    pub mode_pr: u8,
    pub mode_machine: u8,
    /// ms.
    pub tick: u32,
    pub imu_state: ImuStateMsg,
    pub motor_state: [MotorStateMsg; NUM_MOTOR_SLOTS],
    pub wireless_remote: [u8; 40],
    pub reserve: [u32; 4],
    pub crc: u32,
}

impl Default for LowState {
    fn default() -> Self {
        LowState {
            version: [0; 2],
            mode_pr: 0,
            mode_machine: 0,
            tick: 0,
            imu_state: ImuStateMsg::default(),
            motor_state: [MotorStateMsg::default(); NUM_MOTOR_SLOTS],
            wireless_remote: [0; 40],
            reserve: [0; 4],
            crc: 0,
        }
    }
}

/// hg `SportModeState_` on `rt/sportmodestate`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SportModeState {
    pub fsm_id: u32,
    pub fsm_mode: u32,
    pub task_id: u32,
    pub task_time: f32,
}

// ---- CRC over the C layout ------------------------------------------------

/// Words of LowCmd_'s C layout before the crc word.
pub const LOWCMD_CRC_WORDS: usize = 250;
/// Words of LowState_'s C layout before the crc word.
pub const LOWSTATE_CRC_WORDS: usize = 522;

/// Little-endian u32 words of a C struct with natural alignment and zero
/// padding, laid out on the stack and checksummed in one pass (the
/// carry-less CRC folds 16 bytes at a time, so it wants them contiguous).
struct CLayout<const N: usize> {
    words: [u32; N],
    len: usize,
}

impl<const N: usize> CLayout<N> {
    fn new() -> Self {
        CLayout {
            words: [0; N],
            len: 0,
        }
    }

    #[inline(always)]
    fn push(&mut self, w: u32) {
        self.words[self.len] = w;
        self.len += 1;
    }

    #[inline(always)]
    fn push_f32(&mut self, v: f32) {
        self.push(v.to_bits());
    }

    fn crc(self) -> u32 {
        debug_assert_eq!(self.len, N, "C layout word count");
        crate::crc::crc32_words(&self.words[..self.len])
    }
}

impl LowCmd {
    /// CRC over the 1004-byte C layout (250 words without the crc word):
    /// `mode_pr`, `mode_machine` and 2 zero bytes; then per motor `mode` and
    /// 3 zero bytes, 5 f32 and `reserve`; then `reserve[4]`.
    pub fn compute_crc(&self) -> u32 {
        let mut c = CLayout::<LOWCMD_CRC_WORDS>::new();
        c.push(self.mode_pr as u32 | (self.mode_machine as u32) << 8);
        for m in &self.motor_cmd {
            c.push(m.mode as u32);
            c.push_f32(m.q);
            c.push_f32(m.dq);
            c.push_f32(m.tau);
            c.push_f32(m.kp);
            c.push_f32(m.kd);
            c.push(m.reserve);
        }
        for r in self.reserve {
            c.push(r);
        }
        c.crc()
    }

    /// Sets `crc` to match the content.
    pub fn seal(&mut self) {
        self.crc = self.compute_crc();
    }

    pub fn check_crc(&self) -> Result<(), HgError> {
        check_crc(LOWCMD_TYPE, self.crc, self.compute_crc())
    }

    /// Rejects NaN/Inf in any float field.
    pub fn check_finite(&self) -> Result<(), HgError> {
        for (i, m) in self.motor_cmd.iter().enumerate() {
            for (field, v) in [
                ("q", m.q),
                ("dq", m.dq),
                ("tau", m.tau),
                ("kp", m.kp),
                ("kd", m.kd),
            ] {
                if !v.is_finite() {
                    return Err(non_finite(LOWCMD_TYPE, field, i, v));
                }
            }
        }
        Ok(())
    }

    /// Builds a sealed LowCmd from targets, echoing the robot's `mode_machine`
    /// (every official client does; the robot ignores commands that don't).
    pub fn from_targets(targets: &MotorTargets, mode_machine: u8) -> LowCmd {
        let mut cmd = LowCmd {
            mode_machine,
            ..LowCmd::default()
        };
        for (out, t) in cmd.motor_cmd.iter_mut().zip(targets.motors.iter()) {
            *out = MotorCmd {
                mode: t.enabled as u8,
                q: t.q_rad,
                dq: t.dq_rad_s,
                tau: t.tau_nm,
                kp: t.kp,
                kd: t.kd,
                reserve: 0,
            };
        }
        cmd.seal();
        cmd
    }

    /// The targets this command carries.
    pub fn to_targets(&self) -> MotorTargets {
        let mut t = MotorTargets::default();
        for (out, m) in t.motors.iter_mut().zip(self.motor_cmd.iter()) {
            out.enabled = m.mode != 0;
            out.q_rad = m.q;
            out.dq_rad_s = m.dq;
            out.tau_nm = m.tau;
            out.kp = m.kp;
            out.kd = m.kd;
        }
        t
    }
}

impl LowState {
    /// CRC over the 2092-byte C layout (522 words without the crc word).
    pub fn compute_crc(&self) -> u32 {
        let mut c = CLayout::<LOWSTATE_CRC_WORDS>::new();
        c.push(self.version[0]);
        c.push(self.version[1]);
        c.push(self.mode_pr as u32 | (self.mode_machine as u32) << 8);
        c.push(self.tick);
        let imu = &self.imu_state;
        for v in imu
            .quaternion
            .iter()
            .chain(&imu.gyroscope)
            .chain(&imu.accelerometer)
            .chain(&imu.rpy)
        {
            c.push_f32(*v);
        }
        c.push(imu.temperature as u16 as u32);
        for m in &self.motor_state {
            c.push(m.mode as u32);
            c.push_f32(m.q);
            c.push_f32(m.dq);
            c.push_f32(m.ddq);
            c.push_f32(m.tau_est);
            c.push(m.temperature[0] as u16 as u32 | (m.temperature[1] as u16 as u32) << 16);
            c.push_f32(m.vol);
            c.push(m.sensor[0]);
            c.push(m.sensor[1]);
            c.push(m.motorstate);
            for r in m.reserve {
                c.push(r);
            }
        }
        for chunk in self.wireless_remote.chunks_exact(4) {
            c.push(u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]));
        }
        for r in self.reserve {
            c.push(r);
        }
        c.crc()
    }

    pub fn seal(&mut self) {
        self.crc = self.compute_crc();
    }

    pub fn check_crc(&self) -> Result<(), HgError> {
        check_crc(LOWSTATE_TYPE, self.crc, self.compute_crc())
    }

    /// Rejects NaN/Inf in joint and IMU readings.
    pub fn check_finite(&self) -> Result<(), HgError> {
        let imu = &self.imu_state;
        for (field, values) in [
            ("imu_state.quaternion", &imu.quaternion[..]),
            ("imu_state.gyroscope", &imu.gyroscope[..]),
            ("imu_state.accelerometer", &imu.accelerometer[..]),
            ("imu_state.rpy", &imu.rpy[..]),
        ] {
            if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(non_finite(LOWSTATE_TYPE, field, i, *v));
            }
        }
        for (i, m) in self.motor_state.iter().enumerate() {
            for (field, v) in [
                ("motor_state.q", m.q),
                ("motor_state.dq", m.dq),
                ("motor_state.tau_est", m.tau_est),
            ] {
                if !v.is_finite() {
                    return Err(non_finite(LOWSTATE_TYPE, field, i, v));
                }
            }
        }
        Ok(())
    }

    /// Decodes a body and runs every check the bridge applies to robot state:
    /// CDR shape, CRC, finite readings.
    pub fn decode_checked(body: &[u8]) -> Result<LowState, HgError> {
        <LowState as Checked>::validated(LowState::decode_body(body))
    }

    pub fn to_robot_state(&self, received_at: MonoTime) -> RobotState {
        let mut s = RobotState {
            mode_machine: self.mode_machine,
            mode_pr: self.mode_pr,
            tick_ms: self.tick,
            received_at,
            remote: RemoteState::from_wireless_remote(&self.wireless_remote),
            imu: ImuState {
                quat_wxyz: self.imu_state.quaternion,
                gyro_rad_s: self.imu_state.gyroscope,
                accel_m_s2: self.imu_state.accelerometer,
                rpy_rad: self.imu_state.rpy,
                temperature_c: self.imu_state.temperature,
            },
            ..RobotState::default()
        };
        for (out, m) in s.motors.iter_mut().zip(self.motor_state.iter()) {
            *out = MotorState {
                q_rad: m.q,
                dq_rad_s: m.dq,
                tau_est_nm: m.tau_est,
                temp_casing_c: m.temperature[0],
                temp_winding_c: m.temperature[1],
                error_code: m.motorstate,
            };
        }
        s
    }
}

/// A message that carries a CRC and float readings that must be finite.
pub trait Checked: Sized {
    fn check_crc(&self) -> Result<(), HgError>;
    fn check_finite(&self) -> Result<(), HgError>;

    /// Runs every check the bridge applies to a received message.
    fn validated(received: Result<Self, CdrError>) -> Result<Self, HgError> {
        let msg = received?;
        msg.check_crc()?;
        msg.check_finite()?;
        Ok(msg)
    }
}

impl Checked for LowCmd {
    fn check_crc(&self) -> Result<(), HgError> {
        LowCmd::check_crc(self)
    }
    fn check_finite(&self) -> Result<(), HgError> {
        LowCmd::check_finite(self)
    }
}

impl Checked for LowState {
    fn check_crc(&self) -> Result<(), HgError> {
        LowState::check_crc(self)
    }
    fn check_finite(&self) -> Result<(), HgError> {
        LowState::check_finite(self)
    }
}

/// Counters of dropped messages, by cause.
#[derive(Debug, Default)]
pub struct DropCounters {
    pub crc_errors: std::sync::atomic::AtomicU64,
    pub decode_errors: std::sync::atomic::AtomicU64,
    pub non_finite: std::sync::atomic::AtomicU64,
}

impl DropCounters {
    pub fn count(&self, err: &HgError) {
        use std::sync::atomic::Ordering::Relaxed;
        match err {
            HgError::CrcMismatch { .. } => self.crc_errors.fetch_add(1, Relaxed),
            HgError::NonFinite { .. } => self.non_finite.fetch_add(1, Relaxed),
            HgError::Cdr(_) => self.decode_errors.fetch_add(1, Relaxed),
        };
    }
}

fn check_crc(type_name: &'static str, carried: u32, computed: u32) -> Result<(), HgError> {
    if carried == computed {
        Ok(())
    } else {
        Err(HgError::CrcMismatch {
            type_name,
            carried,
            computed,
        })
    }
}

fn non_finite(type_name: &'static str, field: &'static str, index: usize, value: f32) -> HgError {
    HgError::NonFinite {
        type_name,
        field,
        index,
        value,
    }
}

// ---- CDR ------------------------------------------------------------------

fn write_f32s(w: &mut CdrWriter<'_>, values: &[f32]) {
    for v in values {
        w.f32(*v);
    }
}

fn read_f32s<const N: usize>(r: &mut CdrReader<'_>) -> Result<[f32; N], CdrError> {
    let mut out = [0.0; N];
    for v in &mut out {
        *v = r.f32()?;
    }
    Ok(out)
}

fn read_u32s<const N: usize>(r: &mut CdrReader<'_>) -> Result<[u32; N], CdrError> {
    let mut out = [0; N];
    for v in &mut out {
        *v = r.u32()?;
    }
    Ok(out)
}

impl MotorCmd {
    fn encode(&self, w: &mut CdrWriter<'_>) {
        w.u8(self.mode);
        write_f32s(w, &[self.q, self.dq, self.tau, self.kp, self.kd]);
        w.u32(self.reserve);
    }

    fn decode(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(MotorCmd {
            mode: r.u8()?,
            q: r.f32()?,
            dq: r.f32()?,
            tau: r.f32()?,
            kp: r.f32()?,
            kd: r.f32()?,
            reserve: r.u32()?,
        })
    }
}

impl CdrMessage for LowCmd {
    const TYPE_NAME: &'static str = LOWCMD_TYPE;

    fn encode_body(&self, w: &mut CdrWriter<'_>) {
        w.u8(self.mode_pr);
        w.u8(self.mode_machine);
        for m in &self.motor_cmd {
            m.encode(w);
        }
        for r in self.reserve {
            w.u32(r);
        }
        w.u32(self.crc);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let mut cmd = LowCmd {
            mode_pr: r.u8()?,
            mode_machine: r.u8()?,
            ..LowCmd::default()
        };
        for m in &mut cmd.motor_cmd {
            *m = MotorCmd::decode(r)?;
        }
        cmd.reserve = read_u32s(r)?;
        cmd.crc = r.u32()?;
        Ok(cmd)
    }
}

impl CdrMessage for ImuStateMsg {
    const TYPE_NAME: &'static str = IMUSTATE_TYPE;

    fn encode_body(&self, w: &mut CdrWriter<'_>) {
        write_f32s(w, &self.quaternion);
        write_f32s(w, &self.gyroscope);
        write_f32s(w, &self.accelerometer);
        write_f32s(w, &self.rpy);
        w.i16(self.temperature);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(ImuStateMsg {
            quaternion: read_f32s(r)?,
            gyroscope: read_f32s(r)?,
            accelerometer: read_f32s(r)?,
            rpy: read_f32s(r)?,
            temperature: r.i16()?,
        })
    }
}

impl MotorStateMsg {
    fn encode(&self, w: &mut CdrWriter<'_>) {
        w.u8(self.mode);
        write_f32s(w, &[self.q, self.dq, self.ddq, self.tau_est]);
        w.i16(self.temperature[0]);
        w.i16(self.temperature[1]);
        w.f32(self.vol);
        w.u32(self.sensor[0]);
        w.u32(self.sensor[1]);
        w.u32(self.motorstate);
        for r in self.reserve {
            w.u32(r);
        }
    }

    fn decode(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(MotorStateMsg {
            mode: r.u8()?,
            q: r.f32()?,
            dq: r.f32()?,
            ddq: r.f32()?,
            tau_est: r.f32()?,
            temperature: [r.i16()?, r.i16()?],
            vol: r.f32()?,
            sensor: read_u32s(r)?,
            motorstate: r.u32()?,
            reserve: read_u32s(r)?,
        })
    }
}

impl CdrMessage for LowState {
    const TYPE_NAME: &'static str = LOWSTATE_TYPE;

    fn encode_body(&self, w: &mut CdrWriter<'_>) {
        w.u32(self.version[0]);
        w.u32(self.version[1]);
        w.u8(self.mode_pr);
        w.u8(self.mode_machine);
        w.u32(self.tick);
        self.imu_state.encode_body(w);
        for m in &self.motor_state {
            m.encode(w);
        }
        w.bytes(&self.wireless_remote);
        for r in self.reserve {
            w.u32(r);
        }
        w.u32(self.crc);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        let mut s = LowState {
            version: read_u32s(r)?,
            mode_pr: r.u8()?,
            mode_machine: r.u8()?,
            tick: r.u32()?,
            imu_state: ImuStateMsg::decode_fields(r)?,
            ..LowState::default()
        };
        for m in &mut s.motor_state {
            *m = MotorStateMsg::decode(r)?;
        }
        s.wireless_remote = r.bytes()?;
        s.reserve = read_u32s(r)?;
        s.crc = r.u32()?;
        Ok(s)
    }
}

impl CdrMessage for SportModeState {
    const TYPE_NAME: &'static str = SPORTMODESTATE_TYPE;

    fn encode_body(&self, w: &mut CdrWriter<'_>) {
        w.u32(self.fsm_id);
        w.u32(self.fsm_mode);
        w.u32(self.task_id);
        w.f32(self.task_time);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(SportModeState {
            fsm_id: r.u32()?,
            fsm_mode: r.u32()?,
            task_id: r.u32()?,
            task_time: r.f32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tendon_core::MotorTarget;

    fn crc_vector_3() -> LowCmd {
        let mut cmd = LowCmd {
            mode_machine: 5,
            ..LowCmd::default()
        };
        for i in 0..29 {
            cmd.motor_cmd[i] = MotorCmd {
                mode: 1,
                // Unitree computed the vector in Python: the product is a double, rounded once to f32.
                q: (0.01f64 * i as f64) as f32,
                kp: 60.0 + i as f32,
                kd: 1.5,
                ..MotorCmd::default()
            };
        }
        cmd
    }

    #[test]
    fn crc_test_vectors_from_unitree() {
        assert_eq!(LowCmd::default().compute_crc(), 0xFE17_2F9F);
        assert_eq!(LowState::default().compute_crc(), 0xD64B_B04A);
        assert_eq!(crc_vector_3().compute_crc(), 0x8E3F_FDB6);
        let mut two = LowCmd::default();
        two.motor_cmd[3] = MotorCmd {
            q: 0.5,
            kp: 25.0,
            kd: 0.5,
            ..MotorCmd::default()
        };
        two.motor_cmd[15] = MotorCmd {
            q: 0.2,
            kp: 25.0,
            kd: 0.5,
            ..MotorCmd::default()
        };
        assert_eq!(two.compute_crc(), 0xF036_ADB0);
    }

    #[test]
    fn crc_equals_bitwise_crc_of_c_layout_bytes() {
        // Build the C layout byte by byte (zero padding) and run the slow definition.
        let cmd = crc_vector_3();
        let mut c = vec![cmd.mode_pr, cmd.mode_machine, 0, 0];
        for m in &cmd.motor_cmd {
            c.extend_from_slice(&[m.mode, 0, 0, 0]);
            for f in [m.q, m.dq, m.tau, m.kp, m.kd] {
                c.extend_from_slice(&f.to_le_bytes());
            }
            c.extend_from_slice(&m.reserve.to_le_bytes());
        }
        for r in cmd.reserve {
            c.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(c.len(), 1000);
        let words: Vec<u32> = c
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        assert_eq!(crate::crc::crc32_words_bitwise(&words), cmd.compute_crc());
    }

    #[test]
    fn lowcmd_cdr_offsets_match_protocol_doc() {
        let mut cmd = crc_vector_3();
        cmd.motor_cmd[0].mode = 0xAB;
        cmd.motor_cmd[0].q = f32::from_bits(0x1122_3344);
        cmd.reserve[0] = 0xDEAD_BEEF;
        cmd.seal();
        let payload = cmd.to_payload();
        assert_eq!(payload.len(), LOWCMD_PAYLOAD_LEN);
        let body = &payload[4..];
        assert_eq!(body[2], 0xAB, "motor_cmd[0].mode @2");
        assert_eq!(
            &body[4..8],
            &0x1122_3344u32.to_le_bytes(),
            "motor_cmd[0].q @4"
        );
        assert_eq!(
            &body[980..984],
            &0xDEAD_BEEFu32.to_le_bytes(),
            "reserve @980"
        );
        assert_eq!(&body[996..1000], &cmd.crc.to_le_bytes(), "crc @996");
        assert_eq!(LowCmd::decode_payload(&payload).unwrap(), cmd);
    }

    #[test]
    fn lowstate_body_is_2088_bytes_and_round_trips() {
        let mut s = LowState {
            tick: 1234,
            mode_machine: 5,
            ..LowState::default()
        };
        s.motor_state[28].q = -1.25;
        s.motor_state[7].temperature = [-3, 90];
        s.wireless_remote[39] = 7;
        s.seal();
        let payload = s.to_payload();
        assert_eq!(payload.len(), LOWSTATE_PAYLOAD_LEN);
        let back = LowState::decode_checked(&payload[4..]).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn bad_crc_is_a_typed_error() {
        let mut s = LowState::default();
        s.seal();
        s.motor_state[3].q = 0.1; // content changed after sealing
        let body = &s.to_payload()[4..];
        match LowState::decode_checked(body) {
            Err(HgError::CrcMismatch {
                carried, computed, ..
            }) => assert_ne!(carried, computed),
            other => panic!("expected CRC mismatch, got {other:?}"),
        }
    }

    #[test]
    fn non_finite_state_is_rejected_with_field_name() {
        let mut s = LowState::default();
        s.motor_state[9].dq = f32::INFINITY;
        s.seal();
        let err = LowState::decode_checked(&s.to_payload()[4..]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("motor_state.dq[9]"), "{msg}");

        let mut cmd = LowCmd::default();
        cmd.motor_cmd[2].kp = f32::NAN;
        assert!(matches!(
            cmd.check_finite(),
            Err(HgError::NonFinite { index: 2, .. })
        ));
    }

    #[test]
    fn truncated_oversized_and_bad_header_payloads_are_errors() {
        let mut s = LowState::default();
        s.seal();
        let payload = s.to_payload();
        for cut in [0, 3, 4, 5, 70, 1000, payload.len() - 1] {
            assert!(
                LowState::decode_payload(&payload[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = payload.clone();
        long.extend_from_slice(&[0; 16]);
        assert!(matches!(
            LowState::decode_payload(&long),
            Err(CdrError::Oversized { extra: 16, .. })
        ));
        let mut big_endian = payload.clone();
        big_endian[1] = 0x00; // CDR_BE
        assert!(matches!(
            LowState::decode_payload(&big_endian),
            Err(CdrError::BadEncapsulation { .. })
        ));
        // A LowCmd payload is not a LowState.
        assert!(LowState::decode_payload(&LowCmd::default().to_payload()).is_err());
    }

    #[test]
    fn targets_round_trip_and_echo_mode_machine() {
        let mut t = MotorTargets::damping();
        t.motors[4] = MotorTarget {
            enabled: true,
            q_rad: 0.3,
            dq_rad_s: 0.1,
            tau_nm: 2.0,
            kp: 40.0,
            kd: 1.0,
        };
        let cmd = LowCmd::from_targets(&t, 5);
        assert_eq!(cmd.mode_machine, 5);
        assert!(cmd.check_crc().is_ok());
        assert_eq!(cmd.to_targets(), t);
    }

    #[test]
    fn lowstate_maps_to_robot_state() {
        let mut s = LowState {
            tick: 99,
            mode_machine: 5,
            ..LowState::default()
        };
        s.motor_state[3].q = 0.7;
        s.motor_state[3].temperature = [40, 60];
        s.imu_state.quaternion = [0.5, 0.5, 0.5, 0.5];
        let r = s.to_robot_state(MonoTime::from_ns(7));
        assert_eq!(r.motors[3].q_rad, 0.7);
        assert_eq!(r.motors[3].temp_winding_c, 60);
        assert_eq!(r.imu.quat_wxyz, [0.5; 4]);
        assert_eq!((r.tick_ms, r.mode_machine, r.received_at.ns), (99, 5, 7));
    }
}
