//! The head chunk codec: Gorilla-style compression of one series' recent samples.
//!
//! Owns the byte layout of an XOR chunk and nothing else: it does not know about
//! series, labels, sled, the WAL or when a chunk is cut (the storage engine decides
//! that). It is hand-written because it is the product's core: every ingested
//! sample goes through [`XorChunk::append`], so its speed and the memory of the
//! open chunk per series bound what one small machine can hold.
//!
//! # Layout
//!
//! ```text
//! sample count   unsigned LEB128 varint, rewritten in place on every append
//! bit stream     msb first, the last byte zero-padded
//!   sample 0     timestamp as zigzag LEB128 (whole bytes), value as 64 raw bits
//!   sample n     delta-of-delta of the timestamp, then the value XOR the previous one
//! ```
//!
//! Delta-of-delta buckets (`dod` = this delta minus the previous delta, the delta
//! before sample 1 being 0; arithmetic wraps, so any `i64` sequence round-trips):
//!
//! ```text
//! 0      dod == 0
//! 10     + 7-bit two's complement   (scrape jitter of a few milliseconds)
//! 110    + 14-bit two's complement
//! 1110   + 20-bit two's complement
//! 1111   + 64 raw bits              (any jump)
//! ```
//!
//! Values (`xor` = bits of this value XOR bits of the previous one):
//!
//! ```text
//! 0      xor == 0
//! 10     + the meaningful bits, inside the previous leading/trailing-zero window
//! 11     + 5 bits leading zeros (capped at 31) + 6 bits length (64 stored as 0) + the bits
//! ```
//!
//! Values are compared as bits, so NaN payloads, the stale marker, infinities and
//! `-0.0` round-trip exactly. Decoding never panics: truncated or corrupt input
//! yields a [`ChunkError`].
//!
//! # Measurements
//!
//! `cargo bench --bench chunk` (see `benches/chunk.rs`) prints these first. Series
//! are scraped every 15 s, each timestamp off its grid by a uniform ±3 ms; sizes
//! average 200 series; XOR chunks hold 120 samples, blocks ([`super::block`]) 480
//! or 1 000. Shapes: a counter growing by 0 to 5 per scrape; a gauge switching
//! among 4 values at 10% of scrapes; a gauge with a random float (full mantissa)
//! per scrape; a constant (what timestamps alone cost).
//!
//! ```text
//! bytes/sample            xor 120   pco 480   pco 1000
//! counter +0..5             2.363     0.841      0.769
//! gauge, 4 values           1.461     0.749      0.686
//! gauge, random floats      8.874     7.261      7.201
//! constant                  1.314     0.446      0.409
//! ```
//!
//! The jitter alone holds log2(7) = 2.8 bits = 0.35 B/sample, so below the
//! VictoriaMetrics figure of ~0.38 B/sample only constant series with
//! jitter-free timestamps can go; counters and few-valued gauges stay under the
//! 1.0 B/sample target once compacted.
//!
//! CPU time per sample (on-CPU thread time, release build, on a 2-core VM shared
//! with other builds, so expect less on a quiet machine; the first column is
//! [`XorChunk::append`] including the chunk's allocations; pco columns use
//! 480-sample blocks):
//!
//! ```text
//! ns/sample               xor append  xor decode  pco encode  pco decode
//! counter +0..5                 15.4        22.4       223.3        20.3
//! gauge, 4 values               14.7        15.7       126.9        14.5
//! gauge, random floats          26.1        34.6       337.2        14.7
//! constant                      12.1        14.6       126.1        15.0
//! ```
//!
//! An open chunk costs `size_of::<XorChunk>()` = 64 bytes plus its buffer: a
//! 120-sample counter chunk encodes to ~290 bytes (8 more of slack), in a
//! `Vec` that starts at 32 bytes and grows 40 bytes at a time (not by doubling).

use super::Sample;

