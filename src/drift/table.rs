//! Tables of feature values from CSV (a reference upload, `sightline drift`):
//! column kinds are inferred as pandas would read them, column types as
//! Evidently 0.7 would infer them, then every cell is fed to a `ColumnState`.
//!
//! The input is parsed twice from memory (kinds first, then values) so no
//! per-cell strings are kept.

use super::column::{cell_kind_of, infer_column_type, parse_cell, CellKind, ColumnType, KindTracker};
use super::evaluate::Preset;
use super::profile::{CurrentWindow, ReferenceProfile};
use super::report::{build_report, DriftReport};
use super::state::{ColumnState, StateLimits};
use super::suite::{run_suite, SuiteTest};
use std::collections::HashSet;

/// A CSV that cannot be used, with the line it fails on.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("line {line}: expected {expected} fields like the header, found {found}")]
    Ragged { line: u64, expected: u64, found: u64 },
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error("the CSV has no header row")]
    NoHeader,
    #[error("column {0:?} appears twice in the header")]
    DuplicateColumn(String),
    #[error("column {0:?} of the reference is missing from this CSV")]
    MissingColumn(String),
}

/// The header and inferred kind of each column of a CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub columns: Vec<SchemaColumn>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaColumn {
    pub name: String,
    pub kind: CellKind,
    pub column_type: ColumnType,
}

fn reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes)
}

fn convert(error: csv::Error) -> TableError {
    let line = error.position().map_or(0, |p| p.line());
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len,
            len,
            pos,
        } => TableError::Ragged {
            line: pos.as_ref().map_or(line, |p| p.line()),
            expected: *expected_len,
            found: *len,
        },
        _ => TableError::Malformed {
            line,
            message: error.to_string(),
        },
    }
}

fn headers(bytes: &[u8]) -> Result<Vec<String>, TableError> {
    let mut csv = reader(bytes);
    let names: Vec<String> = csv
        .headers()
        .map_err(convert)?
        .iter()
        .map(str::to_owned)
        .collect();
    if names.is_empty() || names.iter().all(String::is_empty) {
        return Err(TableError::NoHeader);
    }
    let mut seen = HashSet::new();
    if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(TableError::DuplicateColumn(dup.clone()));
    }
    Ok(names)
}

/// Reads the header and infers every column's kind and type.
pub fn infer_schema(bytes: &[u8]) -> Result<TableSchema, TableError> {
    let names = headers(bytes)?;
    let mut trackers: Vec<KindTracker> = names.iter().map(|_| KindTracker::default()).collect();
    let mut csv = reader(bytes);
    for record in csv.records() {
        let record = record.map_err(convert)?;
        for (tracker, cell) in trackers.iter_mut().zip(record.iter()) {
            tracker.add(cell);
        }
    }
    let columns = names
        .into_iter()
        .zip(trackers)
        .map(|(name, tracker)| {
            let kind = cell_kind_of(&tracker);
            SchemaColumn {
                name,
                kind,
                column_type: infer_column_type(kind, tracker.distinct_integers()),
            }
        })
        .collect();
    Ok(TableSchema { columns })
}

/// Feeds every row of a CSV into one state per schema column (matched by
/// header name, so column order may differ from the schema's).
pub fn read_states(
    bytes: &[u8],
    schema: &TableSchema,
    make_state: impl Fn(usize, &SchemaColumn) -> ColumnState,
) -> Result<Vec<ColumnState>, TableError> {
    let names = headers(bytes)?;
    let positions = schema
        .columns
        .iter()
        .map(|c| {
            names
                .iter()
                .position(|n| *n == c.name)
                .ok_or_else(|| TableError::MissingColumn(c.name.clone()))
        })
        .collect::<Result<Vec<usize>, _>>()?;
    let mut states: Vec<ColumnState> = schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| make_state(i, c))
        .collect();
    let mut csv = reader(bytes);
    for record in csv.records() {
        let record = record.map_err(convert)?;
        for ((state, &position), column) in states.iter_mut().zip(&positions).zip(&schema.columns) {
            state.observe(parse_cell(record.get(position).unwrap_or(""), column.kind));
        }
    }
    Ok(states)
}

