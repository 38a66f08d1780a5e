//! XCDR1 little-endian: what CycloneDDS and Unitree's SDKs put on the wire
//! (g1-protocol.md §3), and what ROS 2 stores in MCAP recordings. Each
//! primitive is aligned to its size relative to the start of the body (after
//! the 4-byte encapsulation header); structs are not aligned themselves.

/// The encapsulation header of CDR little-endian (`CDR_LE`, options 0).
pub const ENCAPSULATION_CDR_LE: [u8; 4] = [0x00, 0x01, 0x00, 0x00];

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdrError {
    #[error("{type_name}: payload is truncated: needed {needed} bytes at offset {offset}, but only {available} remain; the sender may speak a different message version")]
    Truncated {
        type_name: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("{type_name}: payload has {extra} unexpected trailing bytes (body is {expected} bytes, got {got}); is the topic carrying a different type?")]
    Oversized {
        type_name: &'static str,
        expected: usize,
        got: usize,
        extra: usize,
    },
    #[error("{type_name}: encapsulation header {found:02x?} is not CDR little-endian (00 01 00 00); only XCDR1 LE is supported, as used by CycloneDDS 0.10")]
    BadEncapsulation {
        type_name: &'static str,
        found: [u8; 4],
    },
    #[error("{type_name}: string at offset {offset} is malformed: {reason}")]
    BadString {
        type_name: &'static str,
        offset: usize,
        reason: &'static str,
    },
    #[error("{type_name}: time at offset {offset} is {sec} s + {nanosec} ns; expected sec ≥ 0 and nanosec < 1e9")]
    BadTime {
        type_name: &'static str,
        offset: usize,
        sec: i32,
        nanosec: u32,
    },
    #[error("{type_name}: sequence at offset {offset} claims {len} elements, more than the {available} bytes left")]
    BadSequence {
        type_name: &'static str,
        offset: usize,
        len: usize,
        available: usize,
    },
}

/// Writes a CDR body into a caller-owned `Vec`. With enough capacity reserved
/// up front, writing never allocates.
pub struct CdrWriter<'a> {
    out: &'a mut Vec<u8>,
    origin: usize,
}

