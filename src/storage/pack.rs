//! The pack codec: the compacted samples of a group of series in one partition.
//!
//! Owns the byte layout of a pack and nothing else: which series are grouped,
//! where packs are stored and when compaction runs are decided elsewhere
//! (`maintain.rs`, `layout.rs`).
//!
//! A pack holds up to [`PACK_MAX_SERIES`] series (compaction groups series of one
//! metric name, which behave alike) as one pco chunk of time offsets and one of
//! values, paged every [`PAGE_SERIES`] series. pco keeps its mode and bins per
//! chunk and its delta state per page, so the group shares what a block per
//! series paid for every series (~50-60 bytes of a 200-sample block), and a
//! read of one series decodes one page, not the pack. On
//! `benches/ingest_compare.rs`'s data (10k series of six metric names, 200
//! samples each; values as floats), pco's bytes per sample for values: a block per series 0.81;
//! chunks of 64 series of one name paged every 1, 2, 4, 8 and 16 series 0.59,
//! 0.57, 0.55, 0.545 and 0.54 (a page costs ~10 bytes: its delta moment and
//! entropy coder states); chunks of 8, 16, 32 and 128 series paged per series
//! 0.65, 0.62, 0.60 and 0.59; chunks of 60 series of mixed names 1.68 (one
//! chunk's mode and bins do not fit unlike series).
//!
//! # Layout
//!
//! ```text
//! format version   one byte, 2 (format 1, still read, has no value coding
//!                  byte and six varints per member)
//! value coding     one byte: 0, values are an f64 chunk; 1 + k, values are
//!                  an i64 chunk of value * 10^k (`ValueCoding`)
//! member count     unsigned LEB128 varint, at least 1
//! per member       fields, most of them the difference from the previous
//!                  member's (0 for the first member's "previous"): series id
//!                  (members are ordered by series, then time), sample count,
//!                  first timestamp (wrapping), grid step, last timestamp's
//!                  distance from its grid place (wrapping, not a difference),
//!                  first timestamp minus the grid's origin (wrapping, not a
//!                  difference; see `Grid`). Stored as the varint
//!                  `series delta << 4 | flags`, the first timestamp's
//!                  difference (zigzag varint), then a zigzag varint for each
//!                  other field that is not 0, flagged by one bit each
//!                  (`TableEntry`). Regular series of one scrape differ in
//!                  little but their first timestamps, so a member's entry is
//!                  ~3 bytes.
//! per page         bytes of its time page and of its value page (varints);
//!                  a page holds PAGE_SERIES members, the last one the rest
//! pco header       pco's wrapped-format header
//! time offsets     one pco chunk of i64: its metadata, then its pages, each the
//!                  members' t[i] - origin - i * step (wrapping) one after another
//! values           one pco chunk of f64 or i64: its metadata, then its pages
//! ```
//!
//! As in [`super::block`], subtracting the grid leaves regular scrapes with only
//! their jitter, and every value round-trips bit-exactly.

use pco::data_types::Number;
use pco::wrapped::{ChunkDecompressor, FileCompressor, FileDecompressor};
use pco::{ChunkConfig, PagingSpec};

use super::block::grid_step;
use super::chunk::{unzigzag, zigzag, ChunkError, Varint};
use super::index::SeriesId;
use super::Sample;

/// The format written: member entries as flags and only the fields that are
/// not zero.
const FORMAT_VERSION: u8 = 2;
/// The first format, still read: member entries of six varints each.
const FORMAT_SIX_VARINTS: u8 = 1;

/// Samples a pack is filled to: compaction closes a pack once it holds this
/// many (or [`PACK_MAX_SERIES`] series). Past 64 series of 200 samples the
/// shared metadata is under 1% of the bytes (figures above); what decides the
/// size is what sled stores around a pack. A tree leaf holds up to 16 packs
/// and is written to a file of its own once it passes 16 KiB, while smaller
/// leaves stay in sled's log, whose space is reused late.
/// `benches/ingest_compare.rs`, bytes/sample on disk, the 50-minute window
/// inside one partition / split 25 + 25 min / 40 + 10 / 5 + 45, with packs of
/// a fixed series count: 64 series 0.93 / 0.99-1.04 / 0.93 / -; 96 series
/// 0.89-0.91 / 0.91-0.95 / 0.93 / 0.99-1.04 (the 5-minute side's packs of
/// 20-sample series weigh ~1.3 KiB, and sled's log grew to 0.9 MB); 128
/// series 0.96 / 0.89-0.91 / 0.90 / -; 32 series (split) 1.15. Filled to
/// this many samples, packs weigh ~10 KiB wherever the window falls: 16 runs
/// over 9 placements gave 0.88-1.00, median 0.92 (12,800 samples: 0.89-1.01;
/// 28,800, packs just under sled's 16 KiB: 0.89-0.95; 40,000, each pack a
/// file of its own: 0.82-1.58). `maintain.rs` halves a pack that would pass
/// 15 KiB. A read of one series copies its whole pack out of sled and
/// decodes one page.
pub const PACK_TARGET_SAMPLES: usize = 96 * 200;

