//! The value format of the `series` tree: the labels of every series one
//! append created, deflated together.
//!
//! One sled value per batch instead of one per series: sled stores small
//! values at about 2.3 times their size, and label sets of one batch share most
//! of their bytes, which deflate removes (10k series of six labels: ~1 MB of
//! labels, ~0.1 MB stored), and one sled insert per append instead of one per
//! new series (a scrape's first round creates 100k series). Knows nothing of
//! sled or keys.
//!
//! ```text
//! format version  one byte, 1
//! deflate stream  count varint, then per series: id varint | labels (Labels::encode)
//! ```

use super::index::SeriesId;
use super::labels::{get_uvarint, put_uvarint, Labels};
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use std::io::{Read, Write};

const FORMAT_VERSION: u8 = 1;

/// Encodes the series of one batch.
pub fn encode(series: &[(SeriesId, Labels)]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(series.len() * 96 + 8);
    put_uvarint(&mut raw, series.len() as u64);
    for (id, labels) in series {
        put_uvarint(&mut raw, u64::from(*id));
        labels.encode(&mut raw);
    }
    let mut encoder = DeflateEncoder::new(vec![FORMAT_VERSION], Compression::fast());
    // Writing into a Vec cannot fail.
    match encoder.write_all(&raw).and_then(|()| encoder.finish()) {
        Ok(out) => out,
        Err(e) => unreachable!("deflate into memory failed: {e}"),
    }
}

/// Decodes a value written by [`encode`]; `None` when it is corrupt.
pub fn decode(bytes: &[u8]) -> Option<Vec<(SeriesId, Labels)>> {
    let (&version, stream) = bytes.split_first()?;
    if version != FORMAT_VERSION {
        return None;
    }
    let mut raw = Vec::new();
    DeflateDecoder::new(stream).read_to_end(&mut raw).ok()?;
    let mut src = &raw[..];
    let count = get_uvarint(&mut src)?;
    let mut out = Vec::with_capacity((count as usize).min(src.len()));
    for _ in 0..count {
        let id = SeriesId::try_from(get_uvarint(&mut src)?).ok()?;
        out.push((id, Labels::decode(&mut src)?));
    }
    src.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let series: Vec<(SeriesId, Labels)> = (0..500)
            .map(|i| {
                let labels =
                    Labels::from_pairs([("__name__", "up".to_string()), ("instance", format!("host-{i}"))]);
                (i + 7, labels)
            })
            .collect();
        let bytes = encode(&series);
        assert!(bytes.len() < 500 * 10, "deflated: {} bytes", bytes.len());
        assert_eq!(decode(&bytes), Some(series));
        assert_eq!(decode(&encode(&[])), Some(vec![]));
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&bytes[..bytes.len() / 2]), None);
        assert_eq!(decode(&[2, 1, 2, 3]), None);
    }
}
