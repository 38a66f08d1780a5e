//! Request/response RPC over DDS, as Unitree's SDKs do it
//! (g1-protocol.md §6): `unitree_api::msg::dds_::Request_` on
//! `rt/api/<service>/request`, `Response_` on `rt/api/<service>/response`;
//! a client matches a reply by `identity.id`; status code 0 means success.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cdr::{CdrError, CdrMessage, CdrReader, CdrWriter};
use rustdds::DomainParticipant;

use crate::dds::{
    remote_readers_on, remote_writers_on, rpc_qos, wait_readable, DdsError, DdsNode, TopicReader,
    TopicWriter,
};

pub const REQUEST_TYPE: &str = "unitree_api::msg::dds_::Request_";
pub const RESPONSE_TYPE: &str = "unitree_api::msg::dds_::Response_";

pub fn request_topic(service: &str) -> String {
    format!("rt/api/{service}/request")
}

pub fn response_topic(service: &str) -> String {
    format!("rt/api/{service}/response")
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    pub id: i64,
    pub api_id: i64,
    pub lease_id: i64,
    pub priority: i32,
    pub noreply: bool,
}

/// `Request_`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    pub header: RequestHeader,
    /// JSON text.
    pub parameter: String,
    pub binary: Vec<u8>,
}

/// `Response_`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    pub id: i64,
    pub api_id: i64,
    pub code: i32,
    /// JSON text.
    pub data: String,
    pub binary: Vec<u8>,
}

impl CdrMessage for Request {
    const TYPE_NAME: &'static str = REQUEST_TYPE;

    fn encode_body(&self, w: &mut CdrWriter<'_>) {
        w.i64(self.header.id);
        w.i64(self.header.api_id);
        w.i64(self.header.lease_id);
        w.i32(self.header.priority);
        w.bool(self.header.noreply);
        w.string(&self.parameter);
        w.byte_seq(&self.binary);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(Request {
            header: RequestHeader {
                id: r.i64()?,
                api_id: r.i64()?,
                lease_id: r.i64()?,
                priority: r.i32()?,
                noreply: r.bool()?,
            },
            parameter: r.string()?,
            binary: r.byte_seq()?,
        })
    }
}

impl CdrMessage for Response {
    const TYPE_NAME: &'static str = RESPONSE_TYPE;

    fn encode_body(&self, w: &mut CdrWriter<'_>) {
        w.i64(self.id);
        w.i64(self.api_id);
        w.i32(self.code);
        w.string(&self.data);
        w.byte_seq(&self.binary);
    }

    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError> {
        Ok(Response {
            id: r.i64()?,
            api_id: r.i64()?,
            code: r.i32()?,
            data: r.string()?,
            binary: r.byte_seq()?,
        })
    }
}

/// Status codes of Unitree's RPC layer and the loco service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCode {
    /// 7301: the robot cannot report/enter that state now.
    StateNotAvailable,
    /// 7302: not an FSM id the service accepts.
    InvalidFsmId,
    /// 7303: not a task id the service accepts.
    InvalidTaskId,
    /// 3104: the client timed out.
    ClientTimeout,
    /// 3105: API version mismatch.
    ApiMismatch,
    /// 3203: the server does not implement this API.
    NotImplemented,
    /// 3204: the server rejected the parameter.
    BadParameter,
    Other(i32),
}

impl RpcCode {
    pub fn from_code(code: i32) -> RpcCode {
        match code {
            7301 => RpcCode::StateNotAvailable,
            7302 => RpcCode::InvalidFsmId,
            7303 => RpcCode::InvalidTaskId,
            3104 => RpcCode::ClientTimeout,
            3105 => RpcCode::ApiMismatch,
            3203 => RpcCode::NotImplemented,
            3204 => RpcCode::BadParameter,
            other => RpcCode::Other(other),
        }
    }

    pub fn code(self) -> i32 {
        match self {
            RpcCode::StateNotAvailable => 7301,
            RpcCode::InvalidFsmId => 7302,
            RpcCode::InvalidTaskId => 7303,
            RpcCode::ClientTimeout => 3104,
            RpcCode::ApiMismatch => 3105,
            RpcCode::NotImplemented => 3203,
            RpcCode::BadParameter => 3204,
            RpcCode::Other(c) => c,
        }
    }