/// Why encoded samples could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChunkError {
    #[error("encoded samples end early")]
    Truncated,
    #[error("varint in encoded samples is longer than 64 bits")]
    VarintOverflow,
    #[error("value window of {leading} leading zeros and {length} bits does not fit 64 bits")]
    InvalidValueWindow { leading: u32, length: u32 },
    #[error("value reuses the previous bit window but there is none")]
    MissingValueWindow,
    #[error("{0} bytes follow the last encoded sample")]
    TrailingBytes(usize),
    #[error("padding bits after the last encoded sample are not zero")]
    NonZeroPadding,
    #[error("unsupported block format version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown value coding {0}")]
    UnknownValueCoding(u8),
    #[error("pco: {0}")]
    Pco(#[from] pco::errors::PcoError),
}

/// Zero bytes an open chunk keeps after its encoding, so that every write of up
/// to 56 bits is a single unaligned 8-byte read-modify-write.
const SLACK: usize = 8;
/// Bytes added to a chunk's buffer each time it fills up.
const GROWTH_STEP: usize = 32;

/// Leading-zero count meaning "no value window yet" (before the second sample).
const NO_WINDOW: u8 = u8::MAX;
/// Largest leading-zero count the 5-bit field can hold.
const MAX_LEADING: u32 = 31;

/// Delta-of-delta buckets after the one-bit zero case: prefix, prefix length, payload bits.
const DOD_BUCKETS: [(u64, u32, u32); 4] = [(0b10, 2, 7), (0b110, 3, 14), (0b1110, 4, 20), LARGEST_DOD_BUCKET];
/// The bucket that holds any delta-of-delta.
const LARGEST_DOD_BUCKET: (u64, u32, u32) = (0b1111, 4, 64);

/// Up to 128 bits to append, most significant first, in the low `len` bits.
#[derive(Debug, Clone, Copy)]
struct Code {
    bits: u128,
    len: u32,
}

impl Code {
    /// The low `len` bits of `bits` (`len` <= 64).
    fn new(bits: u64, len: u32) -> Code {
        Code {
            bits: u128::from(bits & low_mask(len)),
            len,
        }
    }

    /// This code followed by the low `len` bits of `bits` (`len` <= 64, total <= 128).
    fn then_bits(self, bits: u64, len: u32) -> Code {
        Code {
            bits: self.bits << len | u128::from(bits & low_mask(len)),
            len: self.len + len,
        }
    }

    /// This code followed by `next`, when both fit 128 bits.
    fn then(self, next: Code) -> Option<Code> {
        (self.len + next.len <= 128).then(|| Code {
            bits: self.bits << next.len | next.bits,
            len: self.len + next.len,
        })
    }
}

/// An appendable chunk, encoded as it grows: [`XorChunk::bytes`] is always complete.
#[derive(Debug, Clone)]
pub struct XorChunk {
    /// Count header, bit stream (most significant bit first), then [`SLACK`] zero bytes.
    bytes: Vec<u8>,
    /// Unused low bits of the last byte (0..=7).
    free_bits: u8,
    num_samples: usize,
    last_t: i64,
    last_delta: i64,
    last_v_bits: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorChunk {
    fn default() -> Self {
        Self::new()
    }
}

impl XorChunk {
    /// An empty chunk (one header byte).
    pub fn new() -> Self {
        let mut bytes = Vec::with_capacity(32);
        bytes.resize(1 + SLACK, 0);
        XorChunk {
            bytes,
            free_bits: 0,
            num_samples: 0,
            last_t: 0,
            last_delta: 0,
            last_v_bits: 0,
            leading: NO_WINDOW,
            trailing: 0,
        }
    }

