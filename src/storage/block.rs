//! The cold block codec: samples of one series after compaction.
//!
//! Owns the byte layout of a compacted block and nothing else: it does not know
//! which series a block belongs to, where it is stored or when compaction runs.
//! It wraps the `pco` crate (pcodec), which picks delta orders and bins per block
//! and entropy-codes the result, far smaller than the XOR chunks of the head.
//!
//! # Layout
//!
//! ```text
//! format version   one byte, 1
//! sample count     unsigned LEB128 varint; the block ends here when it is 0
//! grid step        zigzag LEB128 varint: the rounded average interval
//! pco header       pco's wrapped-format header
//! time offsets     t[i] - i * step (wrapping), as pco chunks of i64, one page each
//!                  of up to PCO_CHUNK_LEN numbers
//! values           pco chunks of f64, same split
//! ```
//!
//! Subtracting the grid leaves regular scrapes with only their jitter, which pco
//! then codes in about as many bits as the jitter holds (a plain delta would code
//! the difference of two jitters, a wider range). The arithmetic wraps, so any
//! timestamps round-trip, irregular or not.
//!
//! pco maps floats to integers bijectively, so values round-trip bit-exactly,
//! NaN payloads and the stale marker included, in every mode (the property tests
//! check it); no escape for exceptional values is needed.
//!
//! # Measurements
//!
//! See the module docs of [`super::chunk`]: both codecs were measured together.

use pco::data_types::Number;
use pco::wrapped::{FileCompressor, FileDecompressor};
use pco::{ChunkConfig, PagingSpec};

use super::chunk::{unzigzag, zigzag, ChunkError, Varint};
use super::Sample;

const FORMAT_VERSION: u8 = 1;

/// Numbers per pco chunk: also the most a corrupt count can make the decoder
/// allocate before the data runs out.
const PCO_CHUNK_LEN: usize = 1 << 16;

/// Encodes samples (any order, any values) into a block.
pub fn encode_block(samples: &[Sample]) -> Vec<u8> {
    let mut out = vec![FORMAT_VERSION];
    out.extend(Varint::encode(samples.len() as u64));
    if samples.is_empty() {
        return out;
    }
    let step = grid_step(samples);
    out.extend(Varint::encode(zigzag(step)));
    let times: Vec<i64> = samples
        .iter()
        .zip(0i64..)
        .map(|(sample, i)| off_grid(sample.t, i, step))
        .collect();
    let values: Vec<f64> = samples.iter().map(|sample| sample.v).collect();
    let file = FileCompressor::default();
    write_infallibly(file.write_header(&mut out));
    compress_into(&file, &times, &mut out);
    compress_into(&file, &values, &mut out);
    out
}

