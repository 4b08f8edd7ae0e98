//! The cache's series by text: all texts in one buffer, in the order they
//! were first seen, found as the series expected next or by hash.
//!
//! Targets expose their series in the same order every scrape, so the series
//! after the last one found is tried first with one comparison against the
//! next text in the buffer (memory read in order); only a miss hashes the
//! line's text. The hash index holds entry numbers, not texts, so each text
//! is stored once, without an allocation of its own.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::exposition::LineStart;

/// Entries by text; see the module doc.
#[derive(Debug)]
pub struct SeriesTable<V> {
    entries: Vec<Slot<V>>,
    texts: Vec<u8>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// The entry expected next: the one after the last found or inserted.
    next: usize,
}

#[derive(Debug)]
struct Slot<V> {
    start: u32,
    len: u32,
    value: V,
}

impl<V> Default for SeriesTable<V> {
    fn default() -> Self {
        SeriesTable {
            entries: Vec::new(),
            texts: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            next: 0,
        }
    }
}

impl<V> SeriesTable<V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry whose text is the series text at the start of `line`.
    pub fn find(&mut self, line: &mut LineStart<'_, '_>) -> Option<usize> {
        let expected = self.next;
        let found = match self.entries.get(expected) {
            Some(slot) if line.is(self.text(slot)) => expected,
            _ => self.find_text(line.text()?)?,
        };
        self.next = found + 1;
        Some(found)
    }

    pub fn find_text(&self, text: &[u8]) -> Option<usize> {
        let hash = self.hasher.hash_one(text);
        let found = self
            .index
            .find(hash, |&i| self.text(&self.entries[i as usize]) == text)?;
        Some(*found as usize)
    }

    /// Adds an entry for `text`, which must not be in the table yet.
    pub fn insert(&mut self, text: &[u8], value: V) -> Result<usize, String> {
        let full = || "the scrape cache of this target is full".to_string();
        let number = u32::try_from(self.entries.len()).map_err(|_| full())?;
        let start = u32::try_from(self.texts.len()).map_err(|_| full())?;
        let len = u32::try_from(text.len()).map_err(|_| full())?;
        start.checked_add(len).ok_or_else(full)?;
        self.texts.extend_from_slice(text);
        self.entries.push(Slot { start, len, value });
        let (entries, texts, hasher) = (&self.entries, &self.texts, &self.hasher);
        let rehash = |&i: &u32| hasher.hash_one(slot_text(texts, &entries[i as usize]));
        self.index.insert_unique(hasher.hash_one(text), number, rehash);
        self.next = number as usize + 1;
        Ok(number as usize)
    }

    pub fn get_mut(&mut self, number: usize) -> Option<(&[u8], &mut V)> {
        let slot = self.entries.get_mut(number)?;
        Some((slot_text(&self.texts, slot), &mut slot.value))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut V)> {
        let texts = &self.texts;
        self.entries
            .iter_mut()
            .map(move |slot| (slot_text(texts, slot), &mut slot.value))
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.entries.iter_mut().map(|slot| &mut slot.value)
    }

    /// Keeps the entries `keep` accepts, in their order, and gives back the
    /// room the others took. Entry numbers change.
    pub fn retain(&mut self, mut keep: impl FnMut(&V) -> bool) {
        let mut texts = Vec::with_capacity(self.texts.len());
        let old_texts = std::mem::take(&mut self.texts);
        self.entries.retain_mut(|slot| {
            if !keep(&slot.value) {
                return false;
            }
            let text = slot_text(&old_texts, slot);
            slot.start = texts.len() as u32; // within the old buffer's u32 range
            texts.extend_from_slice(text);
            true
        });
        self.texts = texts;
        self.reindex();
    }

    /// Gives back spare capacity after the table grew.
    pub fn shrink(&mut self) {
        self.entries.shrink_to_fit();
        self.texts.shrink_to_fit();
        let (entries, texts, hasher) = (&self.entries, &self.texts, &self.hasher);
        self.index
            .shrink_to_fit(|&i| hasher.hash_one(slot_text(texts, &entries[i as usize])));
    }

    fn reindex(&mut self) {
        self.entries.shrink_to_fit();
        let (entries, texts, hasher) = (&self.entries, &self.texts, &self.hasher);
        let hash_of = |&i: &u32| hasher.hash_one(slot_text(texts, &entries[i as usize]));
        self.index = HashTable::with_capacity(entries.len());
        for number in 0..entries.len() as u32 {
            self.index.insert_unique(hash_of(&number), number, hash_of);
        }
        self.next = 0;
    }

    fn text(&self, slot: &Slot<V>) -> &[u8] {
        slot_text(&self.texts, slot)
    }
}

fn slot_text<'t, V>(texts: &'t [u8], slot: &Slot<V>) -> &'t [u8] {
    &texts[slot.start as usize..(slot.start + slot.len) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Format, Parser, Read};

    fn find_all(table: &mut SeriesTable<u8>, body: &[u8]) -> Vec<Option<u8>> {
        let mut parser = Parser::new(body, Format::PrometheusText);
        let mut found = Vec::new();
        while let Some(read) = parser.next_known(|line| table.find(line)) {
            found.push(match read {
                Ok(Read::Known { series, .. }) => table.get_mut(series).map(|(_, v)| *v),
                _ => None,
            });
        }
        found
    }

    #[test]
    fn finds_in_order_out_of_order_and_after_removals() {
        let mut table = SeriesTable::default();
        for (i, text) in ["a", "b{x=\"1\"}", "c"].iter().enumerate() {
            assert_eq!(table.insert(text.as_bytes(), i as u8), Ok(i));
        }
        assert_eq!(
            find_all(&mut table, b"a 1\nb{x=\"1\"} 2\nc 3\n"),
            [Some(0), Some(1), Some(2)]
        );
        assert_eq!(
            find_all(&mut table, b"c 1\nz 1\na 2\nb{x=\"2\"} 3\n"),
            [Some(2), None, Some(0), None]
        );
        table.retain(|&v| v != 1);
        assert_eq!(table.len(), 2);
        assert_eq!(table.find_text(b"b{x=\"1\"}"), None);
        assert_eq!(find_all(&mut table, b"a 1\nc 2\n"), [Some(0), Some(2)]);
        table.shrink();
        assert_eq!(table.find_text(b"c"), Some(1));
        let texts: Vec<&[u8]> = table.iter_mut().map(|(text, _)| text).collect();
        assert_eq!(texts, [b"a".as_slice(), b"c".as_slice()]);
    }
}
