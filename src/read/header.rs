//! The header of an input CSV: column names, checked once, and the mapping from the names a
//! model needs to the positions of those columns in this file.

use std::collections::HashMap;

use crate::error::{Error, Location, Result};
use crate::read::names::missing_columns;

/// The checked column names of one input file.
#[derive(Debug, Clone)]
pub struct Header {
    path: String,
    names: Vec<String>,
    index: HashMap<String, usize>,
}

impl Header {
    /// Checks a header record: present, valid UTF-8, no empty or duplicate names.
    pub fn parse(path: &str, record: &csv::ByteRecord) -> Result<Header> {
        if record.is_empty() || (record.len() == 1 && record[0].is_empty()) {
            return Err(Error::data(
                Location::file(path),
                "the file is empty; expected a header line naming the columns",
            ));
        }
        let mut names = Vec::with_capacity(record.len());
        let mut index = HashMap::with_capacity(record.len());
        for (i, field) in record.iter().enumerate() {
            // Binary files (compressed, a model, garbage) fail here, so the hint asks about that.
            let not_text = |what: &str| {
                Error::data(
                    Location::cell(path, 1, i + 1),
                    format!("the header {what}; is this a CSV file?"),
                )
            };
            let name = std::str::from_utf8(field).map_err(|_| not_text("is not valid UTF-8"))?;
            if name.contains('\0') {
                return Err(not_text("holds a NUL byte"));
            }
            if let Some(first) = index.insert(name.to_string(), i) {
                return Err(Error::data(
                    Location::cell(path, 1, i + 1),
                    format!(
                        "column name {name:?} appears twice (columns {} and {})",
                        first + 1,
                        i + 1
                    ),
                ));
            }
            names.push(name.to_string());
        }
        Ok(Header {
            path: path.to_string(),
            names,
            index,
        })
    }

    /// The file's name in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Column names in file order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The position of the column called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// The positions of `wanted` columns, in the order wanted; every missing one is named.
    /// `what` says what the columns are for ("feature", "target").
    pub fn resolve(&self, wanted: &[String], what: &str) -> Result<Vec<usize>> {
        let missing: Vec<&str> = wanted
            .iter()
            .filter(|n| !self.index.contains_key(n.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(Error::data(
                Location::line(&self.path, 1),
                missing_columns(what, &missing, &self.names),
            ));
        }
        Ok(wanted.iter().map(|n| self.index[n.as_str()]).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(fields: &[&[u8]]) -> Result<Header> {
        Header::parse("in.csv", &csv::ByteRecord::from(fields.to_vec()))
    }

    #[test]
    fn columns_are_found_by_name_in_any_order() {
        let h = header(&[b"MEDV", b"B", b"A"]).unwrap();
        let cols = h.resolve(&["A".into(), "B".into()], "feature").unwrap();
        assert_eq!(cols, vec![2, 1]);
    }

    #[test]
    fn every_missing_column_is_listed() {
        let h = header(&[b"A", b"C"]).unwrap();
        let err = h
            .resolve(&["A".into(), "B".into(), "D".into()], "feature")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:1: missing feature columns B, D (the file has: A, C)"
        );
    }

    #[test]
    fn a_duplicate_name_is_refused_with_both_positions() {
        let err = header(&[b"A", b"B", b"A"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:1:3: column name \"A\" appears twice (columns 1 and 3)"
        );
    }

    #[test]
    fn a_header_that_is_not_utf8_is_refused() {
        let err = header(&[b"A", b"\xff\xfe"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:1:2: the header is not valid UTF-8; is this a CSV file?"
        );
        let err = header(&[b"A\0\0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.csv:1:1: the header holds a NUL byte; is this a CSV file?"
        );
    }

    #[test]
    fn a_missing_column_message_stays_short_and_printable() {
        let mut names: Vec<Vec<u8>> = vec![b"tab\there".to_vec(), vec![b'x'; 100]];
        names.extend((0..40).map(|i| format!("c{i}").into_bytes()));
        let fields: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        let err = header(&fields)
            .unwrap()
            .resolve(&["A".into()], "feature")
            .unwrap_err();
        let listed = format!(
            "tab\\there, {}..., {}, and 12 more",
            "x".repeat(64),
            (0..28)
                .map(|i| format!("c{i}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert_eq!(
            err.to_string(),
            format!("in.csv:1: missing feature column A (the file has: {listed})")
        );
    }
}
