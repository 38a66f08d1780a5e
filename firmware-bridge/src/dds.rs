//! DDS transport on RustDDS, with Unitree's topic names, type names and QoS.
//!
//! Unitree's SDK sets no QoS, so CycloneDDS's defaults apply (g1-protocol.md
//! §4): readers best-effort keep-last 1 volatile, writers reliable keep-last 1
//! volatile. RustDDS's `same_host_loopback` (on by default) announces SPDP to
//! 127.0.0.1, which is what lets CycloneDDS 0.10.2 on `lo` discover us.

use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustdds::no_key::{DataReader, DataWriter, DeserializerAdapter, SerializerAdapter};
use rustdds::policy::{Durability, History, Reliability};
use rustdds::{
    DomainParticipant, DomainParticipantBuilder, Publisher, QosPolicies, QosPolicyBuilder,
    RTPSEntity, RepresentationIdentifier, Subscriber, Topic, TopicKind,
};

use crate::cdr::{CdrError, CdrMessage, CdrWriter};

pub const TOPIC_LOWCMD: &str = "rt/lowcmd";
pub const TOPIC_LOWSTATE: &str = "rt/lowstate";
pub const TOPIC_ARM_SDK: &str = "rt/arm_sdk";
pub const TOPIC_SECONDARY_IMU: &str = "rt/secondary_imu";
pub const TOPIC_SPORTMODESTATE: &str = "rt/sportmodestate";

/// Which DDS domain and network interface to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DdsConfig {
    /// 0 on the real robot; simulators use 1 by convention.
    pub domain_id: u16,
    /// Interface name (e.g. `eth0`, `lo`); `None` uses every interface.
    pub iface: Option<String>,
}

impl DdsConfig {
    pub fn new(domain_id: u16, iface: Option<&str>) -> Self {
        DdsConfig {
            domain_id,
            iface: iface.map(str::to_string),
        }
    }
}

/// Errors of the DDS transport.
#[derive(Debug, thiserror::Error)]
pub enum DdsError {
    #[error("network interface '{iface}' not found; available: {available}. Pass --iface with one of these")]
    NoSuchInterface { iface: String, available: String },
    #[error(
        "network interface '{iface}' has no IP address; bring it up or choose another interface"
    )]
    InterfaceWithoutAddress { iface: String },
    #[error("DDS domain id {0} is out of range; valid ids are 0..=232")]
    BadDomain(u16),
    #[error("could not create DDS {what}: {detail}")]
    Create { what: String, detail: String },
    #[error("could not write {type_name} on '{topic}': {detail}")]
    Write {
        topic: String,
        type_name: &'static str,
        detail: String,
    },
    #[error("could not read '{topic}': {detail}")]
    Read { topic: String, detail: String },
    #[error("another writer is already publishing on '{topic}' ({writers}); only one controller may own it. Stop the other controller (or the robot's own low-level client) first")]
    SecondWriter { topic: String, writers: String },
}

/// Resolves an interface name to its addresses.
pub fn interface_addresses(iface: &str) -> Result<Vec<IpAddr>, DdsError> {
    let all = netdev::get_interfaces();
    let Some(found) = all.iter().find(|i| i.name == iface) else {
        let available = all
            .iter()
            .map(|i| i.name.clone())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DdsError::NoSuchInterface {
            iface: iface.to_string(),
            available,
        });
    };
    let addrs: Vec<IpAddr> = found.ipv4.iter().map(|n| IpAddr::V4(n.addr())).collect();
    if addrs.is_empty() {
        return Err(DdsError::InterfaceWithoutAddress {
            iface: iface.to_string(),
        });
    }
    Ok(addrs)
}

/// Reader QoS of Unitree's channels (CycloneDDS defaults).
pub fn reader_qos() -> QosPolicies {
    QosPolicyBuilder::new()
        .reliability(Reliability::BestEffort)
        .history(History::KeepLast { depth: 1 })
        .durability(Durability::Volatile)
        .build()
}

/// Writer QoS of Unitree's channels (CycloneDDS defaults).
pub fn writer_qos() -> QosPolicies {
    QosPolicyBuilder::new()
        .reliability(Reliability::Reliable {
            max_blocking_time: rustdds::Duration::from_millis(100),
        })
        .history(History::KeepLast { depth: 1 })
        .durability(Durability::Volatile)
        .build()
}

/// RPC topics keep a few samples so that bursts of requests are not lost.
pub fn rpc_qos(reliable_reader: bool) -> QosPolicies {
    let b = QosPolicyBuilder::new()
        .history(History::KeepLast { depth: 10 })
        .durability(Durability::Volatile);
    if reliable_reader {
        b.reliability(Reliability::Reliable {
            max_blocking_time: rustdds::Duration::from_millis(100),
        })
        .build()
    } else {
        b.reliability(Reliability::BestEffort).build()
    }
}

