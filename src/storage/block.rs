//! TEMPORARY STUB (not committed)
use super::chunk::ChunkError;
use super::Sample;
pub fn encode_block(samples: &[Sample]) -> Vec<u8> {
    let mut c = super::chunk::XorChunk::new();
    for s in samples {
        c.append(s.t, s.v);
    }
    c.bytes().to_vec()
}
pub fn decode_block(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    super::chunk::decode_xor(bytes)
}
