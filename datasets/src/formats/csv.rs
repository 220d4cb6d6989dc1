//! A small CSV reader for the tabular sources: comma-separated, `"`-quoted fields (with `""`
//! as an escaped quote), one record per line, a header line first.

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

fn split_line(file: &str, line_no: usize, line: &str) -> FormatResult<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return Err(FormatError::invalid(
            file,
            format!("line {line_no}"),
            "a closing quote before the end of the line",
            "an unterminated quoted field",
        ));
    }
    fields.push(field);
    Ok(fields)
}

impl Csv {
    /// Parses `bytes` (UTF-8) of `file`; every record must have the header's field count.
    pub fn parse(file: &str, bytes: &[u8]) -> FormatResult<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| {
            FormatError::invalid(
                file,
                format!("byte {}", e.valid_up_to()),
                "UTF-8 text",
                "invalid UTF-8",
            )
        })?;
        let mut lines = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty());
        let header = match lines.next() {
            Some((i, l)) => split_line(file, i + 1, l.trim_end_matches('\r'))?,
            None => {
                return Err(FormatError::invalid(
                    file,
                    "line 1",
                    "a header line",
                    "an empty file",
                ))
            }
        };
        let rows = lines
            .map(|(i, l)| {
                let fields = split_line(file, i + 1, l.trim_end_matches('\r'))?;
                if fields.len() != header.len() {
                    return Err(FormatError::invalid(
                        file,
                        format!("line {}", i + 1),
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
}