/// Series per pack at most, which bounds a pack's table (~3 bytes a member)
/// when its series hold a sample or two each.
pub const PACK_MAX_SERIES: usize = 1024;

/// Series per pco page: a read of one series decodes its page's.
pub const PAGE_SERIES: usize = 8;

/// Samples per pack: also the most a corrupt pack can make the decoder allocate.
pub const PACK_MAX_SAMPLES: usize = 1 << 16;

/// One series' samples to pack: in time order, at least one.
pub struct PackMember<'a> {
    pub series: SeriesId,
    pub samples: &'a [Sample],
}

/// What a pack's table says about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub series: SeriesId,
    pub min_t: i64,
    pub max_t: i64,
    pub count: usize,
    grid: Grid,
}

/// One chunk's pages in order: the numbers of those decoded, `None` for the others.
type DecodedPages<T> = Vec<Option<Vec<T>>>;

/// The byte lengths of one page of each chunk.
struct PageInfo {
    time_bytes: usize,
    value_bytes: usize,
}

/// Encodes members (ordered by series, then time; at most
/// [`PACK_MAX_SAMPLES`] samples in all) into a pack.
pub fn encode_pack(members: &[PackMember<'_>]) -> Vec<u8> {
    debug_assert!(members.iter().all(|m| !m.samples.is_empty()));
    debug_assert!(members.iter().map(|m| m.samples.len()).sum::<usize>() <= PACK_MAX_SAMPLES);
    let grids: Vec<Grid> = members.iter().map(|m| Grid::of(m.samples)).collect();
    let offsets: Vec<Vec<i64>> = members
        .chunks(PAGE_SERIES)
        .zip(grids.chunks(PAGE_SERIES))
        .map(|(page, grids)| {
            page.iter()
                .zip(grids)
                .flat_map(|(m, grid)| grid.offsets(m.samples))
                .collect()
        })
        .collect();
    let values: Vec<Vec<f64>> = members
        .chunks(PAGE_SERIES)
        .map(|page| page.iter().flat_map(|m| m.samples.iter().map(|s| s.v)).collect())
        .collect();
    let file = FileCompressor::default();
    let (time_section, time_pages) = compress_paged(&file, &offsets, ChunkConfig::default());
    let (coding, value_section, value_pages) = compress_values(&file, &values);
    let mut out = vec![FORMAT_VERSION, coding.to_byte()];
    write_table(&mut out, members, &grids);
    for (time_bytes, value_bytes) in time_pages.into_iter().zip(value_pages) {
        out.extend(Varint::encode(time_bytes as u64));
        out.extend(Varint::encode(value_bytes as u64));
    }
    write_infallibly(file.write_header(&mut out));
    out.extend(time_section);
    out.extend(value_section);
    out
}

/// What a member's table entry is relative to: the previous member's.
#[derive(Default, Clone, Copy)]
struct Entry {
    series: SeriesId,
    count: i64,
    first: i64,
    step: i64,
}

impl Entry {
    /// Where the last timestamp lies if every interval is the grid step.
    fn grid_end(&self) -> i64 {
        self.first.wrapping_add((self.count - 1).wrapping_mul(self.step))
    }
}

/// The values' chunk: whole numbers of 10^-k when [`DecimalPlaces::fewest`]
/// finds every value is one, else floats.
fn compress_values(file: &FileCompressor, values: &[Vec<f64>]) -> (ValueCoding, Vec<u8>, Vec<usize>) {
    let all = || values.iter().flatten().copied();
    let decimal = DecimalPlaces::fewest(all()).and_then(|places| {
        let wholes: Option<Vec<Vec<i64>>> = values
            .iter()
            .map(|page| page.iter().map(|&v| places.whole(v)).collect())
            .collect();
        Some((places, wholes?))
    });
    match decimal {
        Some((places, wholes)) => {
            let (section, pages) = compress_paged(file, &wholes, ChunkConfig::default());
            (ValueCoding::Decimal(places), section, pages)
        }
        None => {
            let (section, pages) = compress_paged(file, values, ChunkConfig::default());
            (ValueCoding::Float, section, pages)
        }
    }
}

/// The member count and each member's [`TableEntry`].
fn write_table(out: &mut Vec<u8>, members: &[PackMember<'_>], grids: &[Grid]) {
    out.extend(Varint::encode(members.len() as u64));
    let mut previous = Entry::default();
    for (member, grid) in members.iter().zip(grids) {
        let entry = Entry {
            series: member.series,
            count: member.samples.len() as i64,
            first: member.samples.first().map_or(0, |s| s.t),
            step: grid.step,
        };
        let last = member.samples.last().map_or(0, |s| s.t);
        TableEntry {
            series_delta: entry.series - previous.series,
            count_delta: entry.count - previous.count,
            first_delta: entry.first.wrapping_sub(previous.first),
            step_delta: entry.step.wrapping_sub(previous.step),
            last_off_grid: last.wrapping_sub(entry.grid_end()),
            first_off_origin: entry.first.wrapping_sub(grid.origin),
        }
        .write(out);
        previous = entry;
    }
}

/// One member's table entry as stored: differences from the previous
/// member's [`Entry`] (series, count, first timestamp, step) and the member's
/// last and first timestamps against its grid.
struct TableEntry {
    series_delta: u32,
    count_delta: i64,
    first_delta: i64,
    step_delta: i64,
    last_off_grid: i64,
    first_off_origin: i64,
}

/// Bits of a format 2 entry's first varint saying which fields follow;
/// the series delta is shifted above them.
const COUNT_CHANGED: u64 = 1;
const STEP_CHANGED: u64 = 2;
const LAST_OFF_GRID: u64 = 4;
const FIRST_OFF_ORIGIN: u64 = 8;
const FLAG_BITS: u32 = 4;

impl TableEntry {
    /// Format 2: `series delta << 4 | flags`, the first timestamp's
    /// difference, then each flagged field (zigzag varints). A member of a
    /// regular scrape in a run of like members takes 3 bytes.
    fn write(&self, out: &mut Vec<u8>) {
        let optional = self.optional_fields();
        let flags = optional
            .iter()
            .filter(|(_, value)| *value != 0)
            .fold(0, |flags, (bit, _)| flags | bit);
        out.extend(Varint::encode(u64::from(self.series_delta) << FLAG_BITS | flags));
        out.extend(Varint::encode(zigzag(self.first_delta)));
        for (_, value) in optional.iter().filter(|(_, value)| *value != 0) {
            out.extend(Varint::encode(zigzag(*value)));
        }
    }

    fn optional_fields(&self) -> [(u64, i64); 4] {
        [
            (COUNT_CHANGED, self.count_delta),
            (STEP_CHANGED, self.step_delta),
            (LAST_OFF_GRID, self.last_off_grid),
            (FIRST_OFF_ORIGIN, self.first_off_origin),
        ]
    }

    fn read(reader: &mut Reader<'_>, version: u8) -> Result<Self, ChunkError> {
        if version == FORMAT_SIX_VARINTS {
            return Ok(TableEntry {
                series_delta: u32::try_from(reader.varint()?).map_err(|_| ChunkError::Truncated)?,
                count_delta: unzigzag(reader.varint()?),
                first_delta: unzigzag(reader.varint()?),
                step_delta: unzigzag(reader.varint()?),
                last_off_grid: unzigzag(reader.varint()?),
                first_off_origin: unzigzag(reader.varint()?),
            });
        }
        let head = reader.varint()?;
        let series_delta = u32::try_from(head >> FLAG_BITS).map_err(|_| ChunkError::Truncated)?;
        let first_delta = unzigzag(reader.varint()?);
        let mut field = |bit: u64| -> Result<i64, ChunkError> {
            if head & bit == 0 {
                Ok(0)
            } else {
                Ok(unzigzag(reader.varint()?))
            }
        };
        Ok(TableEntry {
            series_delta,
            count_delta: field(COUNT_CHANGED)?,
            first_delta,
            step_delta: field(STEP_CHANGED)?,
            last_off_grid: field(LAST_OFF_GRID)?,
            first_off_origin: field(FIRST_OFF_ORIGIN)?,
        })
    }
}

/// A pack whose table is read; its pages are decoded on demand.
pub struct Pack<'a> {
    members: Vec<MemberInfo>,
    pages: Vec<PageInfo>,
    coding: ValueCoding,
    body: &'a [u8],
}

impl<'a> Pack<'a> {
    /// Reads the member table of a pack written by [`encode_pack`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ChunkError> {
        let (&version, rest) = bytes.split_first().ok_or(ChunkError::Truncated)?;
        let (coding, rest) = match version {
            FORMAT_SIX_VARINTS => (ValueCoding::Float, rest),
            FORMAT_VERSION => {
                let (&byte, rest) = rest.split_first().ok_or(ChunkError::Truncated)?;
                (ValueCoding::from_byte(byte)?, rest)
            }
            _ => return Err(ChunkError::UnsupportedVersion(version)),
        };
        let mut reader = Reader(rest);
        let members = read_table(&mut reader, version)?;
        let count = members.len();
        let pages = (0..count.div_ceil(PAGE_SERIES))
            .map(|_| {
                Ok(PageInfo {
                    time_bytes: reader.count(bytes.len())?,
                    value_bytes: reader.count(bytes.len())?,
                })
            })
            .collect::<Result<Vec<_>, ChunkError>>()?;
        Ok(Pack {
            members,
            pages,
            coding,
            body: reader.0,
        })
    }

    pub fn members(&self) -> &[MemberInfo] {
        &self.members
    }

    /// Decodes the members `wanted` accepts, in table order.
    pub fn decode(
        &self,
        wanted: impl Fn(&MemberInfo) -> bool,
    ) -> Result<Vec<(SeriesId, Vec<Sample>)>, ChunkError> {
        let picked: Vec<bool> = self.members.iter().map(wanted).collect();
        let pages: Vec<(&[MemberInfo], bool)> = self
            .members
            .chunks(PAGE_SERIES)
            .zip(picked.chunks(PAGE_SERIES))
            .map(|(members, picked)| (members, picked.contains(&true)))
            .collect();
        let (file, rest) = FileDecompressor::new(self.body)?;
        let (times, rest) = self.decode_section::<i64>(&file, rest, &pages, |p| p.time_bytes)?;
        let (values, rest) = match self.coding {
            ValueCoding::Float => self.decode_section::<f64>(&file, rest, &pages, |p| p.value_bytes)?,
            ValueCoding::Decimal(places) => {
                let (wholes, rest) = self.decode_section::<i64>(&file, rest, &pages, |p| p.value_bytes)?;
                let unscale = |page: Vec<i64>| page.into_iter().map(|n| places.unscale(n)).collect();
                (wholes.into_iter().map(|page| page.map(unscale)).collect(), rest)
            }
        };
        if !rest.is_empty() {
            return Err(ChunkError::TrailingBytes(rest.len()));
        }
        let mut out = Vec::new();
        let mut members = self.members.iter().zip(&picked);
        for ((page_members, _), (offsets, values)) in pages.iter().zip(times.into_iter().zip(values)) {
            let (Some(offsets), Some(values)) = (offsets, values) else {
                members.by_ref().take(page_members.len()).for_each(drop);
                continue;
            };
            let mut at = 0;
            for (member, &pick) in members.by_ref().take(page_members.len()) {
                let (start, end) = (at, at + member.count);
                at = end;
                if pick {
                    out.push((
                        member.series,
                        member.samples(&offsets[start..end], &values[start..end]),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Reads one chunk's metadata and its pages, decoding those of picked
    /// members; returns them (`None` for the others) with the input after the chunk.
    fn decode_section<'s, T: Number>(
        &self,
        file: &FileDecompressor,
        src: &'s [u8],
        pages: &[(&[MemberInfo], bool)],
        page_bytes: impl Fn(&PageInfo) -> usize,
    ) -> Result<(DecodedPages<T>, &'s [u8]), ChunkError> {
        let (mut chunk, mut rest): (ChunkDecompressor<T>, &[u8]) = file.chunk_decompressor(src)?;
        let mut out = Vec::with_capacity(pages.len());
        for (info, (members, pick)) in self.pages.iter().zip(pages) {
            let len = page_bytes(info);
            let page = rest.get(..len).ok_or(ChunkError::Truncated)?;
            rest = rest.get(len..).unwrap_or_default();
            let count = members.iter().map(|m| m.count).sum();
            out.push(if *pick {
                Some(decode_page(&mut chunk, page, count)?)
            } else {
                None
            });
        }
        Ok((out, rest))
    }
}

/// The member count and the members' entries of a pack in `version`.
fn read_table(reader: &mut Reader<'_>, version: u8) -> Result<Vec<MemberInfo>, ChunkError> {
    let count = reader.count(PACK_MAX_SAMPLES)?;
    let mut members = Vec::with_capacity(count);
    let (mut previous, mut total) = (Entry::default(), 0usize);
    for _ in 0..count {
        let raw = TableEntry::read(reader, version)?;
        let series = previous
            .series
            .checked_add(raw.series_delta)
            .ok_or(ChunkError::Truncated)?;
        let samples = previous
            .count
            .checked_add(raw.count_delta)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0 && n <= PACK_MAX_SAMPLES - total)
            .ok_or(ChunkError::Truncated)?;
        total += samples;
        let entry = Entry {
            series,
            count: samples as i64,
            first: previous.first.wrapping_add(raw.first_delta),
            step: previous.step.wrapping_add(raw.step_delta),
        };
        members.push(MemberInfo {
            series,
            min_t: entry.first,
            max_t: entry.grid_end().wrapping_add(raw.last_off_grid),
            count: samples,
            grid: Grid {
                step: entry.step,
                origin: entry.first.wrapping_sub(raw.first_off_origin),
            },
        });
        previous = entry;
    }
    Ok(members)
}

impl MemberInfo {
    /// The samples from this member's time offsets and values.
    fn samples(&self, offsets: &[i64], values: &[f64]) -> Vec<Sample> {
        offsets
            .iter()
            .zip(values)
            .zip(0i64..)
            .map(|((&offset, &v), i)| Sample {
                t: self.grid.time(offset, i),
                v,
            })
            .collect()
    }
}

fn decode_page<T: Number>(
    chunk: &mut ChunkDecompressor<T>,
    page: &[u8],
    count: usize,
) -> Result<Vec<T>, ChunkError> {
    let mut decoder = chunk.page_decompressor(page, count)?;
    let mut numbers = vec![T::default(); count];
    let progress = decoder.read(&mut numbers)?;
    if !progress.finished {
        return Err(ChunkError::Truncated);
    }
    match decoder.into_src().len() {
        0 => Ok(numbers),
        extra => Err(ChunkError::TrailingBytes(extra)),
    }
}

/// How a pack's values are coded: a chunk of floats, or, when every value
/// is a whole number of 10^-places (each `n / 10^places` exactly), a chunk of
/// those whole numbers. Values parsed from exposition text mostly are, and pco
/// codes whole numbers tighter: on `benches/ingest_compare.rs`'s gauges of two
/// decimals, 0.69 bytes/sample against 0.76 as floats, and byte gauges in
/// 4 KiB steps, 100 samples a series, 0.68 against 0.92 (pco finds the
/// common factor of whole numbers, and misses it in floats of short series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueCoding {
    Float,
    Decimal(DecimalPlaces),
}

/// Decimal places of a pack's values, at most [`DecimalPlaces::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DecimalPlaces(u8);

/// Powers of ten that an f64 holds exactly.
const POWERS_OF_TEN: [f64; 13] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

impl DecimalPlaces {
    const MAX: u8 = 12;

    fn power(self) -> f64 {
        POWERS_OF_TEN[usize::from(self.0)]
    }

    /// `v` as a whole number of 10^-places, if it is exactly one (NaN,
    /// infinities, -0.0 and numbers past 2^53 are not).
    fn whole(self, v: f64) -> Option<i64> {
        const EXACT: f64 = (1u64 << 53) as f64;
        let scaled = (v * self.power()).round();
        if scaled.is_nan() || scaled.abs() > EXACT {
            return None;
        }
        let n = scaled as i64;
        (self.unscale(n).to_bits() == v.to_bits()).then_some(n)
    }

    fn unscale(self, n: i64) -> f64 {
        n as f64 / self.power()
    }

    /// The fewest places at which each value, on its own, is a whole number
    /// of 10^-places; `None` when one is not at [`DecimalPlaces::MAX`]. A
    /// value exact at fewer places is not always exact at more, so the
    /// caller still converts each value with [`DecimalPlaces::whole`].
    fn fewest(values: impl Iterator<Item = f64>) -> Option<DecimalPlaces> {
        let mut places = DecimalPlaces(0);
        for v in values {
            while places.whole(v).is_none() {
                if places.0 == DecimalPlaces::MAX {
                    return None;
                }
                places.0 += 1;
            }
        }
        Some(places)
    }
}

impl ValueCoding {
    fn to_byte(self) -> u8 {
        match self {
            ValueCoding::Float => 0,
            ValueCoding::Decimal(places) => 1 + places.0,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, ChunkError> {
        match byte {
            0 => Ok(ValueCoding::Float),
            b if b - 1 <= DecimalPlaces::MAX => Ok(ValueCoding::Decimal(DecimalPlaces(b - 1))),
            b => Err(ChunkError::UnknownValueCoding(b)),
        }
    }
}

/// One pco chunk holding every list as a page of its own: the chunk's bytes
/// and each page's length.
fn compress_paged<T: Number>(
    file: &FileCompressor,
    lists: &[Vec<T>],
    config: ChunkConfig,
) -> (Vec<u8>, Vec<usize>) {
    let all: Vec<T> = lists.iter().flatten().copied().collect();
    let config = config.with_paging_spec(PagingSpec::Exact(lists.iter().map(Vec::len).collect()));
    let mut compressor = write_infallibly(file.chunk_compressor(&all, &config));
    let mut out = Vec::new();
    write_infallibly(compressor.write_meta(&mut out));
    let mut lengths = Vec::with_capacity(lists.len());
    for page in 0..lists.len() {
        let before = out.len();
        write_infallibly(compressor.write_page(page, &mut out));
        lengths.push(out.len() - before);
    }
    (out, lengths)
}

/// pco only fails on invalid arguments (none here: pages of at least one
/// number, at most `PACK_MAX_SAMPLES` in all, paged exactly) or when the
/// writer fails (a `Vec` never does).
fn write_infallibly<T>(result: pco::errors::PcoResult<T>) -> T {
    match result {
        Ok(value) => value,
        Err(err) => unreachable!("pco refused valid input: {err}"),
    }
}

/// The regular schedule a member's timestamps are coded against: sample `i`
/// is at `origin + i * step` plus its offset. The origin is the median of the
/// samples' own places on a grid of `step`, so the offsets are each sample's
/// jitter around the schedule, centred on 0 for every series: anchored at its
/// first sample instead, a series' offsets were shifted by that sample's
/// jitter, and the union over a page's series, which one pco chunk's bins
/// must cover, was twice as wide (`benches/chunk.rs`, counters with ±3 ms
/// jitter: 0.91 bytes/sample, against 0.82 centred and 0.84 for a block of
/// one series).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Grid {
    step: i64,
    origin: i64,
}

impl Grid {
    fn of(samples: &[Sample]) -> Grid {
        let step = grid_step(samples);
        let mut places: Vec<i64> = samples
            .iter()
            .zip(0i64..)
            .map(|(s, i)| s.t.wrapping_sub(i.wrapping_mul(step)))
            .collect();
        let middle = places.len() / 2;
        let origin = match places.get(middle) {
            Some(_) => *places.select_nth_unstable(middle).1,
            None => 0,
        };
        Grid { step, origin }
    }

    /// Each timestamp's distance from its place on the schedule (wrapping, so
    /// any input round-trips).
    fn offsets(&self, samples: &[Sample]) -> Vec<i64> {
        samples
            .iter()
            .zip(0i64..)
            .map(|(s, i)| s.t.wrapping_sub(self.time(0, i)))
            .collect()
    }

    /// The timestamp of sample `index` at `offset` from its place.
    fn time(&self, offset: i64, index: i64) -> i64 {
        self.origin
            .wrapping_add(index.wrapping_mul(self.step))
            .wrapping_add(offset)
    }
}

/// Reads varints off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn varint(&mut self) -> Result<u64, ChunkError> {
        let (value, width) = Varint::decode(self.0)?;
        self.0 = self.0.get(width..).unwrap_or_default();
        Ok(value)
    }

    /// A varint that counts something of which there are at most `max`.
    fn count(&mut self, max: usize) -> Result<usize, ChunkError> {
        usize::try_from(self.varint()?)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(ChunkError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::chunk::tests::{series, special_values};
    use proptest::prelude::*;

    fn regular(series_count: u32, len: i64) -> Vec<(SeriesId, Vec<Sample>)> {
        (0..series_count)
            .map(|id| {
                let samples = (0..len)
                    .map(|i| Sample {
                        t: 1_700_000_000_000 + i * 15_000 + i64::from(id) * 7,
                        v: (i * i64::from(id + 1)) as f64,
                    })
                    .collect();
                (id * 3, samples)
            })
            .collect()
    }

    fn pack_of(members: &[(SeriesId, Vec<Sample>)]) -> Vec<u8> {
        let members: Vec<PackMember<'_>> = members
            .iter()
            .map(|(series, samples)| PackMember {
                series: *series,
                samples,
            })
            .collect();
        encode_pack(&members)
    }

    #[test]
    fn members_round_trip_together_and_one_by_one() {
        let members = regular(5, 200);
        let bytes = pack_of(&members);
        let pack = Pack::parse(&bytes).unwrap();
        assert_eq!(pack.decode(|_| true).unwrap(), members);
        let info = &pack.members()[3];
        assert_eq!((info.series, info.count), (9, 200));
        assert_eq!((info.min_t, info.max_t), (members[3].1[0].t, members[3].1[199].t));
        assert_eq!(pack.decode(|m| m.series == 9).unwrap(), vec![members[3].clone()]);
        assert_eq!(pack.decode(|_| false).unwrap(), vec![]);
    }

    #[test]
    fn regular_series_cost_little_more_than_their_values() {
        let members = regular(64, 200);
        let bytes = pack_of(&members);
        assert!(bytes.len() < 64 * 200 * 2, "{} bytes", bytes.len());
        let table = bytes.len() - Pack::parse(&bytes).unwrap().body.len();
        assert!(
            table <= 2 + 64 * 3 + 8 * 4,
            "a table of {table} bytes for 64 regular series"
        );
    }

    /// The same pack with its table in format 1, as packs written before
    /// format 2 are (whose values were always floats).
    fn as_format_one(bytes: &[u8]) -> Vec<u8> {
        let pack = Pack::parse(bytes).unwrap();
        assert_eq!(pack.coding, ValueCoding::Float);
        let mut out = vec![FORMAT_SIX_VARINTS];
        out.extend(Varint::encode(pack.members.len() as u64));
        let mut previous = Entry::default();
        for m in &pack.members {
            let entry = Entry {
                series: m.series,
                count: m.count as i64,
                first: m.min_t,
                step: m.grid.step,
            };
            out.extend(Varint::encode(u64::from(entry.series - previous.series)));
            for field in [
                entry.count - previous.count,
                entry.first.wrapping_sub(previous.first),
                entry.step.wrapping_sub(previous.step),
                m.max_t.wrapping_sub(entry.grid_end()),
                entry.first.wrapping_sub(m.grid.origin),
            ] {
                out.extend(Varint::encode(zigzag(field)));
            }
            previous = entry;
        }
        for page in &pack.pages {
            out.extend(Varint::encode(page.time_bytes as u64));
            out.extend(Varint::encode(page.value_bytes as u64));
        }
        out.extend(pack.body);
        out
    }

    #[test]
    fn format_one_packs_still_read() {
        let mut members = regular(20, 30);
        members[3].1[7].t += 5;
        members[4].1.truncate(11);
        members[5].1[2].v = 0.1 + 0.2;
        let old = as_format_one(&pack_of(&members));
        assert_eq!(Pack::parse(&old).unwrap().decode(|_| true).unwrap(), members);
    }

    #[test]
    fn decimal_values_are_coded_as_whole_numbers() {
        let coding = |values: &[f64]| compress_values(&FileCompressor::default(), &[values.to_vec()]).0;
        assert_eq!(
            coding(&[1.0, 4096.0, -3.0]),
            ValueCoding::Decimal(DecimalPlaces(0))
        );
        assert_eq!(coding(&[0.52, 1.5, 3.0]), ValueCoding::Decimal(DecimalPlaces(2)));
        assert_eq!(coding(&[0.001, 1e12]), ValueCoding::Decimal(DecimalPlaces(3)));
        assert_eq!(coding(&[0.1 + 0.2]), ValueCoding::Float);
        assert_eq!(coding(&[1.0, f64::NAN]), ValueCoding::Float);
        assert_eq!(coding(&[1.0, f64::INFINITY]), ValueCoding::Float);
        assert_eq!(coding(&[-0.0]), ValueCoding::Float);
        assert_eq!(coding(&[2f64.powi(60)]), ValueCoding::Float);
        let members: Vec<(SeriesId, Vec<Sample>)> = (0..20)
            .map(|id| {
                let samples = (0..50)
                    .map(|i| Sample {
                        t: i * 15_000,
                        v: f64::from((id * 37 + i as u32 * 13) % 400) / 100.0,
                    })
                    .collect();
                (id, samples)
            })
            .collect();
        let bytes = pack_of(&members);
        assert_eq!(bytes[1], 1 + 2, "coded with two decimal places");
        assert_eq!(Pack::parse(&bytes).unwrap().decode(|_| true).unwrap(), members);
        let mut unknown = bytes.clone();
        unknown[1] = 1 + DecimalPlaces::MAX + 1;
        assert!(matches!(
            Pack::parse(&unknown),
            Err(ChunkError::UnknownValueCoding(_))
        ));
    }

    #[test]
    fn members_of_later_pages_decode_alone() {
        let members = regular(2 * PAGE_SERIES as u32 + 3, 30);
        let bytes = pack_of(&members);
        let pack = Pack::parse(&bytes).unwrap();
        assert_eq!(pack.decode(|_| true).unwrap(), members);
        let last = members.len() - 1;
        let (early, late) = (members[2].0, members[last].0);
        assert_eq!(
            pack.decode(|m| m.series == early || m.series == late).unwrap(),
            vec![members[2].clone(), members[last].clone()]
        );
        assert_eq!(
            pack.decode(|m| m.series == late).unwrap(),
            vec![members[last].clone()]
        );
    }

    #[test]
    fn one_series_may_be_several_members() {
        let all = regular(1, 10).remove(0).1;
        let members = vec![(4, all[..6].to_vec()), (4, all[6..].to_vec())];
        let bytes = pack_of(&members);
        assert_eq!(Pack::parse(&bytes).unwrap().decode(|_| true).unwrap(), members);
    }

    #[test]
    fn special_values_and_extreme_times_round_trip() {
        let specials: Vec<Sample> = special_values()
            .into_iter()
            .enumerate()
            .map(|(i, v)| Sample { t: i as i64, v })
            .collect();
        let extremes = vec![Sample { t: i64::MIN, v: 1.0 }, Sample { t: i64::MAX, v: 2.0 }];
        let members = vec![(0, specials), (u32::MAX, extremes)];
        let bytes = pack_of(&members);
        assert_eq!(Pack::parse(&bytes).unwrap().decode(|_| true).unwrap(), members);
    }

    #[test]
    fn damage_is_an_error() {
        let bytes = pack_of(&regular(3, 50));
        let mut trailing = bytes.clone();
        trailing.push(0);
        let pack = Pack::parse(&trailing).unwrap();
        assert_eq!(pack.decode(|_| true), Err(ChunkError::TrailingBytes(1)));
        let mut versioned = bytes.clone();
        versioned[0] = 9;
        assert!(matches!(
            Pack::parse(&versioned),
            Err(ChunkError::UnsupportedVersion(9))
        ));
        assert!(Pack::parse(&[]).is_err());
    }

    proptest! {
        #[test]
        fn round_trips_any_members(lists in prop::collection::vec(series(), 1..6), ids in prop::collection::vec(0u32..1000, 6)) {
            let mut ids = ids;
            ids.sort_unstable();
            let members: Vec<(SeriesId, Vec<Sample>)> = lists
                .into_iter()
                .zip(ids)
                .filter(|(samples, _)| !samples.is_empty())
                .map(|(samples, id)| (id, samples))
                .collect();
            prop_assume!(!members.is_empty());
            let bytes = pack_of(&members);
            prop_assert_eq!(&Pack::parse(&bytes).unwrap().decode(|_| true).unwrap(), &members);
            if Pack::parse(&bytes).unwrap().coding == ValueCoding::Float {
                let old = as_format_one(&bytes);
                prop_assert_eq!(Pack::parse(&old).unwrap().decode(|_| true).unwrap(), members);
            }
        }

        #[test]
        fn truncation_is_an_error(members in prop::collection::vec(series(), 1..4), cut in any::<prop::sample::Index>()) {
            let members: Vec<(SeriesId, Vec<Sample>)> =
                members.into_iter().filter(|s| !s.is_empty()).enumerate().map(|(i, s)| (i as u32, s)).collect();
            prop_assume!(!members.is_empty());
            let bytes = pack_of(&members);
            let cut = &bytes[..cut.index(bytes.len())];
            prop_assert!(Pack::parse(cut).and_then(|p| p.decode(|_| true)).is_err());
        }

        #[test]
        fn garbage_and_flipped_bits_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), flips in prop::collection::vec(any::<prop::sample::Index>(), 1..4)) {
            for version in [FORMAT_VERSION, FORMAT_SIX_VARINTS] {
                let mut versioned = vec![version];
                versioned.extend(&bytes);
                if let Ok(pack) = Pack::parse(&versioned) {
                    let _ = pack.decode(|_| true);
                }
            }
            let mut good = pack_of(&regular(3, 40));
            let bit_count = good.len() * 8;
            for flip in flips {
                let bit = flip.index(bit_count);
                good[bit / 8] ^= 1 << (bit % 8);
            }
            if let Ok(pack) = Pack::parse(&good) {
                let _ = pack.decode(|_| true);
            }
        }
    }
}
