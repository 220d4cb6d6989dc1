//! The CSV tables of the tabular sources, read with the `csv` crate: comma-separated,
//! `"`-quoted fields (with `""` as an escaped quote; a quoted field may hold commas and line
//! breaks), a header record first; blank lines are skipped.

use std::io::Read;

use super::{FormatError, FormatResult};

/// A parsed CSV file: header and records, with the file name for errors.
#[derive(Debug, Clone)]
pub struct Csv {
    /// The file, for error messages.
    pub file: String,
    /// Column names.
    pub header: Vec<String>,
    /// Records, each with as many fields as the header.
    pub rows: Vec<Vec<String>>,
}

/// Appended to the input to catch a quoted field left open at the end of the file, which the
/// `csv` crate closes silently (rust-csv#252): after a complete file this line is one more
/// record, starting past the file's last byte; inside an open quoted field it becomes that
/// field's last line break and closing quote, and no record starts past the file.
const OPEN_QUOTE_PROBE: &[u8] = b"\n\"";

/// The byte and line where the record at `pos` starts: `csv` places a record where the previous
/// one ended, before the blank lines it skips.
fn record_start(bytes: &[u8], pos: &csv::Position) -> (usize, u64) {
    let byte = usize::try_from(pos.byte()).unwrap_or(usize::MAX);
    let blank = bytes.get(byte..).unwrap_or_default();
    let skipped = blank.iter().take_while(|&&b| b == b'\n').count();
    (byte.saturating_add(skipped), pos.line() + skipped as u64)
}

impl Csv {
    /// Parses `bytes` (UTF-8) of `file`; every record must have the header's field count.
    pub fn parse(file: &str, bytes: &[u8]) -> FormatResult<Self> {
        std::str::from_utf8(bytes).map_err(|e| {
            FormatError::invalid(
                file,
                format!("byte {}", e.valid_up_to()),
                "UTF-8 text",
                "invalid UTF-8",
            )
        })?;
        // As with the reader this replaced, records end at `\n` only: the carriage returns
        // that end a line are dropped from its last field (after a closing quote too), and a
        // CR anywhere else is kept in its field.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(bytes.chain(OPEN_QUOTE_PROBE));
        let mut record = csv::StringRecord::new();
        let mut records = Vec::new();
        let closed = loop {
            let (start, line) = record_start(bytes, reader.position());
            let more = reader.read_record(&mut record).map_err(|e| {
                let line = e.position().map_or(line, csv::Position::line);
                FormatError::invalid(file, format!("line {line}"), "CSV records", e)
            })?;
            if !more || start >= bytes.len() {
                break more;
            }
            // A line of white space only is blank (a quoted blank field is not).
            if record.len() == 1 && record[0].trim().is_empty() && bytes[start] != b'"' {
                continue;
            }
            let mut fields: Vec<String> = record.iter().map(str::to_owned).collect();
            if let Some(last) = fields.last_mut() {
                let end = usize::try_from(reader.position().byte())
                    .map_or(bytes.len(), |b| b.saturating_sub(1).min(bytes.len()));
                let line_crs = bytes[..end].iter().rev().take_while(|&&b| b == b'\r');
                let field_crs = last.len() - last.trim_end_matches('\r').len();
                last.truncate(last.len() - field_crs.min(line_crs.count()));
            }
            records.push((line, fields));
        };
        let count = records.len();
        let mut records = records.into_iter().enumerate().map(|(i, (line, fields))| {
            if closed || i + 1 < count {
                return Ok((line, fields));
            }
            Err(FormatError::invalid(
                file,
                format!("line {line}"),
                "a closing quote before the end of the file",
                "an unterminated quoted field",
            ))
        });
        let (_, header) = records.next().transpose()?.ok_or_else(|| {
            FormatError::invalid(file, "line 1", "a header line", "an empty file")
        })?;
        let rows = records
            .map(|record| {
                let (line, fields) = record?;
                if fields.len() != header.len() {
                    return Err(FormatError::invalid(
                        file,
                        format!("line {line}"),
                        format!("{} fields like the header", header.len()),
                        format!("{} fields", fields.len()),
                    ));
                }
                Ok(fields)
            })
            .collect::<FormatResult<_>>()?;
        Ok(Self {
            file: file.to_owned(),
            header,
            rows,
        })
    }