    /// Appends one sample. The caller guarantees `t` is greater than the last
    /// timestamp (the encoding itself would round-trip any order).
    pub fn append(&mut self, t: i64, v: f64) {
        if self.num_samples == 0 {
            self.append_first(t, v);
        } else {
            let time = self.timestamp_code(t);
            let value = self.value_code(v.to_bits());
            match time.then(value) {
                Some(both) => self.write_code(both),
                None => {
                    self.write_code(time);
                    self.write_code(value);
                }
            }
        }
        self.set_sample_count(self.num_samples + 1);
    }

    pub fn num_samples(&self) -> usize {
        self.num_samples
    }

    /// Heap bytes held by the chunk's buffer (its capacity).
    pub fn allocated_bytes(&self) -> usize {
        self.bytes.capacity()
    }

    /// The complete encoding, decodable by [`XorIter`] at any moment.
    pub fn bytes(&self) -> &[u8] {
        let encoded_len = self.bytes.len().saturating_sub(SLACK);
        self.bytes.get(..encoded_len).unwrap_or_default()
    }

    pub fn first_time(&self) -> Option<i64> {
        self.iter().next().and_then(Result::ok).map(|sample| sample.t)
    }

    pub fn last_time(&self) -> Option<i64> {
        (self.num_samples > 0).then_some(self.last_t)
    }

    pub fn last_value(&self) -> Option<f64> {
        (self.num_samples > 0).then_some(f64::from_bits(self.last_v_bits))
    }

    /// Restores an appendable chunk from [`XorChunk::bytes`] (head snapshot, WAL replay).
    /// Stricter than [`decode_xor`]: nothing may follow the last sample, since
    /// appending continues in the last byte.
    pub fn from_bytes(mut bytes: Vec<u8>) -> Result<XorChunk, ChunkError> {
        let mut iter = XorIter::new(&bytes);
        for sample in iter.by_ref() {
            sample?;
        }
        iter.check_fully_consumed()?;
        let state = iter.state;
        let free_bits = iter.bits.free_bits_in_last_byte();
        let decoded = iter.decoded;
        bytes.resize(bytes.len() + SLACK, 0);
        Ok(XorChunk {
            num_samples: decoded,
            last_t: state.t,
            last_delta: state.delta,
            last_v_bits: state.v_bits,
            leading: state.leading,
            trailing: state.trailing,
            bytes,
            free_bits,
        })
    }

    pub fn iter(&self) -> XorIter<'_> {
        XorIter::new(self.bytes())
    }

    fn append_first(&mut self, t: i64, v: f64) {
        for byte in Varint::encode(zigzag(t)) {
            self.write_bits(u64::from(byte), 8);
        }
        self.write_bits(v.to_bits(), 64);
        self.last_t = t;
        self.last_v_bits = v.to_bits();
    }

    /// Encodes the delta-of-delta of `t` and makes `t` the last timestamp.
    fn timestamp_code(&mut self, t: i64) -> Code {
        let delta = t.wrapping_sub(self.last_t);
        let dod = delta.wrapping_sub(self.last_delta);
        self.last_t = t;
        self.last_delta = delta;
        if dod == 0 {
            return Code::new(0, 1);
        }
        let (prefix, prefix_len, payload_bits) = DOD_BUCKETS
            .into_iter()
            .find(|&(_, _, payload_bits)| payload_bits == 64 || fits_signed(dod, payload_bits))
            .unwrap_or(LARGEST_DOD_BUCKET);
        Code::new(prefix, prefix_len).then_bits(dod as u64, payload_bits)
    }

    /// Encodes the XOR of `v_bits` with the last value and makes it the last value.
    fn value_code(&mut self, v_bits: u64) -> Code {
        let xor = v_bits ^ self.last_v_bits;
        self.last_v_bits = v_bits;
        if xor == 0 {
            return Code::new(0, 1);
        }
        let leading = xor.leading_zeros().min(MAX_LEADING);
        let trailing = xor.trailing_zeros();
        if self.leading != NO_WINDOW
            && leading >= u32::from(self.leading)
            && trailing >= u32::from(self.trailing)
        {
            let length = 64 - u32::from(self.leading) - u32::from(self.trailing);
            return Code::new(0b10, 2).then_bits(xor >> self.trailing, length);
        }
        let length = 64 - leading - trailing;
        // Both fit in a u8: leading <= 31, trailing <= 63.
        self.leading = leading as u8;
        self.trailing = trailing as u8;
        let control = 0b11 << 11 | u64::from(leading) << 6 | u64::from(length % 64);
        Code::new(control, 13).then_bits(xor >> trailing, length)
    }