fn create_err(what: impl Into<String>, e: impl std::fmt::Display) -> DdsError {
    DdsError::Create {
        what: what.into(),
        detail: e.to_string(),
    }
}

/// One DDS participant with a publisher and a subscriber.
pub struct DdsNode {
    participant: DomainParticipant,
    publisher: Publisher,
    subscriber: Subscriber,
    config: DdsConfig,
}

impl DdsNode {
    pub fn new(config: &DdsConfig) -> Result<DdsNode, DdsError> {
        if config.domain_id > 232 {
            return Err(DdsError::BadDomain(config.domain_id));
        }
        let mut builder = DomainParticipantBuilder::new(config.domain_id);
        if let Some(iface) = &config.iface {
            builder = builder.with_only_networks(interface_addresses(iface)?);
        }
        let participant = builder
            .build()
            .map_err(|e| create_err(format!("participant on domain {}", config.domain_id), e))?;
        let publisher = participant
            .create_publisher(&writer_qos())
            .map_err(|e| create_err("publisher", e))?;
        let subscriber = participant
            .create_subscriber(&reader_qos())
            .map_err(|e| create_err("subscriber", e))?;
        Ok(DdsNode {
            participant,
            publisher,
            subscriber,
            config: config.clone(),
        })
    }

    pub fn config(&self) -> &DdsConfig {
        &self.config
    }

    pub fn participant(&self) -> &DomainParticipant {
        &self.participant
    }

    fn topic<M: CdrMessage>(&self, topic: &str, qos: &QosPolicies) -> Result<Topic, DdsError> {
        self.participant
            .create_topic(
                topic.to_string(),
                M::TYPE_NAME.to_string(),
                qos,
                TopicKind::NoKey,
            )
            .map_err(|e| create_err(format!("topic '{topic}'"), e))
    }