    /// Checks that the header is exactly `expected`.
    pub fn expect_header(&self, expected: &[&str]) -> FormatResult<()> {
        if self.header.len() != expected.len() {
            return Err(FormatError::invalid(
                &self.file,
                "header",
                format!(
                    "{} columns ({} …)",
                    expected.len(),
                    expected[..expected.len().min(3)].join(", ")
                ),
                format!("{} columns", self.header.len()),
            ));
        }
        if let Some((i, (got, want))) = self
            .header
            .iter()
            .zip(expected)
            .enumerate()
            .find(|(_, (g, w))| g != *w)
        {
            return Err(FormatError::invalid(
                &self.file,
                format!("header column {}", i + 1),
                format!("`{want}`"),
                format!("`{got}`"),
            ));
        }
        Ok(())
    }

    /// The location of a field for error messages (data rows count from 1).
    pub fn at(&self, row: usize, col: usize) -> String {
        format!("data row {} column `{}`", row + 1, self.header[col])
    }

    /// Field `col` of record `row` as a finite number.
    pub fn number(&self, row: usize, col: usize) -> FormatResult<f64> {
        let s = self.rows[row][col].trim();
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(FormatError::invalid(
                &self.file,
                self.at(row, col),
                "a finite number",
                format!("`{s}`"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_commas_and_numbers() {
        let csv = Csv::parse(
            "t.csv",
            b"a,b,c\r\n\"x,y\",\"he said \"\"hi\"\"\",2.5\n\n1,,0.\n",
        )
        .unwrap();
        assert_eq!(csv.header, ["a", "b", "c"]);
        assert_eq!(csv.rows[0], ["x,y", "he said \"hi\"", "2.5"]);
        assert_eq!(csv.number(0, 2).unwrap(), 2.5);
        assert_eq!(csv.number(1, 2).unwrap(), 0.0);
        let err = csv.number(1, 1).unwrap_err().to_string();
        assert!(
            err.contains("t.csv: data row 2 column `b`: expected a finite number, found ``"),
            "{err}"
        );
        assert!(csv.expect_header(&["a", "b", "c"]).is_ok());
        let err = csv.expect_header(&["a", "B", "c"]).unwrap_err().to_string();
        assert!(
            err.contains("header column 2: expected `B`, found `b`"),
            "{err}"
        );
    }

    #[test]
    fn ragged_rows_and_open_quotes_are_errors() {
        let err = Csv::parse("t.csv", b"a,b\n1,2,3\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2: expected 2 fields like the header, found 3 fields"),
            "{err}"
        );
        let err = Csv::parse("t.csv", b"a,b\n\"1,2\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unterminated"), "{err}");
        assert!(Csv::parse("t.csv", b"").is_err());
    }

    #[test]
    fn quoted_fields_span_lines() {
        let csv = Csv::parse(
            "t.csv",
            b"a,b\r\n\"x,\ny\",1\r\n\n  \n\"p\r\nq\",\"\"\"\"\n",
        )
        .unwrap();
        assert_eq!(csv.rows, [["x,\ny", "1"], ["p\r\nq", "\""]]);
        let error = |bytes: &[u8]| Csv::parse("t.csv", bytes).unwrap_err().to_string();
        // Lines are counted in the file, quoted line breaks and blank lines included.
        let err = error(b"a,b\n\"x\ny\",1\n\n3\n");
        assert!(
            err.contains("line 5: expected 2 fields like the header, found 1 fields"),
            "{err}"
        );
        // A quoted field still open at the end of the file is an error, whatever the count.
        let err = error(b"a,b\n1,2\n3,\"4\n");
        assert!(
            err.contains("line 3: expected a closing quote before the end of the file"),
            "{err}"
        );
    }
}