/// The sample count from a block's header, without decoding the block.
pub fn block_sample_count(bytes: &[u8]) -> Result<u64, ChunkError> {
    let (&version, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
    if version != FORMAT_VERSION {
        return Err(ChunkError::UnsupportedVersion(version));
    }
    Ok(Varint::decode(rest)?.0)
}

/// Decodes a block written by [`encode_block`].
pub fn decode_block(bytes: &[u8]) -> Result<Vec<Sample>, ChunkError> {
    let (&version, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
    if version != FORMAT_VERSION {
        return Err(ChunkError::UnsupportedVersion(version));
    }
    let (count, width) = Varint::decode(rest)?;
    let rest = rest.get(width..).unwrap_or_default();
    let count = usize::try_from(count).map_err(|_| ChunkError::Truncated)?;
    if count == 0 {
        return finish(rest, Vec::new());
    }
    let (step, width) = Varint::decode(rest)?;
    let step = unzigzag(step);
    let rest = rest.get(width..).unwrap_or_default();
    let (file, rest) = FileDecompressor::new(rest)?;
    let (offsets, rest) = decompress::<i64>(&file, rest, count)?;
    let (values, rest) = decompress::<f64>(&file, rest, count)?;
    let samples = offsets
        .into_iter()
        .zip(values)
        .zip(0i64..)
        .map(|((offset, v), i)| Sample {
            t: on_grid(offset, i, step),
            v,
        })
        .collect();
    finish(rest, samples)
}

/// The average interval, from which regular scrapes deviate only by their jitter.
pub(super) fn grid_step(samples: &[Sample]) -> i64 {
    match (samples.first(), samples.last()) {
        (Some(first), Some(last)) if samples.len() > 1 => {
            let span = i128::from(last.t) - i128::from(first.t);
            let intervals = samples.len() as i128 - 1;
            i64::try_from((span + intervals / 2).div_euclid(intervals)).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Timestamp `t` of sample `index` minus `index` grid steps (wrapping, so any input round-trips).
fn off_grid(t: i64, index: i64, step: i64) -> i64 {
    t.wrapping_sub(index.wrapping_mul(step))
}

fn on_grid(offset: i64, index: i64, step: i64) -> i64 {
    offset.wrapping_add(index.wrapping_mul(step))
}

fn finish(rest: &[u8], samples: Vec<Sample>) -> Result<Vec<Sample>, ChunkError> {
    if rest.is_empty() {
        Ok(samples)
    } else {
        Err(ChunkError::TrailingBytes(rest.len()))
    }
}

fn compress_into<T: Number>(file: &FileCompressor, numbers: &[T], out: &mut Vec<u8>) {
    for numbers in numbers.chunks(PCO_CHUNK_LEN) {
        let config = ChunkConfig::default().with_paging_spec(PagingSpec::Exact(vec![numbers.len()]));
        let mut compressor = write_infallibly(file.chunk_compressor(numbers, &config));
        write_infallibly(compressor.write_meta(&mut *out));
        write_infallibly(compressor.write_page(0, &mut *out));
    }
}

/// pco only fails on invalid arguments (none here: every chunk holds 1 to
/// `PCO_CHUNK_LEN` numbers, paged exactly) or when the writer fails (a `Vec` never does).
fn write_infallibly<T>(result: pco::errors::PcoResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => unreachable!("pco refused valid input: {err}"),
    }
}

/// Reads `count` numbers, chunk by chunk, and returns them with the rest of the input.
fn decompress<'a, T: Number>(
    file: &FileDecompressor,
    mut src: &'a [u8],
    count: usize,
) -> Result<(Vec<T>, &'a [u8]), ChunkError> {
    let mut numbers = Vec::new();
    while numbers.len() < count {
        let chunk_len = (count - numbers.len()).min(PCO_CHUNK_LEN);
        let (mut chunk, rest) = file.chunk_decompressor::<T, _>(src)?;
        let mut page = chunk.page_decompressor(rest, chunk_len)?;
        let start = numbers.len();
        numbers.resize(start + chunk_len, T::default());
        let progress = page.read(numbers.get_mut(start..).unwrap_or_default())?;
        if !progress.finished {
            return Err(ChunkError::Truncated);
        }
        src = page.into_src();
    }
    Ok((numbers, src))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::chunk::tests::{series, special_values};
    use proptest::prelude::*;

    #[test]
    fn empty_and_single_sample_blocks_round_trip() {
        assert_eq!(encode_block(&[]), vec![FORMAT_VERSION, 0]);
        assert_eq!(decode_block(&encode_block(&[])).unwrap(), vec![]);
        let one = [Sample { t: -7, v: 0.25 }];
        assert_eq!(decode_block(&encode_block(&one)).unwrap(), one);
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        for repeat in [1, 100, 1_000] {
            let samples: Vec<Sample> = special_values()
                .into_iter()
                .cycle()
                .take(special_values().len() * repeat)
                .enumerate()
                .map(|(i, v)| Sample {
                    t: i as i64 * 15_000,
                    v,
                })
                .collect();
            assert_eq!(decode_block(&encode_block(&samples)).unwrap(), samples);
        }
    }

    #[test]
    fn extreme_and_irregular_timestamps_round_trip() {
        for times in [
            vec![i64::MIN, i64::MAX],
            vec![i64::MAX, i64::MIN, 0],
            vec![5, 5, 5],
            vec![-3, 1 << 40, 1 << 41],
        ] {
            let samples: Vec<Sample> = times.into_iter().map(|t| Sample { t, v: 1.0 }).collect();
            assert_eq!(decode_block(&encode_block(&samples)).unwrap(), samples);
        }
    }

    #[test]
    fn blocks_longer_than_one_pco_chunk_round_trip() {
        let samples: Vec<Sample> = (0..PCO_CHUNK_LEN as i64 * 2 + 3)
            .map(|i| Sample {
                t: i * 10,
                v: (i % 7) as f64,
            })
            .collect();
        assert_eq!(decode_block(&encode_block(&samples)).unwrap(), samples);
    }

    #[test]
    fn unknown_version_and_trailing_bytes_are_errors() {
        let mut block = encode_block(&[Sample { t: 1, v: 1.0 }]);
        block.push(0);
        assert_eq!(decode_block(&block), Err(ChunkError::TrailingBytes(1)));
        block[0] = 9;
        assert_eq!(decode_block(&block), Err(ChunkError::UnsupportedVersion(9)));
        assert_eq!(decode_block(&[]), Err(ChunkError::Truncated));
    }

    /// Values that lead pco to its FloatMult and FloatQuant modes (checked by hand on pco 1.1),
    /// with NaN payloads, infinities and stale markers mixed in.
    fn mode_tempting_values() -> impl Strategy<Value = Vec<f64>> {
        let exception = || {
            prop_oneof![
                prop::sample::select(special_values()),
                any::<u64>().prop_map(f64::from_bits)
            ]
        };
        let decimal = prop_oneof![
            20 => (0i32..10_000).prop_map(|k| f64::from(k) * 0.1),
            1 => exception(),
        ];
        let quantized = prop_oneof![
            20 => any::<f32>().prop_filter("finite", |v| v.is_finite()).prop_map(f64::from),
            1 => exception(),
        ];
        prop_oneof![
            prop::collection::vec(decimal, 0..2_000),
            prop::collection::vec(quantized, 0..2_000)
        ]
    }

    proptest! {
        #[test]
        fn round_trips_any_series(samples in series()) {
            prop_assert_eq!(decode_block(&encode_block(&samples)).unwrap(), samples);
        }

        #[test]
        fn float_modes_keep_every_bit(values in mode_tempting_values()) {
            let samples: Vec<Sample> =
                values.into_iter().enumerate().map(|(i, v)| Sample { t: i as i64 * 15_000, v }).collect();
            prop_assert_eq!(decode_block(&encode_block(&samples)).unwrap(), samples);
        }

        #[test]
        fn truncation_is_an_error(samples in series(), cut in any::<prop::sample::Index>()) {
            let block = encode_block(&samples);
            prop_assert!(decode_block(&block[..cut.index(block.len())]).is_err());
        }

        #[test]
        fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_block(&bytes);
            let mut versioned = vec![FORMAT_VERSION];
            versioned.extend(bytes);
            let _ = decode_block(&versioned);
        }

        #[test]
        fn flipped_bits_never_panic(samples in series(), flips in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
            let mut block = encode_block(&samples);
            let bit_count = block.len() * 8;
            for flip in flips {
                let bit = flip.index(bit_count);
                block[bit / 8] ^= 1 << (bit % 8);
            }
            let _ = decode_block(&block);
        }
    }
}
