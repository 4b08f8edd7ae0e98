//! Configuration errors, each tied to a place in a file.
//!
//! Owns the `file:line:column: message` rendering and the translation of
//! serde-saphyr's parse errors into it; decides nothing about what is valid.

use std::fmt;

use serde_saphyr::{Location, MessageFormatter, UserMessageFormatter};

/// A 1-based line and column in the YAML source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: u64,
    pub column: u64,
}

impl Position {
    /// The position serde-saphyr recorded, or `None` when it does not know one.
    pub(crate) fn from_location(location: Location) -> Option<Position> {
        (location.line() > 0).then_some(Position {
            line: location.line(),
            column: location.column(),
        })
    }
}

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// Where in the file; `None` when the problem concerns the whole file (e.g. it cannot be read).
    pub position: Option<Position>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(Position { line, column }) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Everything wrong with a configuration file; never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// An error about the whole file, e.g. that it cannot be read.
    pub(crate) fn whole_file(file: &str, message: String) -> Self {
        ConfigError {
            problems: vec![Problem {
                file: file.to_string(),
                position: None,
                message,
            }],
        }
    }

    /// The YAML could not be parsed or did not fit the expected shape.
    pub(crate) fn from_yaml(file: &str, err: &serde_saphyr::Error) -> Self {
        let inner = err.without_snippet();
        let message = UserMessageFormatter.format_message(inner).into_owned();
        let position = inner.location().and_then(Position::from_location);
        ConfigError {
            problems: vec![Problem {
                file: file.to_string(),
                position,
                message,
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    /// One line per problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_per_problem() {
        let problem = |position, message: &str| Problem {
            file: "a.yml".into(),
            position,
            message: message.into(),
        };
        let err = ConfigError {
            problems: vec![
                problem(Some(Position { line: 3, column: 7 }), "bad"),
                problem(None, "unreadable"),
            ],
        };
        assert_eq!(err.to_string(), "a.yml:3:7: bad\na.yml: unreadable");
    }
}
