//! Prometheus's label-set hash: xxHash64 (seed 0) over `name 0xff value 0xff …`.
//!
//! Used where a result must pick the same series Prometheus picks
//! (`limit_ratio`). Must not touch sled or HTTP.

use crate::storage::Labels;

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// `labels.Labels.Hash()` of Prometheus.
pub(crate) fn labels_hash(labels: &Labels) -> u64 {
    let mut bytes = Vec::with_capacity(256);
    for l in labels.iter() {
        bytes.extend_from_slice(l.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(l.value.as_bytes());
        bytes.push(0xff);
    }
    xxh64(&bytes)
}

fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge_round(acc: u64, val: u64) -> u64 {
    (acc ^ round(0, val)).wrapping_mul(P1).wrapping_add(P4)
}

fn read_u64(b: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u64::from_le_bytes(buf)
}

fn read_u32(b: &[u8]) -> u64 {
    let mut buf = [0u8; 4];
    buf.iter_mut().zip(b).for_each(|(d, s)| *d = *s);
    u64::from(u32::from_le_bytes(buf))
}

/// xxHash64 with seed 0.
fn xxh64(input: &[u8]) -> u64 {
    let mut stripes = input.chunks_exact(32);
    let mut h = if input.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        for stripe in &mut stripes {
            for (acc, lane) in v.iter_mut().zip(stripe.chunks_exact(8)) {
                *acc = round(*acc, read_u64(lane));
            }
        }
        let h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        v.iter().fold(h, |h, &lane| merge_round(h, lane))
    } else {
        P5
    };
    h = h.wrapping_add(input.len() as u64);
    let mut rest = stripes.remainder();
    if input.len() < 32 {
        rest = input;
    }
    let mut words = rest.chunks_exact(8);
    for w in &mut words {
        h = (h ^ round(0, read_u64(w)))
            .rotate_left(27)
            .wrapping_mul(P1)
            .wrapping_add(P4);
    }
    let mut tail = words.remainder();
    if tail.len() >= 4 {
        h = (h ^ read_u32(tail).wrapping_mul(P1))
            .rotate_left(23)
            .wrapping_mul(P2)
            .wrapping_add(P3);
        tail = tail.get(4..).unwrap_or(&[]);
    }
    for &byte in tail {
        h = (h ^ u64::from(byte).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_reference_values() {
        assert_eq!(xxh64(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc"), 0x44BC_2CF5_AD77_0999);
        assert_eq!(
            xxh64(b"Nobody inspects the spammish repetition"),
            0xFBCE_A83C_8A37_8BF1
        );
    }
}
