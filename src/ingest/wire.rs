//! A minimal reader of the protobuf wire format, borrowing from the input.
//!
//! Owns only the framing rules (varints, keys, length-delimited fields,
//! skipping unknown fields) so that hot decoders can read messages without
//! allocating. It knows no message (callers interpret field numbers) and must
//! not know about remote write or storage types.

use std::fmt;

/// Wire types (`key & 7`).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

/// Why the bytes are not well-formed protobuf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The input ends inside a field.
    Truncated,
    InvalidVarint,
    InvalidKey(u64),
    InvalidWireType(u8),
    /// Groups (wire types 3 and 4) are deprecated and unused by the formats read here.
    Group,
    WrongWireType {
        field: u32,
        got: u8,
        want: u8,
    },
    InvalidUtf8,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated => write!(f, "unexpected end of input"),
            WireError::InvalidVarint => write!(f, "invalid varint"),
            WireError::InvalidKey(k) => write!(f, "invalid field key {k}"),
            WireError::InvalidWireType(w) => write!(f, "invalid wire type {w}"),
            WireError::Group => write!(f, "groups are not supported"),
            WireError::WrongWireType { field, got, want } => {
                write!(f, "field {field} has wire type {got}, expected {want}")
            }
            WireError::InvalidUtf8 => write!(f, "string field is not valid UTF-8"),
        }
    }
}

/// Reads fields from the front of a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// The next field's number and wire type, or `None` at the end of input.
    pub fn key(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        if key > u64::from(u32::MAX) || key >> 3 == 0 {
            return Err(WireError::InvalidKey(key));
        }
        if wire > FIXED32 {
            return Err(WireError::InvalidWireType(wire));
        }
        Ok(Some(((key >> 3) as u32, wire)))
    }

    pub fn varint(&mut self) -> Result<u64, WireError> {
        if let Some((&b, rest)) = self.buf.split_first() {
            if b < 0x80 {
                self.buf = rest;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for (i, &b) in self.buf.iter().take(10).enumerate() {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(WireError::InvalidVarint);
                }
                self.buf = &self.buf[i + 1..];
                return Ok(v);
            }
        }
        if self.buf.len() < 10 {
            Err(WireError::Truncated)
        } else {
            Err(WireError::InvalidVarint)
        }
    }

    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let (head, rest) = self.buf.split_first_chunk::<8>().ok_or(WireError::Truncated)?;
        self.buf = rest;
        Ok(u64::from_le_bytes(*head))
    }

    /// A length-delimited field's bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
        if len > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    /// A length-delimited field as UTF-8 text.
    pub fn str(&mut self) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| WireError::InvalidUtf8)
    }

    /// Skips the value of a field of wire type `wire`.
    pub fn skip(&mut self, wire: u8) -> Result<(), WireError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => {
                let (_, rest) = self.buf.split_first_chunk::<4>().ok_or(WireError::Truncated)?;
                self.buf = rest;
                Ok(())
            }
            START_GROUP | END_GROUP => Err(WireError::Group),
            other => Err(WireError::InvalidWireType(other)),
        }
    }
}

/// Checks that field `field` came with wire type `want`.
pub fn expect(field: u32, got: u8, want: u8) -> Result<(), WireError> {
    if got == want {
        Ok(())
    } else {
        Err(WireError::WrongWireType { field, got, want })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r = Reader::new(&[0x96, 0x01, 0x00]);
        assert_eq!(r.varint(), Ok(150));
        assert_eq!(r.varint(), Ok(0));
        assert_eq!(r.varint(), Err(WireError::Truncated));
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Reader::new(&max).varint(), Ok(u64::MAX));
        let over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&over).varint(), Err(WireError::InvalidVarint));
        assert_eq!(Reader::new(&[0x80; 11]).varint(), Err(WireError::InvalidVarint));
        assert_eq!(Reader::new(&[0x80, 0x80]).varint(), Err(WireError::Truncated));
    }

    #[test]
    fn keys_and_skipping() {
        assert_eq!(Reader::new(&[0x00]).key(), Err(WireError::InvalidKey(0)));
        assert_eq!(Reader::new(&[0x0f]).key(), Err(WireError::InvalidWireType(7)));
        assert_eq!(Reader::new(&[0x0b]).key(), Ok(Some((1, START_GROUP))));
        assert_eq!(
            Reader::new(&[0x0b, 0x0c]).skip(START_GROUP),
            Err(WireError::Group)
        );
        let mut r = Reader::new(&[
            0x12, 0x02, b'h', b'i', 0x1d, 1, 2, 3, 4, 0x21, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(r.key(), Ok(Some((2, LEN))));
        assert_eq!(r.str(), Ok("hi"));
        assert_eq!(r.key(), Ok(Some((3, FIXED32))));
        assert_eq!(r.skip(FIXED32), Ok(()));
        assert_eq!(r.key(), Ok(Some((4, FIXED64))));
        assert_eq!(r.fixed64(), Ok(0));
        assert_eq!(r.key(), Ok(None));
    }

    #[test]
    fn truncated_fields() {
        assert_eq!(Reader::new(&[0x05, b'a']).bytes(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[1, 2, 3]).fixed64(), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[1, 2, 3]).skip(FIXED32), Err(WireError::Truncated));
        assert_eq!(Reader::new(&[0x01, 0xff]).str(), Err(WireError::InvalidUtf8));
    }
}
