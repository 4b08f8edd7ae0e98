//! Column types and the values a feature takes, and how a column's type is
//! inferred from raw text the way Evidently 0.7 infers it from a pandas frame
//! read with `pandas.read_csv`.

use serde::{Deserialize, Serialize};

/// What kind of distribution a column holds; decides the drift method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Numerical,
    Categorical,
}

/// One feature value as it arrives from an event or a CSV cell.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureValue<'a> {
    Number(f64),
    Text(&'a str),
    Bool(bool),
    Missing,
}

/// Evidently treats an integer column with at most this many distinct values
/// as categorical (`INTEGER_CARDINALITY_LIMIT`).
const INTEGER_CARDINALITY_LIMIT: usize = 10;

/// Cells pandas reads as missing by default (`na_values`).
const MISSING_TOKENS: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
    "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];
const TRUE_TOKENS: &[&str] = &["True", "TRUE", "true"];
const FALSE_TOKENS: &[&str] = &["False", "FALSE", "false"];

/// How a CSV column was read, before Evidently's rules turn it into a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    Integer,
    Float,
    Bool,
    Text,
}

/// Parses one CSV cell as pandas would within a column of `kind`.
pub fn parse_cell(cell: &str, kind: CellKind) -> FeatureValue<'_> {
    if MISSING_TOKENS.contains(&cell) {
        return FeatureValue::Missing;
    }
    match kind {
        CellKind::Integer | CellKind::Float => {
            parse_number(cell).map_or(FeatureValue::Text(cell), FeatureValue::Number)
        }
        CellKind::Bool => FeatureValue::Bool(TRUE_TOKENS.contains(&cell)),
        CellKind::Text => FeatureValue::Text(cell),
    }
}

/// A number as pandas' C parser accepts it (surrounding spaces allowed).
pub fn parse_number(cell: &str) -> Option<f64> {
    let trimmed = cell.trim();
    match trimmed {
        "inf" | "+inf" | "Inf" | "+Inf" | "infinity" | "Infinity" => Some(f64::INFINITY),
        "-inf" | "-Inf" | "-infinity" | "-Infinity" => Some(f64::NEG_INFINITY),
        _ if trimmed
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && b != b'e' && b != b'E') =>
        {
            None
        }
        _ => trimmed.parse::<f64>().ok(),
    }
}

/// Running facts about a column's cells from which its pandas dtype
/// follows (see `cell_kind_of`).
#[derive(Debug, Clone)]
pub struct KindTracker {
    any: bool,
    missing: bool,
    all_int: bool,
    all_num: bool,
    all_bool: bool,
    /// Distinct integer values, tracked up to one past Evidently's limit.
    integers: std::collections::HashSet<i64>,
}

impl Default for KindTracker {
    fn default() -> Self {
        KindTracker {
            any: false,
            missing: false,
            all_int: true,
            all_num: true,
            all_bool: true,
            integers: std::collections::HashSet::new(),
        }
    }
}

impl KindTracker {
    pub fn add(&mut self, cell: &str) {
        if MISSING_TOKENS.contains(&cell) {
            self.missing = true;
            return;
        }
        self.any = true;
        self.all_bool &= TRUE_TOKENS.contains(&cell) || FALSE_TOKENS.contains(&cell);
        if !self.all_num {
            return;
        }
        self.all_num = parse_number(cell).is_some();
        if self.all_int {
            match cell.trim().parse::<i64>() {
                Ok(i) if self.integers.len() <= INTEGER_CARDINALITY_LIMIT => {
                    self.integers.insert(i);
                }
                Ok(_) => {}
                Err(_) => self.all_int = false,
            }
        }
    }

    /// Distinct integers seen (saturates just past the categorical limit).
    pub fn distinct_integers(&self) -> usize {
        self.integers.len()
    }
}

/// The pandas dtype of a column: booleans, integers (no missing cell),
/// floats (numbers or nothing at all), else text.
pub fn cell_kind_of(tracker: &KindTracker) -> CellKind {
    if tracker.any && tracker.all_bool {
        CellKind::Bool
    } else if tracker.any && tracker.all_int && tracker.all_num && !tracker.missing {
        CellKind::Integer
    } else if tracker.all_num {
        CellKind::Float
    } else {
        CellKind::Text
    }
}

/// The pandas dtype of a column of raw cells.
pub fn cell_kind<'a>(cells: impl Iterator<Item = &'a str>) -> CellKind {
    let mut tracker = KindTracker::default();
    cells.for_each(|c| tracker.add(c));
    cell_kind_of(&tracker)
}

/// Evidently 0.7's `infer_column_type` on a column read as `kind`:
/// floats are numerical; integers are categorical up to 10 distinct values
/// (pandas reads an integer column with missing cells as floats, and so does
/// `cell_kind`); strings and booleans are categorical. (Evidently
/// calls a string column with more distinct values than half its rows "text"
/// and runs a text-specific method on it, which Sightline does not; such
/// columns are treated as categorical here and say so in the report.)
pub fn infer_column_type(kind: CellKind, distinct_values: usize) -> ColumnType {
    match kind {
        CellKind::Float => ColumnType::Numerical,
        CellKind::Integer if distinct_values > INTEGER_CARDINALITY_LIMIT => ColumnType::Numerical,
        CellKind::Integer | CellKind::Bool | CellKind::Text => ColumnType::Categorical,
    }
}

/// The category key of a value in a categorical column: numbers print in
/// their shortest form (`3`, `2.5`), booleans as pandas prints them.
pub fn category_key(value: FeatureValue<'_>) -> Option<std::borrow::Cow<'_, str>> {
    match value {
        FeatureValue::Text(s) => Some(std::borrow::Cow::Borrowed(s)),
        FeatureValue::Number(x) if x.is_finite() => Some(std::borrow::Cow::Owned(format!("{x}"))),
        FeatureValue::Bool(b) => Some(std::borrow::Cow::Borrowed(if b { "True" } else { "False" })),
        FeatureValue::Number(_) | FeatureValue::Missing => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_pandas() {
        assert_eq!(cell_kind(["1", "2", "3"].into_iter()), CellKind::Integer);
        assert_eq!(cell_kind(["1", "", "3"].into_iter()), CellKind::Float);
        assert_eq!(cell_kind(["1", "2.5"].into_iter()), CellKind::Float);
        assert_eq!(cell_kind(["1", "nan", "inf"].into_iter()), CellKind::Float);
        assert_eq!(cell_kind(["True", "false"].into_iter()), CellKind::Bool);
        assert_eq!(cell_kind(["a", "1"].into_iter()), CellKind::Text);
        assert_eq!(cell_kind(["", "NA"].into_iter()), CellKind::Float);
    }

    #[test]
    fn integers_with_few_values_are_categorical() {
        assert_eq!(infer_column_type(CellKind::Integer, 10), ColumnType::Categorical);
        assert_eq!(infer_column_type(CellKind::Integer, 11), ColumnType::Numerical);
        assert_eq!(infer_column_type(CellKind::Float, 2), ColumnType::Numerical);
    }

    #[test]
    fn category_keys_print_numbers_shortest() {
        assert_eq!(category_key(FeatureValue::Number(3.0)).as_deref(), Some("3"));
        assert_eq!(category_key(FeatureValue::Number(2.5)).as_deref(), Some("2.5"));
        assert_eq!(category_key(FeatureValue::Missing), None);
    }
}