impl<'a> CdrWriter<'a> {
    /// Appends to `out`; alignment is relative to `out.len()` at this point.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        let origin = out.len();
        CdrWriter { out, origin }
    }

    /// Clears `out`, writes the CDR_LE encapsulation header and returns a
    /// writer for the body: a whole serialized message, as DDS sends it and
    /// as ROS 2 stores it in MCAP.
    pub fn payload(out: &'a mut Vec<u8>) -> Self {
        out.clear();
        out.extend_from_slice(&ENCAPSULATION_CDR_LE);
        CdrWriter::new(out)
    }

    /// `builtin_interfaces/Time` (int32 sec, uint32 nanosec) from nanoseconds.
    /// Monotonic stamps are decades from overflowing the seconds.
    pub fn time_ns(&mut self, ns: u64) {
        self.i32((ns / 1_000_000_000) as i32);
        self.u32((ns % 1_000_000_000) as u32);
    }

    #[inline(always)]
    fn align(&mut self, n: usize) {
        let pos = self.out.len() - self.origin;
        let pad = (n - pos % n) % n;
        if pad != 0 {
            self.out.resize(self.out.len() + pad, 0);
        }
    }

    #[inline(always)]
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    #[inline(always)]
    pub fn bool(&mut self, v: bool) {
        self.out.push(v as u8);
    }

    #[inline(always)]
    pub fn i16(&mut self, v: i16) {
        self.align(2);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    #[inline(always)]
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    #[inline(always)]
    pub fn i32(&mut self, v: i32) {
        self.u32(v as u32);
    }

    #[inline(always)]
    pub fn f32(&mut self, v: f32) {
        self.u32(v.to_bits());
    }

    #[inline(always)]
    pub fn i64(&mut self, v: i64) {
        self.align(8);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    #[inline(always)]
    pub fn bytes(&mut self, v: &[u8]) {
        self.out.extend_from_slice(v);
    }

    /// A CDR string: u32 length counting the NUL, the bytes, the NUL.
    pub fn string(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(0);
    }

    /// A `sequence<octet>`: u32 length, then the bytes.
    pub fn byte_seq(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.out.extend_from_slice(v);
    }

    pub fn len(&self) -> usize {
        self.out.len() - self.origin
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads a CDR body; every read is bounds-checked and returns a typed error.
pub struct CdrReader<'a> {
    buf: &'a [u8],
    pos: usize,
    type_name: &'static str,
}

impl<'a> CdrReader<'a> {
    pub fn new(body: &'a [u8], type_name: &'static str) -> Self {
        CdrReader {
            buf: body,
            pos: 0,
            type_name,
        }
    }

    #[inline(always)]
    fn take(&mut self, align: usize, n: usize) -> Result<&'a [u8], CdrError> {
        let start = self.pos + (align - self.pos % align) % align;
        let end = start.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                self.pos = end;
                Ok(&self.buf[start..end])
            }
            None => Err(CdrError::Truncated {
                type_name: self.type_name,
                offset: start,
                needed: n,
                available: self.buf.len().saturating_sub(start),
            }),
        }
    }

    #[inline(always)]
    pub fn u8(&mut self) -> Result<u8, CdrError> {
        Ok(self.take(1, 1)?[0])
    }

    #[inline(always)]
    pub fn bool(&mut self) -> Result<bool, CdrError> {
        Ok(self.u8()? != 0)
    }

    #[inline(always)]
    pub fn i16(&mut self) -> Result<i16, CdrError> {
        let b = self.take(2, 2)?;
        Ok(i16::from_le_bytes([b[0], b[1]]))
    }

    #[inline(always)]
    pub fn u32(&mut self) -> Result<u32, CdrError> {
        let b = self.take(4, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline(always)]
    pub fn i32(&mut self) -> Result<i32, CdrError> {
        Ok(self.u32()? as i32)
    }

    #[inline(always)]
    pub fn f32(&mut self) -> Result<f32, CdrError> {
        Ok(f32::from_bits(self.u32()?))
    }

    #[inline(always)]
    pub fn i64(&mut self) -> Result<i64, CdrError> {
        let b = self.take(8, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    #[inline(always)]
    pub fn bytes<const N: usize>(&mut self) -> Result<[u8; N], CdrError> {
        let b = self.take(1, N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// A whole serialized message: checks the encapsulation header and reads
    /// the body after it.
    pub fn payload(payload: &'a [u8], type_name: &'static str) -> Result<Self, CdrError> {
        Ok(CdrReader::new(
            strip_encapsulation(payload, type_name)?,
            type_name,
        ))
    }

    /// `builtin_interfaces/Time` as nanoseconds; a negative time is an error.
    pub fn time_ns(&mut self) -> Result<u64, CdrError> {
        let offset = self.pos;
        let sec = self.i32()?;
        let nanosec = self.u32()?;
        if sec < 0 || nanosec >= 1_000_000_000 {
            return Err(CdrError::BadTime {
                type_name: self.type_name,
                offset,
                sec,
                nanosec,
            });
        }
        Ok(sec as u64 * 1_000_000_000 + u64::from(nanosec))
    }

    pub fn string(&mut self) -> Result<String, CdrError> {
        self.str_ref().map(str::to_owned)
    }

    /// A string borrowed from the message (no copy).
    pub fn str_ref(&mut self) -> Result<&'a str, CdrError> {
        let len = self.u32()? as usize;
        let offset = self.pos;
        if len == 0 {
            return Err(CdrError::BadString {
                type_name: self.type_name,
                offset,
                reason: "length 0 (a CDR string always counts its terminating NUL)",
            });
        }
        let available = self.buf.len() - self.pos;
        if len > available {
            return Err(CdrError::Truncated {
                type_name: self.type_name,
                offset,
                needed: len,
                available,
            });
        }
        let raw = self.take(1, len)?;
        let (text, nul) = raw.split_at(len - 1);
        if nul != [0] {
            return Err(CdrError::BadString {
                type_name: self.type_name,
                offset,
                reason: "missing terminating NUL",
            });
        }
        std::str::from_utf8(text).map_err(|_| CdrError::BadString {
            type_name: self.type_name,
            offset,
            reason: "not valid UTF-8",
        })
    }

    pub fn byte_seq(&mut self) -> Result<Vec<u8>, CdrError> {
        self.byte_seq_ref().map(<[u8]>::to_vec)
    }

    /// A `sequence<uint8>` borrowed from the message (no copy).
    pub fn byte_seq_ref(&mut self) -> Result<&'a [u8], CdrError> {
        let len = self.u32()? as usize;
        let available = self.buf.len() - self.pos;
        if len > available {
            return Err(CdrError::BadSequence {
                type_name: self.type_name,
                offset: self.pos,
                len,
                available,
            });
        }
        self.take(1, len)
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails if more than the XCDR padding (at most 3 bytes) is left over.
    pub fn finish(self) -> Result<(), CdrError> {
        let extra = self.buf.len() - self.pos;
        if extra > 3 {
            return Err(CdrError::Oversized {
                type_name: self.type_name,
                expected: self.pos,
                got: self.buf.len(),
                extra,
            });
        }
        Ok(())
    }
}

/// Splits a full serialized payload into its body, checking the header.
pub fn strip_encapsulation<'a>(
    payload: &'a [u8],
    type_name: &'static str,
) -> Result<&'a [u8], CdrError> {
    if payload.len() < 4 {
        return Err(CdrError::Truncated {
            type_name,
            offset: 0,
            needed: 4,
            available: payload.len(),
        });
    }
    let header = [payload[0], payload[1], payload[2], payload[3]];
    // The low bits of the options word carry the padding count (XCDR); the
    // representation id must be CDR_LE.
    if header[0..2] != ENCAPSULATION_CDR_LE[0..2] {
        return Err(CdrError::BadEncapsulation {
            type_name,
            found: header,
        });
    }
    Ok(&payload[4..])
}

/// A message type that has a fixed or variable CDR encoding and a DDS type name.
pub trait CdrMessage: Sized {
    /// The type name registered on the wire, e.g. `unitree_hg::msg::dds_::LowCmd_`.
    const TYPE_NAME: &'static str;

    fn encode_body(&self, w: &mut CdrWriter<'_>);
    fn decode_fields(r: &mut CdrReader<'_>) -> Result<Self, CdrError>;

    /// Decodes a body (without the encapsulation header), rejecting leftovers.
    fn decode_body(body: &[u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(body, Self::TYPE_NAME);
        let v = Self::decode_fields(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// Decodes a full payload: encapsulation header plus body.
    fn decode_payload(payload: &[u8]) -> Result<Self, CdrError> {
        Self::decode_body(strip_encapsulation(payload, Self::TYPE_NAME)?)
    }

    /// Writes header and body into `out` (cleared first). Allocates only if
    /// `out` lacks capacity.
    fn encode_payload_into(&self, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&ENCAPSULATION_CDR_LE);
        let mut w = CdrWriter::new(out);
        self.encode_body(&mut w);
    }

    fn to_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_payload_into(&mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_relative_to_body_start() {
        let mut out = vec![0xAA; 4]; // pretend header
        let mut w = CdrWriter::new(&mut out);
        w.u8(1);
        w.u32(2);
        w.i16(3);
        w.i64(4);
        assert_eq!(w.len(), 1 + 3 + 4 + 2 + 6 + 8);
        assert_eq!(&out[4..9], &[1, 0, 0, 0, 2]);
    }

    #[test]
    fn reader_reports_truncation_with_offset() {
        let body = [1u8, 0, 0];
        let mut r = CdrReader::new(&body, "T");
        assert_eq!(r.u8().unwrap(), 1);
        match r.u32() {
            Err(CdrError::Truncated {
                offset,
                needed,
                available,
                ..
            }) => {
                assert_eq!((offset, needed, available), (4, 4, 0));
            }
            other => panic!("expected truncation, got {other:?}"),
        }
    }

    #[test]
    fn strings_round_trip_and_bad_strings_are_typed_errors() {
        let mut out = Vec::new();
        let mut w = CdrWriter::new(&mut out);
        w.string("{\"data\": 1}");
        w.byte_seq(&[9, 8]);
        let mut r = CdrReader::new(&out, "T");
        assert_eq!(r.string().unwrap(), "{\"data\": 1}");
        assert_eq!(r.byte_seq().unwrap(), vec![9, 8]);
        r.finish().unwrap();

        let no_nul = [3u8, 0, 0, 0, b'a', b'b', b'c'];
        assert!(matches!(
            CdrReader::new(&no_nul, "T").string(),
            Err(CdrError::BadString { .. })
        ));
        let huge = [0xFFu8, 0xFF, 0xFF, 0x7F, b'a'];
        assert!(matches!(
            CdrReader::new(&huge, "T").string(),
            Err(CdrError::Truncated { .. })
        ));
        assert!(matches!(
            CdrReader::new(&huge, "T").byte_seq(),
            Err(CdrError::BadSequence { .. })
        ));
    }

    #[test]
    fn payloads_times_and_borrowed_reads_round_trip() {
        let mut out = vec![7u8; 3];
        let mut w = CdrWriter::payload(&mut out);
        w.time_ns(1_700_000_123_456_789);
        w.string("head");
        w.byte_seq(&[1, 2, 3]);
        assert_eq!(&out[..4], &ENCAPSULATION_CDR_LE);
        let mut r = CdrReader::payload(&out, "T").unwrap();
        assert_eq!(r.time_ns().unwrap(), 1_700_000_123_456_789);
        assert_eq!(r.str_ref().unwrap(), "head");
        assert_eq!(r.byte_seq_ref().unwrap(), &[1, 2, 3]);
        r.finish().unwrap();

        let mut bad = Vec::new();
        let mut w = CdrWriter::payload(&mut bad);
        w.i32(-1);
        w.u32(0);
        assert!(matches!(
            CdrReader::payload(&bad, "T").unwrap().time_ns(),
            Err(CdrError::BadTime { sec: -1, .. })
        ));
    }

    #[test]
    fn encapsulation_header_is_checked() {
        assert!(strip_encapsulation(&[0, 1, 0, 0, 7], "T").is_ok());
        assert!(matches!(
            strip_encapsulation(&[0, 0, 0, 0, 7], "T"),
            Err(CdrError::BadEncapsulation { .. })
        ));
        assert!(matches!(
            strip_encapsulation(&[0, 1], "T"),
            Err(CdrError::Truncated { .. })
        ));
    }
}