    fn write_code(&mut self, code: Code) {
        let mut remaining = code.len;
        while remaining > 56 {
            remaining -= 56;
            self.write_bits((code.bits >> remaining) as u64, 56);
        }
        self.write_bits(code.bits as u64, remaining);
    }

    /// Writes the low `count` bits of `value` (`count` <= 64), most significant first,
    /// with one 8-byte read-modify-write into the slack after the encoding.
    fn write_bits(&mut self, value: u64, count: u32) {
        if count > 56 {
            self.write_bits(value >> 32, count - 32);
            self.write_bits(value, 32);
            return;
        }
        if count == 0 {
            return;
        }
        let encoded_len = self.bytes.len().saturating_sub(SLACK);
        let bit_pos = encoded_len * 8 - usize::from(self.free_bits);
        let start = bit_pos / 8;
        if let Some(word) = self.bytes.get_mut(start..start + 8) {
            let mut current = [0u8; 8];
            current.copy_from_slice(word);
            let merged = u64::from_be_bytes(current) | (value << (64 - count)) >> (bit_pos % 8);
            word.copy_from_slice(&merged.to_be_bytes());
        }
        let end_bit = bit_pos + count as usize;
        let new_len = end_bit.div_ceil(8);
        if new_len > encoded_len {
            // The written bytes leave the slack: restore it with a fixed-size copy.
            if self.bytes.capacity() < self.bytes.len() + SLACK {
                // Grow in small steps, not by doubling: the head holds one open
                // chunk per series, and doubling left ~150 bytes per series unused
                // (benches/storage_figures, 100k series).
                self.bytes.reserve_exact(SLACK + GROWTH_STEP);
            }
            self.bytes.extend_from_slice(&[0; SLACK]);
            self.bytes.truncate(new_len + SLACK);
        }
        self.free_bits = (new_len * 8 - end_bit) as u8;
    }

    /// Rewrites the count header, growing it by a byte when the varint widens
    /// (at 2^7, 2^14, ... samples).
    fn set_sample_count(&mut self, count: usize) {
        let count = count as u64;
        if count >= 1 << 7 && count.is_power_of_two() && count.trailing_zeros().is_multiple_of(7) {
            self.bytes.insert(0, 0);
        }
        let mut rest = count;
        for byte in self.bytes.iter_mut() {
            let more = rest >= 0x80;
            *byte = (rest & 0x7f) as u8 | if more { 0x80 } else { 0 };
            rest >>= 7;
            if !more {
                break;
            }
        }
        self.num_samples = count as usize;
    }
}

/// Decoder state shared by the iterator and [`XorChunk::from_bytes`].
#[derive(Debug, Clone, Copy)]
struct DecodeState {
    t: i64,
    delta: i64,
    v_bits: u64,
    leading: u8,
    trailing: u8,
}

/// Iterates the samples of an encoded chunk. Yields at most one error, then ends.
#[derive(Debug, Clone)]
pub struct XorIter<'a> {
    bits: BitReader<'a>,
    /// Sample count from the header, or the header error to report.
    expected: Result<usize, Option<ChunkError>>,
    decoded: usize,
    state: DecodeState,
}