    fn hint(self) -> &'static str {
        match self {
            RpcCode::StateNotAvailable => "the robot cannot do this in its current state (check the FSM transition, e.g. stand up before start)",
            RpcCode::InvalidFsmId => "the service does not accept this FSM id on this firmware",
            RpcCode::InvalidTaskId => "the service does not accept this arm task id",
            RpcCode::ClientTimeout => "the server timed out",
            RpcCode::ApiMismatch => "the API version differs; update the client or the robot firmware",
            RpcCode::NotImplemented => "the server does not implement this API",
            RpcCode::BadParameter => "the server rejected the parameter",
            RpcCode::Other(_) => "unknown status code",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("RPC '{service}' api {api_id} timed out after {after:?} ({why}); is the service running on this domain/interface? (older firmware names the loco service 'loco' instead of 'sport')")]
    Timeout {
        service: String,
        api_id: i64,
        after: Duration,
        why: &'static str,
    },
    #[error("RPC '{service}' api {api_id} failed with code {} ({code:?}): {}", code.code(), code.hint())]
    Server {
        service: String,
        api_id: i64,
        code: RpcCode,
    },
    #[error("RPC '{service}' api {api_id} returned data that is not what the API promises: {detail} (data: {data:?})")]
    BadReply {
        service: String,
        api_id: i64,
        detail: String,
        data: String,
    },
    #[error(transparent)]
    Dds(#[from] DdsError),
}

/// A client of one RPC service.
pub struct RpcClient {
    participant: DomainParticipant,
    service: String,
    timeout: Duration,
    writer: TopicWriter<Request>,
    reader: TopicReader<Response>,
    poll: mio::Poll,
    events: mio::Events,
    next_id: i64,
    server_seen: bool,
    request_topic: String,
    response_topic: String,
}

const RESPONSE_TOKEN: mio::Token = mio::Token(1);

impl RpcClient {
    pub fn new(node: &DdsNode, service: &str, timeout: Duration) -> Result<RpcClient, RpcError> {
        let request_topic = request_topic(service);
        let response_topic = response_topic(service);
        let writer = node.writer_with_qos::<Request>(&request_topic, rpc_qos(true))?;
        let mut reader = node.reader_with_qos::<Response>(&response_topic, rpc_qos(true))?;
        let poll = mio::Poll::new().map_err(|e| DdsError::Create {
            what: "poll".into(),
            detail: e.to_string(),
        })?;
        reader.register(&poll, RESPONSE_TOKEN)?;
        // Ids only need to be unique among concurrent clients of the service;
        // seeding from the clock keeps two processes apart.
        let seed = tendon_core::MonoTime::now_monotonic().ns as i64 & 0x0000_FFFF_FFFF_0000;
        Ok(RpcClient {
            participant: node.participant().clone(),
            service: service.to_string(),
            timeout,
            writer,
            reader,
            poll,
            events: mio::Events::with_capacity(8),
            next_id: seed + 1,
            server_seen: false,
            request_topic,
            response_topic,
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a request and waits for the matching reply until the configured
    /// timeout. A non-zero status code becomes `RpcError::Server`.
    pub fn call(&mut self, api_id: i64, parameter: &str) -> Result<Response, RpcError> {
        let start = Instant::now();
        let deadline = start + self.timeout;
        let timeout = |why| RpcError::Timeout {
            service: self.service.clone(),
            api_id,
            after: start.elapsed(),
            why,
        };
        if !self.server_seen {
            // A volatile writer drops what it writes before the server has
            // matched, so wait for the server's endpoints to be discovered.
            loop {
                let seen = remote_readers_on(&self.participant, &self.request_topic) > 0
                    && !remote_writers_on(&self.participant, &self.response_topic).is_empty();
                if seen {
                    break;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Err(timeout("no server discovered"));
                }
                std::thread::sleep((deadline - now).min(Duration::from_millis(5)));
            }
            // Matching completes just after discovery; a short grace avoids
            // writing into the gap.
            std::thread::sleep(
                Duration::from_millis(30).min(deadline.saturating_duration_since(Instant::now())),
            );
            self.server_seen = true;
        }
        // Drop stale replies to earlier, timed-out calls.
        while let Ok(Some(_)) = self.reader.take() {}
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            header: RequestHeader {
                id,
                api_id,
                ..RequestHeader::default()
            },
            parameter: parameter.to_string(),
            binary: Vec::new(),
        };
        self.writer.write(request)?;
        loop {
            while let Some(sample) = self.reader.take()? {
                let Ok(reply) = sample else { continue };
                if reply.id != id {
                    continue;
                }
                if reply.code != 0 {
                    return Err(RpcError::Server {
                        service: self.service.clone(),
                        api_id,
                        code: RpcCode::from_code(reply.code),
                    });
                }
                return Ok(reply);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(timeout("no reply"));
            }
            wait_readable(
                &mut self.poll,
                &mut self.events,
                (deadline - now).min(Duration::from_millis(20)),
            );
        }
    }
}

/// What a server handler returns for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcReply {
    pub code: i32,
    pub data: String,
}

impl RpcReply {
    pub fn ok(data: impl Into<String>) -> Self {
        RpcReply {
            code: 0,
            data: data.into(),
        }
    }