    /// A writer with Unitree's default writer QoS.
    pub fn writer<M: CdrMessage + 'static>(&self, topic: &str) -> Result<TopicWriter<M>, DdsError> {
        self.writer_with_qos(topic, writer_qos())
    }

    pub fn writer_with_qos<M: CdrMessage + 'static>(
        &self,
        topic: &str,
        qos: QosPolicies,
    ) -> Result<TopicWriter<M>, DdsError> {
        let t = self.topic::<M>(topic, &qos)?;
        let writer = self
            .publisher
            .create_datawriter_no_key::<M, CdrAdapter<M>>(&t, Some(qos))
            .map_err(|e| create_err(format!("writer on '{topic}'"), e))?;
        Ok(TopicWriter {
            writer,
            topic: topic.to_string(),
        })
    }

    /// A reader with Unitree's default reader QoS.
    pub fn reader<M: CdrMessage + 'static>(&self, topic: &str) -> Result<TopicReader<M>, DdsError> {
        self.reader_with_qos(topic, reader_qos())
    }

    pub fn reader_with_qos<M: CdrMessage + 'static>(
        &self,
        topic: &str,
        qos: QosPolicies,
    ) -> Result<TopicReader<M>, DdsError> {
        let t = self.topic::<M>(topic, &qos)?;
        let reader = self
            .subscriber
            .create_datareader_no_key::<Received<M>, CdrAdapter<M>>(&t, Some(qos))
            .map_err(|e| create_err(format!("reader on '{topic}'"), e))?;
        Ok(TopicReader {
            reader,
            topic: topic.to_string(),
        })
    }

    /// Remote writers currently known on `topic` (our own participant excluded).
    pub fn remote_writers_on(&self, topic: &str) -> Vec<String> {
        remote_writers_on(&self.participant, topic)
    }

    /// Remote readers currently known on `topic`.
    pub fn remote_readers_on(&self, topic: &str) -> usize {
        remote_readers_on(&self.participant, topic)
    }

    /// Waits up to `window` for discovery, then refuses if any other writer
    /// publishes on `topic`. Used before taking `rt/lowcmd`.
    pub fn ensure_sole_writer(&self, topic: &str, window: Duration) -> Result<(), DdsError> {
        let deadline = Instant::now() + window;
        loop {
            let writers = self.remote_writers_on(topic);
            if !writers.is_empty() {
                return Err(DdsError::SecondWriter {
                    topic: topic.to_string(),
                    writers: writers.join(", "),
                });
            }
            if Instant::now() >= deadline {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Remote writers on `topic` known to `participant`, as GUID strings.
pub fn remote_writers_on(participant: &DomainParticipant, topic: &str) -> Vec<String> {
    let own = participant.guid().prefix;
    participant
        .discovered_writers()
        .into_iter()
        .filter(|w| w.publication_topic_data.topic_name == topic)
        .filter(|w| w.writer_proxy.remote_writer_guid.prefix != own)
        .map(|w| format!("{:?}", w.writer_proxy.remote_writer_guid))
        .collect()
}

/// Number of remote readers on `topic` known to `participant`.
pub fn remote_readers_on(participant: &DomainParticipant, topic: &str) -> usize {
    let own = participant.guid().prefix;
    participant
        .discovered_readers()
        .into_iter()
        .filter(|r| r.subscription_topic_data.topic_name() == topic)
        .filter(|r| r.reader_proxy.remote_reader_guid.prefix != own)
        .count()
}

/// A received sample: the message, or why its bytes could not be decoded.
pub type Received<M> = Result<M, CdrError>;

/// Connects our hand-written CDR codec to RustDDS. RustDDS hands us the body
/// (the encapsulation header is parsed by RustDDS into the representation id).
pub struct CdrAdapter<M>(PhantomData<M>);

#[derive(Debug, thiserror::Error)]
#[error("never fails: decode errors are delivered as Received::Err")]
pub struct Infallible;

impl<M: CdrMessage> SerializerAdapter<M> for CdrAdapter<M> {
    type Error = Infallible;

    fn output_encoding() -> RepresentationIdentifier {
        RepresentationIdentifier::CDR_LE
    }

    fn to_bytes(value: &M) -> Result<Bytes, Infallible> {
        let mut body = Vec::with_capacity(256);
        value.encode_body(&mut CdrWriter::new(&mut body));
        Ok(Bytes::from(body))
    }
}

/// The decoder object RustDDS calls for each sample.
pub struct CdrDecoder<M>(PhantomData<M>);

impl<M> Clone for CdrDecoder<M> {
    fn clone(&self) -> Self {
        CdrDecoder(PhantomData)
    }
}

impl<'de, M: CdrMessage> rustdds::no_key::Decode<'de, Received<M>> for CdrDecoder<M> {
    type Error = Infallible;

    fn decode_bytes(
        self,
        input_bytes: &'de [u8],
        _encoding: RepresentationIdentifier,
    ) -> Result<Received<M>, Infallible> {
        Ok(M::decode_body(input_bytes))
    }
}

impl<M: CdrMessage> DeserializerAdapter<Received<M>> for CdrAdapter<M> {
    type Error = Infallible;
    type Decoded = Received<M>;

    fn supported_encodings() -> &'static [RepresentationIdentifier] {
        &[RepresentationIdentifier::CDR_LE]
    }

    fn transform_decoded(decoded: Received<M>) -> Received<M> {
        decoded
    }
}

impl<M: CdrMessage> rustdds::no_key::DefaultDecoder<Received<M>> for CdrAdapter<M> {
    type Decoder = CdrDecoder<M>;
    const DECODER: CdrDecoder<M> = CdrDecoder(PhantomData);
}

/// A typed writer on one topic.
pub struct TopicWriter<M: CdrMessage + 'static> {
    writer: DataWriter<M, CdrAdapter<M>>,
    topic: String,
}

impl<M: CdrMessage + 'static> TopicWriter<M> {
    pub fn write(&self, msg: M) -> Result<(), DdsError> {
        self.writer.write(msg, None).map_err(|e| DdsError::Write {
            topic: self.topic.clone(),
            type_name: M::TYPE_NAME,
            detail: e.to_string(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// A typed reader on one topic, woken by a mio poll.
pub struct TopicReader<M: CdrMessage + 'static> {
    reader: DataReader<Received<M>, CdrAdapter<M>>,
    topic: String,
}

impl<M: CdrMessage + 'static> TopicReader<M> {
    /// Takes the next sample if there is one. Decode failures come back as
    /// `Some(Err(..))`, so the caller can count them.
    pub fn take(&mut self) -> Result<Option<Received<M>>, DdsError> {
        match self.reader.take_next_sample() {
            Ok(Some(sample)) => Ok(Some(sample.into_value())),
            Ok(None) => Ok(None),
            Err(e) => Err(DdsError::Read {
                topic: self.topic.clone(),
                detail: e.to_string(),
            }),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Registers with a mio poll so a thread can sleep until data arrives.
    pub fn register(&mut self, poll: &mio::Poll, token: mio::Token) -> Result<(), DdsError> {
        poll.registry()
            .register(&mut self.reader, token, mio::Interest::READABLE)
            .map_err(|e| create_err(format!("poll registration for '{}'", self.topic), e))
    }
}

/// Waits on a poll for at most `timeout`; returns when data may be ready.
pub fn wait_readable(poll: &mut mio::Poll, events: &mut mio::Events, timeout: Duration) {
    // An interrupted poll just means "check again".
    let _ = poll.poll(events, Some(timeout));
}