impl<'a> XorIter<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let (expected, body) = match Varint::decode(bytes) {
            Ok((count, width)) => (
                usize::try_from(count).map_err(|_| Some(ChunkError::Truncated)),
                width,
            ),
            Err(err) => (Err(Some(err)), 0),
        };
        XorIter {
            bits: BitReader::new(bytes.get(body..).unwrap_or_default()),
            expected,
            decoded: 0,
            state: DecodeState {
                t: 0,
                delta: 0,
                v_bits: 0,
                leading: NO_WINDOW,
                trailing: 0,
            },
        }
    }

    /// Sample count the header claims (0 when the header is unreadable).
    fn expected_count(&self) -> usize {
        self.expected.as_ref().map_or(0, |count| *count)
    }

    fn check_fully_consumed(&self) -> Result<(), ChunkError> {
        let trailing = self.bits.unread_whole_bytes();
        if trailing > 0 {
            return Err(ChunkError::TrailingBytes(trailing));
        }
        if !self.bits.padding_is_zero() {
            return Err(ChunkError::NonZeroPadding);
        }
        Ok(())
    }

    fn decode_next(&mut self) -> Result<Sample, ChunkError> {
        if self.decoded == 0 {
            self.decode_first()?;
        } else {
            self.decode_timestamp()?;
            self.decode_value()?;
        }
        self.decoded += 1;
        Ok(Sample {
            t: self.state.t,
            v: f64::from_bits(self.state.v_bits),
        })
    }

    fn decode_first(&mut self) -> Result<(), ChunkError> {
        self.state.t = unzigzag(self.bits.read_varint()?);
        self.state.v_bits = self.bits.read_bits(64)?;
        Ok(())
    }

    fn decode_timestamp(&mut self) -> Result<(), ChunkError> {
        let dod = self.read_dod()?;
        self.state.delta = self.state.delta.wrapping_add(dod);
        self.state.t = self.state.t.wrapping_add(self.state.delta);
        Ok(())
    }

    fn read_dod(&mut self) -> Result<i64, ChunkError> {
        if self.bits.read_bit()? == 0 {
            return Ok(0);
        }
        for (_, _, payload_bits) in DOD_BUCKETS {
            // Each prefix is ones closed by a zero, except the last one, which is all ones.
            let is_last = payload_bits == 64;
            if is_last || self.bits.read_bit()? == 0 {
                let payload = self.bits.read_bits(payload_bits)?;
                return Ok(sign_extend(payload, payload_bits));
            }
        }
        Err(ChunkError::Truncated)
    }

    fn decode_value(&mut self) -> Result<(), ChunkError> {
        if self.bits.read_bit()? == 0 {
            return Ok(());
        }
        if self.bits.read_bit()? == 1 {
            self.read_value_window()?;
        } else if self.state.leading == NO_WINDOW {
            return Err(ChunkError::MissingValueWindow);
        }
        let trailing = u32::from(self.state.trailing);
        let length = 64 - u32::from(self.state.leading) - trailing;
        let meaningful = self.bits.read_bits(length)?;
        self.state.v_bits ^= meaningful << trailing;
        Ok(())
    }

    fn read_value_window(&mut self) -> Result<(), ChunkError> {
        let leading = self.bits.read_bits(5)? as u32;
        let length = match self.bits.read_bits(6)? as u32 {
            0 => 64,
            length => length,
        };
        if leading + length > 64 {
            return Err(ChunkError::InvalidValueWindow { leading, length });
        }
        // Both fit in a u8: leading <= 31, trailing <= 63.
        self.state.leading = leading as u8;
        self.state.trailing = (64 - leading - length) as u8;
        Ok(())
    }
}

impl Iterator for XorIter<'_> {
    type Item = Result<Sample, ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        let expected = match &mut self.expected {
            Ok(count) => *count,
            Err(err) => return err.take().map(Err),
        };
        if self.decoded >= expected {
            return None;
        }
        let sample = self.decode_next();
        if sample.is_err() {
            self.expected = Err(None);
        }
        Some(sample)
    }
}