    pub fn error(code: RpcCode) -> Self {
        RpcReply {
            code: code.code(),
            data: String::new(),
        }
    }
}

/// The server side of one RPC service (the simulator's loco service uses it).
pub struct RpcServer {
    service: String,
    writer: TopicWriter<Response>,
    reader: TopicReader<Request>,
    poll: mio::Poll,
    events: mio::Events,
    malformed: u64,
}

const REQUEST_TOKEN: mio::Token = mio::Token(2);

impl RpcServer {
    pub fn new(node: &DdsNode, service: &str) -> Result<RpcServer, RpcError> {
        let writer = node.writer_with_qos::<Response>(&response_topic(service), rpc_qos(true))?;
        let mut reader = node.reader_with_qos::<Request>(&request_topic(service), rpc_qos(true))?;
        let poll = mio::Poll::new().map_err(|e| DdsError::Create {
            what: "poll".into(),
            detail: e.to_string(),
        })?;
        reader.register(&poll, REQUEST_TOKEN)?;
        Ok(RpcServer {
            service: service.to_string(),
            writer,
            reader,
            poll,
            events: mio::Events::with_capacity(8),
            malformed: 0,
        })
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// Requests that could not be decoded (counted, never answered).
    pub fn malformed_requests(&self) -> u64 {
        self.malformed
    }

    /// Answers every pending request; waits up to `wait` for one to arrive.
    /// Returns how many were answered.
    pub fn serve_pending(
        &mut self,
        wait: Duration,
        handler: &mut dyn FnMut(&Request) -> RpcReply,
    ) -> Result<usize, RpcError> {
        wait_readable(&mut self.poll, &mut self.events, wait);
        let mut answered = 0;
        while let Some(sample) = self.reader.take()? {
            let request = match sample {
                Ok(r) => r,
                Err(e) => {
                    self.malformed += 1;
                    log::warn!("rpc '{}': dropped malformed request: {e}", self.service);
                    continue;
                }
            };
            let reply = handler(&request);
            if request.header.noreply {
                continue;
            }
            self.writer.write(Response {
                id: request.header.id,
                api_id: request.header.api_id,
                code: reply.code,
                data: reply.data,
                binary: Vec::new(),
            })?;
            answered += 1;
        }
        Ok(answered)
    }

    /// Serves until `stop` is set.
    pub fn serve_until(
        &mut self,
        stop: &AtomicBool,
        handler: &mut dyn FnMut(&Request) -> RpcReply,
    ) -> Result<u64, RpcError> {
        let mut total = 0u64;
        while !stop.load(Ordering::Relaxed) {
            total += self.serve_pending(Duration::from_millis(20), handler)? as u64;
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_fsm_500_request_matches_protocol_vector() {
        let req = Request {
            header: RequestHeader {
                id: 1,
                api_id: 7101,
                ..RequestHeader::default()
            },
            parameter: "{\"data\": 500}".into(),
            binary: vec![],
        };
        let expected = "00010000 01000000 00000000 bd1b0000 00000000 00000000 00000000 00000000 00000000 0e000000 7b226461 7461223a 20353030 7d000000 00000000";
        let hex: String = req
            .to_payload()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected.replace(' ', ""));
        assert_eq!(Request::decode_payload(&req.to_payload()).unwrap(), req);
    }

    #[test]
    fn response_round_trips() {
        let resp = Response {
            id: -3,
            api_id: 7001,
            code: 7302,
            data: "{\"data\": 4}".into(),
            binary: vec![1, 2, 3],
        };
        assert_eq!(Response::decode_payload(&resp.to_payload()).unwrap(), resp);
    }

    #[test]
    fn codes_map_both_ways() {
        for c in [7301, 7302, 7303, 3104, 3105, 3203, 3204, 42] {
            assert_eq!(RpcCode::from_code(c).code(), c);
        }
        assert_eq!(RpcCode::from_code(7302), RpcCode::InvalidFsmId);
    }

    #[test]
    fn truncated_request_is_an_error_not_a_panic() {
        let payload = Request::default().to_payload();
        for cut in 0..payload.len() {
            assert!(
                Request::decode_payload(&payload[..cut]).is_err(),
                "cut {cut}"
            );
        }
    }
}