/// States for a reference CSV: schema inferred from it, nothing bounded.
pub fn read_reference(
    bytes: &[u8],
    limits: StateLimits,
) -> Result<(TableSchema, Vec<ColumnState>), TableError> {
    let schema = infer_schema(bytes)?;
    let states = read_states(bytes, &schema, |i, c| {
        ColumnState::new(c.column_type, limits, Vec::new(), i as u64 + 1)
    })?;
    Ok((schema, states))
}

/// A reference profile from a CSV (schema inferred from it).
pub fn reference_profile(
    bytes: &[u8],
    limits: StateLimits,
) -> Result<(TableSchema, ReferenceProfile), TableError> {
    let (schema, states) = read_reference(bytes, limits)?;
    let named = schema.columns.iter().map(|c| c.name.clone()).zip(states);
    Ok((schema.clone(), ReferenceProfile::from_states(named)))
}

/// A current window from a CSV read with the reference's schema.
pub fn current_window(
    bytes: &[u8],
    schema: &TableSchema,
    profile: &ReferenceProfile,
    limits: StateLimits,
) -> Result<CurrentWindow, TableError> {
    let columns = read_states(bytes, schema, |i, _| {
        profile.columns[i].new_window(limits, i as u64 + 101)
    })?;
    Ok(CurrentWindow { columns })
}

/// The whole batch comparison of two CSVs, as `sightline drift` runs it:
/// nothing sampled, so every statistic is the batch one.
pub fn compare_csv(
    reference: &[u8],
    current: &[u8],
    preset: Preset,
    tests: &[SuiteTest],
) -> Result<DriftReport, TableError> {
    let (schema, profile) = reference_profile(reference, StateLimits::EXACT)?;
    let window = current_window(current, &schema, &profile, StateLimits::EXACT)?;
    let drift = window.evaluate(&profile, preset);
    let results = run_suite(tests, &profile, &window, &drift);
    Ok(build_report(&profile, &window, &drift, results))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_follows_pandas_and_evidently() {
        let csv = b"num,int_few,int_many,text,flag\n1.5,1,1,a,True\n2,2,2,b,False\n,1,3,a,True\n\
            4,2,4,a,True\n5,1,5,b,False\n6,1,6,a,True\n7,1,7,a,True\n8,1,8,a,True\n9,1,9,a,True\n\
            10,1,10,a,True\n11,1,11,a,True\n";
        let schema = infer_schema(csv).unwrap();
        let types: Vec<ColumnType> = schema.columns.iter().map(|c| c.column_type).collect();
        use ColumnType::*;
        assert_eq!(
            types,
            vec![Numerical, Categorical, Numerical, Categorical, Categorical]
        );
    }

    #[test]
    fn csv_comparison_finds_drift() {
        let reference = b"x,c\n1.5,a\n2.5,b\n3.5,a\n4.5,b\n5.5,a\n6.5,b\n";
        let current = b"x,c\n10.5,a\n20.5,a\n30.5,a\n40.5,a\n50.5,a\n60.5,a\n";
        let report = compare_csv(reference, current, Preset::Evidently, &[]).unwrap();
        assert_eq!(report.features.len(), 2);
        assert!(report.features[0].drift_detected);
        assert_eq!(report.reference_rows, 6);
    }

    #[test]
    fn ragged_rows_name_their_line() {
        let err = infer_schema(b"a,b\n1,2\n3\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: expected 2 fields like the header, found 1"
        );
    }

    #[test]
    fn current_columns_are_matched_by_name() {
        let (schema, _) = read_reference(b"a,b\n1.5,x\n2.5,y\n", StateLimits::EXACT).unwrap();
        let states = read_states(b"b,a\nx,7.5\n", &schema, |_, c| {
            ColumnState::new(c.column_type, StateLimits::EXACT, Vec::new(), 1)
        })
        .unwrap();
        assert_eq!(states[0].sample.values(), &[7.5]);
        assert_eq!(states[1].categories.get("x"), 1);
        let missing = read_states(b"a\n1\n", &schema, |_, c| {
            ColumnState::new(c.column_type, StateLimits::EXACT, Vec::new(), 1)
        });
        assert!(matches!(missing, Err(TableError::MissingColumn(name)) if name == "b"));
    }
}