/// The sample count from a chunk's header, without decoding the chunk.
pub fn xor_sample_count(bytes: &[u8]) -> Result<u64, ChunkError> {
    Ok(Varint::decode(bytes)?.0)
}

/// Decodes a whole chunk.
pub fn decode_xor(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let iter = XorIter::new(bytes);
    // Every sample after the first takes at least two bits: never trust the header for memory.
    let capacity = iter.expected_count().min(bytes.len() * 4 + 1);
    let mut samples = Vec::with_capacity(capacity);
    for sample in iter {
        samples.push(sample?);
    }
    Ok(samples)
}

/// Reads bits most significant first; every read past the end is an error.
#[derive(Debug, Clone)]
struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits from the start of `bytes`.
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    fn read_bit(&mut self) -> Result<u64, ChunkError> {
        self.read_bits(1)
    }

    /// Reads `count` bits (`count` <= 64) as the low bits of the result.
    fn read_bits(&mut self, count: u32) -> Result<u64, ChunkError> {
        if count > 56 {
            let high = self.read_bits(count - 32)?;
            return Ok(high << 32 | self.read_bits(32)?);
        }
        let end = self.pos + count as usize;
        if end > self.bytes.len() * 8 {
            return Err(ChunkError::Truncated);
        }
        let value = self.window().checked_shr(64 - count).unwrap_or(0);
        self.pos = end;
        Ok(value)
    }

    /// The next 57 or more bits from `pos` at the top of a u64, zeros past the end.
    fn window(&self) -> u64 {
        let start = self.pos / 8;
        let mut word = [0u8; 8];
        if let Some(full) = self.bytes.get(start..start + 8) {
            word.copy_from_slice(full);
        } else {
            let tail = self.bytes.get(start..).unwrap_or_default();
            for (dst, src) in word.iter_mut().zip(tail) {
                *dst = *src;
            }
        }
        u64::from_be_bytes(word) << (self.pos % 8)
    }

    fn read_varint(&mut self) -> Result<u64, ChunkError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.read_bits(8)?;
            value |= (byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ChunkError::VarintOverflow)
    }

    /// Unused bits in the last byte read (0..=7).
    fn free_bits_in_last_byte(&self) -> u8 {
        ((8 - self.pos % 8) % 8) as u8
    }

    fn unread_whole_bytes(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos.div_ceil(8))
    }

    fn padding_is_zero(&self) -> bool {
        let free = self.free_bits_in_last_byte();
        free == 0
            || self
                .bytes
                .get(self.pos / 8)
                .is_none_or(|byte| byte & low_mask(u32::from(free)) as u8 == 0)
    }
}

/// Unsigned LEB128 varints, as used for sample counts and the first timestamp.
pub(super) struct Varint;

impl Varint {
    fn width(value: u64) -> usize {
        (64 - value.leading_zeros() as usize).div_ceil(7).max(1)
    }

    pub(super) fn encode(mut value: u64) -> impl ExactSizeIterator<Item = u8> {
        let width = Self::width(value);
        (0..width).map(move |index| {
            let more = if index + 1 < width { 0x80 } else { 0 };
            let byte = (value & 0x7f) as u8 | more;
            value >>= 7;
            byte
        })
    }

    /// The value and how many bytes it took.
    pub(super) fn decode(bytes: &[u8]) -> Result<(u64, usize), ChunkError> {
        let mut value = 0u64;
        for (index, byte) in bytes.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f).checked_shl(7 * index as u32).unwrap_or(0);
            if byte & 0x80 == 0 {
                return Ok((value, index + 1));
            }
        }
        Err(if bytes.len() >= 10 {
            ChunkError::VarintOverflow
        } else {
            ChunkError::Truncated
        })
    }
}

pub(super) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(super) fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

/// A mask of the low `bits` bits (`bits` <= 64).
fn low_mask(bits: u32) -> u64 {
    u64::MAX.checked_shr(64 - bits).unwrap_or(0)
}

