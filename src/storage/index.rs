//! The in-memory inverted index: label name → value → set of series ids.
//!
//! Answers matcher sets with roaring bitmaps. It is rebuilt from the `series`
//! tree at start, so it is never persisted itself. It must not know about
//! samples or chunks.

use super::{Labels, MatchOp, Matcher};
use roaring::RoaringBitmap;
use std::collections::BTreeMap;

/// A series id: dense, assigned in creation order, never reused.
pub type SeriesId = u32;

#[derive(Default)]
pub struct PostingsIndex {
    postings: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl PostingsIndex {
    pub fn add(&mut self, id: SeriesId, labels: &Labels) {
        for l in labels.iter() {
            let values = self.postings.entry(l.name.clone()).or_default();
            values.entry(l.value.clone()).or_default().insert(id);
        }
        self.all.insert(id);
    }

    pub fn remove(&mut self, id: SeriesId, labels: &Labels) {
        for l in labels.iter() {
            let Some(values) = self.postings.get_mut(&l.name) else {
                continue;
            };
            if let Some(ids) = values.get_mut(&l.value) {
                ids.remove(id);
                if ids.is_empty() {
                    values.remove(&l.value);
                }
            }
            if values.is_empty() {
                self.postings.remove(&l.name);
            }
        }
        self.all.remove(id);
    }

    pub fn series_count(&self) -> u64 {
        self.all.len()
    }

    /// Ids of series satisfying every matcher (all series when none is given).
    pub fn select(&self, matchers: &[Matcher]) -> RoaringBitmap {
        let mut result = self.all.clone();
        // Cheap, selective matchers first so that the intersection shrinks early.
        let mut ordered: Vec<&Matcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| !matches!(m.op, MatchOp::Equal));
        for m in ordered {
            if result.is_empty() {
                break;
            }
            result &= self.matching(m);
        }
        result
    }

    /// Ids matching one matcher. A series without the label has the value "",
    /// so a matcher that accepts "" also selects series lacking the label.
    fn matching(&self, m: &Matcher) -> RoaringBitmap {
        let values = self.postings.get(&m.name);
        if m.matches("") {
            let mut rejected = RoaringBitmap::new();
            for (value, ids) in values.into_iter().flatten() {
                if !m.matches(value) {
                    rejected |= ids;
                }
            }
            return &self.all - rejected;
        }
        let Some(values) = values else {
            return RoaringBitmap::new();
        };
        if m.op == MatchOp::Equal {
            return values.get(&m.value).cloned().unwrap_or_default();
        }
        let mut accepted = RoaringBitmap::new();
        for (value, ids) in values {
            if m.matches(value) {
                accepted |= ids;
            }
        }
        accepted
    }

    /// Approximate heap bytes of the index: keys, bitmaps (serialised size, a
    /// close lower bound of their memory) and tree-node overhead per entry.
    pub fn memory_bytes(&self) -> usize {
        const NODE_OVERHEAD: usize = 48;
        self.postings
            .iter()
            .map(|(name, values)| {
                name.capacity()
                    + NODE_OVERHEAD
                    + values
                        .iter()
                        .map(|(v, ids)| v.capacity() + ids.serialized_size() + NODE_OVERHEAD + 2 * 24)
                        .sum::<usize>()
            })
            .sum::<usize>()
            + self.all.serialized_size()
    }

    /// All label names, sorted.
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.postings.keys().map(String::as_str)
    }

    /// Values of `name` with the ids that carry each, sorted by value.
    pub fn label_values(&self, name: &str) -> impl Iterator<Item = (&str, &RoaringBitmap)> {
        self.postings
            .get(name)
            .into_iter()
            .flatten()
            .map(|(v, ids)| (v.as_str(), ids))
    }

    /// The `limit` label names with the most distinct values, for `/api/v1/status/tsdb`.
    pub fn top_cardinalities(&self, limit: usize) -> Vec<(String, usize)> {
        let mut names: Vec<(String, usize)> = self
            .postings
            .iter()
            .map(|(n, values)| (n.clone(), values.len()))
            .collect();
        names.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        names.truncate(limit);
        names
    }

    /// The `limit` (name, value) pairs carried by the most series.
    pub fn top_pairs(&self, limit: usize) -> Vec<(String, u64)> {
        let mut pairs: Vec<(String, u64)> = self
            .postings
            .iter()
            .flat_map(|(n, values)| values.iter().map(move |(v, ids)| (format!("{n}={v}"), ids.len())))
            .collect();
        pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        pairs.truncate(limit);
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> PostingsIndex {
        let mut idx = PostingsIndex::default();
        idx.add(
            0,
            &Labels::from_pairs([("__name__", "up"), ("job", "api"), ("env", "prod")]),
        );
        idx.add(1, &Labels::from_pairs([("__name__", "up"), ("job", "db")]));
        idx.add(
            2,
            &Labels::from_pairs([("__name__", "http_requests_total"), ("job", "api-2")]),
        );
        idx
    }

    fn ids(idx: &PostingsIndex, ms: &[Matcher]) -> Vec<u32> {
        idx.select(ms).iter().collect()
    }

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    #[test]
    fn equality_and_inequality() {
        let idx = index();
        assert_eq!(ids(&idx, &[Matcher::equal("__name__", "up")]), vec![0, 1]);
        assert_eq!(
            ids(
                &idx,
                &[
                    Matcher::equal("__name__", "up"),
                    m(MatchOp::NotEqual, "job", "api")
                ]
            ),
            vec![1]
        );
        assert_eq!(ids(&idx, &[Matcher::equal("env", "")]), vec![1, 2]);
        assert_eq!(ids(&idx, &[m(MatchOp::NotEqual, "env", "")]), vec![0]);
        assert_eq!(ids(&idx, &[Matcher::equal("nope", "x")]), Vec::<u32>::new());
    }

    #[test]
    fn regex_matchers_are_anchored() {
        let idx = index();
        assert_eq!(ids(&idx, &[m(MatchOp::Regex, "job", "api")]), vec![0]);
        assert_eq!(ids(&idx, &[m(MatchOp::Regex, "job", "api.*")]), vec![0, 2]);
        assert_eq!(ids(&idx, &[m(MatchOp::NotRegex, "job", "api.*")]), vec![1]);
        assert_eq!(ids(&idx, &[m(MatchOp::Regex, "env", ".*")]), vec![0, 1, 2]);
        assert_eq!(ids(&idx, &[m(MatchOp::Regex, "env", ".+")]), vec![0]);
        assert_eq!(ids(&idx, &[m(MatchOp::NotRegex, "env", "")]), vec![0]);
    }

    #[test]
    fn remove_cleans_up() {
        let mut idx = index();
        idx.remove(
            0,
            &Labels::from_pairs([("__name__", "up"), ("job", "api"), ("env", "prod")]),
        );
        assert_eq!(idx.label_names().collect::<Vec<_>>(), vec!["__name__", "job"]);
        assert_eq!(ids(&idx, &[Matcher::equal("__name__", "up")]), vec![1]);
        assert_eq!(idx.series_count(), 2);
    }

    #[test]
    fn cardinalities() {
        let idx = index();
        assert_eq!(idx.top_cardinalities(1), vec![("job".to_string(), 3)]);
        assert_eq!(idx.top_pairs(1), vec![("__name__=up".to_string(), 2)]);
    }
}
