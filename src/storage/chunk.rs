//! TEMPORARY STUB (not committed): raw encoding with the codec branch's API.
use super::Sample;
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("corrupt chunk")]
    Corrupt,
}
#[derive(Debug, Clone, Default)]
pub struct XorChunk {
    bytes: Vec<u8>,
}
impl XorChunk {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn append(&mut self, t: i64, v: f64) {
        self.bytes.extend_from_slice(&t.to_le_bytes());
        self.bytes.extend_from_slice(&v.to_bits().to_le_bytes());
    }
    pub fn num_samples(&self) -> usize {
        self.bytes.len() / 16
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn first_time(&self) -> Option<i64> {
        self.bytes
            .get(..8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
    }
    pub fn last_time(&self) -> Option<i64> {
        let n = self.bytes.len();
        if n == 0 {
            None
        } else {
            Some(i64::from_le_bytes(self.bytes[n - 16..n - 8].try_into().unwrap()))
        }
    }
    pub fn from_bytes(bytes: Vec<u8>) -> Result<XorChunk, ChunkError> {
        Ok(XorChunk { bytes })
    }
}
pub fn decode_xor(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    if bytes.len() % 16 != 0 {
        return Err(ChunkError::Corrupt);
    }
    Ok(bytes
        .chunks(16)
        .map(|c| Sample {
            t: i64::from_le_bytes(c[..8].try_into().unwrap()),
            v: f64::from_bits(u64::from_le_bytes(c[8..].try_into().unwrap())),
        })
        .collect())
}