/// Whether `value` fits a `bits`-bit two's complement field (`bits` < 64).
fn fits_signed(value: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&value)
}

/// Interprets the low `bits` bits of `payload` as two's complement.
fn sign_extend(payload: u64, bits: u32) -> i64 {
    let unused = 64 - bits;
    ((payload << unused) as i64) >> unused
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::stale_nan;
    use proptest::prelude::*;

    fn encode(samples: &[Sample]) -> XorChunk {
        let mut chunk = XorChunk::new();
        for sample in samples {
            chunk.append(sample.t, sample.v);
        }
        chunk
    }

    pub(in crate::storage) fn special_values() -> Vec<f64> {
        vec![
            stale_nan(),
            f64::NAN,
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::from_bits(0xfff0_0000_0000_0001),
            f64::INFINITY,
            f64::NEG_INFINITY,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.0,
        ]
    }

    #[test]
    fn empty_chunk_is_one_byte_and_decodes_to_nothing() {
        let chunk = XorChunk::new();
        assert_eq!(chunk.bytes(), &[0]);
        assert_eq!(decode_xor(chunk.bytes()).unwrap(), vec![]);
        assert_eq!(chunk.first_time(), None);
        assert_eq!(chunk.last_time(), None);
        assert_eq!(chunk.last_value(), None);
        assert_eq!(XorChunk::from_bytes(vec![0]).unwrap().num_samples(), 0);
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let samples: Vec<Sample> = special_values()
            .into_iter()
            .chain(special_values().into_iter().rev())
            .enumerate()
            .map(|(i, v)| Sample {
                t: -5_000 + 15_000 * i as i64,
                v,
            })
            .collect();
        let chunk = encode(&samples);
        assert_eq!(decode_xor(chunk.bytes()).unwrap(), samples);
        assert_eq!(chunk.first_time(), Some(-5_000));
        assert_eq!(chunk.last_time(), samples.last().map(|s| s.t));
        assert_eq!(chunk.last_value().map(f64::to_bits), Some(stale_nan().to_bits()));
    }

    #[test]
    fn extreme_timestamps_round_trip() {
        let times = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        let samples: Vec<Sample> = times.iter().map(|&t| Sample { t, v: 1.5 }).collect();
        assert_eq!(decode_xor(encode(&samples).bytes()).unwrap(), samples);
    }

    #[test]
    fn count_header_widens_past_127_and_16383_samples() {
        let samples: Vec<Sample> = (0..20_000)
            .map(|i| Sample {
                t: i * 1_000,
                v: i as f64,
            })
            .collect();
        let mut chunk = XorChunk::new();
        for (i, sample) in samples.iter().enumerate() {
            chunk.append(sample.t, sample.v);
            if [127, 128, 16_383, 16_384].contains(&(i + 1)) {
                assert_eq!(decode_xor(chunk.bytes()).unwrap(), samples[..=i]);
            }
        }
        assert_eq!(decode_xor(chunk.bytes()).unwrap(), samples);
    }

    #[test]
    fn from_bytes_rejects_trailing_data_and_dirty_padding() {
        let chunk = encode(&[Sample { t: 1, v: 1.0 }, Sample { t: 2, v: 1.0 }]);
        let mut longer = chunk.bytes().to_vec();
        longer.push(0);
        assert_eq!(
            XorChunk::from_bytes(longer).unwrap_err(),
            ChunkError::TrailingBytes(1)
        );
        let mut dirty = chunk.bytes().to_vec();
        if let Some(last) = dirty.last_mut() {
            *last |= 1;
        }
        assert_eq!(
            XorChunk::from_bytes(dirty).unwrap_err(),
            ChunkError::NonZeroPadding
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let samples: Vec<Sample> = special_values()
            .into_iter()
            .enumerate()
            .map(|(i, v)| Sample { t: i as i64 * 999, v })
            .collect();
        let chunk = encode(&samples);
        for len in 0..chunk.bytes().len() {
            assert!(
                decode_xor(&chunk.bytes()[..len]).is_err(),
                "prefix of {len} bytes"
            );
            assert!(
                XorChunk::from_bytes(chunk.bytes()[..len].to_vec()).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn iterator_ends_after_its_error() {
        let chunk = encode(&[Sample { t: 1, v: 1.0 }, Sample { t: 2, v: 3.0 }]);
        let truncated = &chunk.bytes()[..chunk.bytes().len() - 1];
        let results: Vec<_> = XorIter::new(truncated).collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[1], Err(ChunkError::Truncated));
    }

    #[test]
    fn open_chunk_struct_stays_small() {
        assert!(std::mem::size_of::<XorChunk>() <= 64);
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            3 => (0u32..4).prop_map(f64::from),
            2 => any::<f64>(),
            1 => any::<u64>().prop_map(f64::from_bits),
            1 => prop::sample::select(special_values()),
        ]
    }

    fn step() -> impl Strategy<Value = i64> {
        prop_oneof![
            4 => Just(15_000),
            4 => 14_990i64..15_010,
            2 => 1i64..100_000,
            1 => any::<i64>(),
        ]
    }

    /// Irregular, sometimes huge (wrapping) steps from a start that may be negative.
    pub(in crate::storage) fn series() -> impl Strategy<Value = Vec<Sample>> {
        (any::<i64>(), prop::collection::vec((step(), value()), 0..300)).prop_map(|(start, points)| {
            let mut t = start;
            points
                .into_iter()
                .map(|(step, v)| {
                    t = t.wrapping_add(step);
                    Sample { t, v }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn round_trips_any_series(samples in series()) {
            let chunk = encode(&samples);
            prop_assert_eq!(chunk.num_samples(), samples.len());
            prop_assert_eq!(&decode_xor(chunk.bytes()).unwrap(), &samples);
            let iterated: Result<Vec<Sample>, ChunkError> = chunk.iter().collect();
            prop_assert_eq!(&iterated.unwrap(), &samples);
            prop_assert_eq!(chunk.first_time(), samples.first().map(|s| s.t));
            prop_assert_eq!(chunk.last_time(), samples.last().map(|s| s.t));
            prop_assert_eq!(chunk.last_value().map(f64::to_bits), samples.last().map(|s| s.v.to_bits()));
        }

        #[test]
        fn restored_chunk_continues_exactly(samples in series(), split in any::<prop::sample::Index>()) {
            let at = split.index(samples.len() + 1);
            let mut restored = XorChunk::from_bytes(encode(&samples[..at]).bytes().to_vec()).unwrap();
            for sample in &samples[at..] {
                restored.append(sample.t, sample.v);
            }
            let straight = encode(&samples);
            prop_assert_eq!(restored.bytes(), straight.bytes());
        }

        #[test]
        fn truncation_is_an_error(samples in series(), cut in any::<prop::sample::Index>()) {
            let chunk = encode(&samples);
            let truncated = &chunk.bytes()[..cut.index(chunk.bytes().len())];
            prop_assert!(decode_xor(truncated).is_err());
            prop_assert!(XorChunk::from_bytes(truncated.to_vec()).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_xor(&bytes);
            let _ = XorChunk::from_bytes(bytes);
        }

        #[test]
        fn flipped_bits_never_panic(samples in series(), flips in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
            let mut bytes = encode(&samples).bytes().to_vec();
            let bit_count = bytes.len() * 8;
            for flip in flips {
                let bit = flip.index(bit_count);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            let _ = decode_xor(&bytes);
            if let Ok(mut chunk) = XorChunk::from_bytes(bytes) {
                chunk.append(chunk.last_time().unwrap_or(0).wrapping_add(1), 1.0);
                let _ = decode_xor(chunk.bytes());
            }
        }
    }
}
