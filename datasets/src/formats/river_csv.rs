//! The multi-output tables shipped in PyPI `river` (`river/datasets/`):
//! `solar-flare.csv` (UCI Solar Flare: 1,066 regions, 10 features — 3 categorical — and 3
//! flare counts; river stores it as plain CSV under the name `solar-flare.csv.zip`) and
//! `yeast.csv` (MULAN Yeast: 2,417 genes, 103 numeric features, 14 binary labels; gzip in
//! river).

use std::path::Path;

use super::csv::Csv;
use super::{read_file, FormatError, FormatResult};

/// Numeric features and per-task target columns read from a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Feature names (one-hot columns are named `<column>=<value>`).
    pub features: Vec<String>,
    /// Row-major features, `rows × features.len()`.
    pub x: Vec<f64>,
    /// Target names.
    pub target_names: Vec<String>,
    /// One column per target, `rows` values each.
    pub targets: Vec<Vec<f64>>,
}

impl Table {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.targets.first().map_or(0, Vec::len)
    }
}

/// Solar Flare's categorical columns and their values (UCI documentation).
pub const SOLAR_CATEGORIES: [(&str, &[&str]); 3] = [
    ("zurich-class", &["A", "B", "C", "D", "E", "F", "H"]),
    ("largest-spot-size", &["X", "R", "S", "A", "H", "K"]),
    ("spot-distribution", &["X", "O", "I", "C"]),
];
/// Solar Flare's integer-coded columns.
pub const SOLAR_NUMERIC: [&str; 7] = [
    "activity",
    "evolution",
    "previous-24h-flare-activity",
    "hist-complex",
    "hist-complex-this-pass",
    "area",
    "largest-spot-area",
];
/// Solar Flare's targets: flares of each class in the next 24 hours.
pub const SOLAR_TARGETS: [&str; 3] = ["c-class-flares", "m-class-flares", "x-class-flares"];

/// Decodes `solar-flare.csv`: categorical columns one-hot, the rest as numbers.
pub fn parse_solar_flare(file: &str, bytes: &[u8]) -> FormatResult<Table> {
    let csv = Csv::parse(file, bytes)?;
    let header: Vec<&str> = SOLAR_CATEGORIES
        .iter()
        .map(|(c, _)| *c)
        .chain(SOLAR_NUMERIC)
        .chain(SOLAR_TARGETS)
        .collect();
    csv.expect_header(&header)?;
    let mut features = Vec::new();
    for (c, values) in SOLAR_CATEGORIES {
        features.extend(values.iter().map(|v| format!("{c}={v}")));
    }
    features.extend(SOLAR_NUMERIC.iter().map(|s| s.to_string()));
    let mut x = Vec::with_capacity(csv.rows.len() * features.len());
    let mut targets = vec![Vec::new(); 3];
    for row in 0..csv.rows.len() {
        for (col, (_, values)) in SOLAR_CATEGORIES.iter().enumerate() {
            let v = csv.rows[row][col].trim();
            let hot = values.iter().position(|c| *c == v).ok_or_else(|| {
                FormatError::invalid(
                    &csv.file,
                    csv.at(row, col),
                    format!("one of {}", values.join(", ")),
                    format!("`{v}`"),
                )
            })?;
            x.extend((0..values.len()).map(|i| f64::from(u8::from(i == hot))));
        }
        for col in 3..10 {
            x.push(csv.number(row, col)?);
        }
        for (t, col) in targets.iter_mut().zip(10..13) {
            t.push(csv.number(row, col)?);
        }
    }
    Ok(Table {
        features,
        x,
        target_names: SOLAR_TARGETS.iter().map(|s| s.to_string()).collect(),
        targets,
    })
}

/// Decodes `yeast.csv`: `Att1`…`Att103` numeric, `Class1`…`Class14` each 0 or 1.
pub fn parse_yeast(file: &str, bytes: &[u8]) -> FormatResult<Table> {
    let csv = Csv::parse(file, bytes)?;
    let features: Vec<String> = (1..=103).map(|i| format!("Att{i}")).collect();
    let target_names: Vec<String> = (1..=14).map(|i| format!("Class{i}")).collect();
    let header: Vec<&str> = features
        .iter()
        .chain(&target_names)
        .map(String::as_str)
        .collect();
    csv.expect_header(&header)?;
    let mut x = Vec::with_capacity(csv.rows.len() * 103);
    let mut targets = vec![Vec::new(); 14];
    for row in 0..csv.rows.len() {
        for col in 0..103 {
            x.push(csv.number(row, col)?);
        }
        for (k, t) in targets.iter_mut().enumerate() {
            let v = csv.number(row, 103 + k)?;
            if v != 0.0 && v != 1.0 {
                return Err(FormatError::invalid(
                    &csv.file,
                    csv.at(row, 103 + k),
                    "0 or 1",
                    v,
                ));
            }
            t.push(v);
        }
    }
    Ok(Table {
        features,
        x,
        target_names,
        targets,
    })
}

/// Reads `solar-flare.csv` under `dir`.
pub fn read_solar_flare(dir: &Path) -> FormatResult<Table> {
    let path = dir.join("solar-flare.csv");
    parse_solar_flare(&path.display().to_string(), &read_file(&path)?)
}

/// Reads `yeast.csv` under `dir` (gzip accepted).
pub fn read_yeast(dir: &Path) -> FormatResult<Table> {
    let path = super::locate(dir, "yeast.csv");
    parse_yeast(&path.display().to_string(), &read_file(&path)?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The first three rows of river's `solar-flare.csv`.
    pub(crate) const SOLAR: &str = "zurich-class,largest-spot-size,spot-distribution,activity,evolution,previous-24h-flare-activity,hist-complex,hist-complex-this-pass,area,largest-spot-area,c-class-flares,m-class-flares,x-class-flares\nH,A,X,1,3,1,1,1,1,1,0,0,0\nD,R,O,1,3,1,1,2,1,1,0,0,0\nC,S,O,1,3,1,1,2,1,1,2,1,0\n";

    /// A yeast-shaped table: row r has Att_i = r + i/1000 and Class_k = (r + k) mod 2.
    pub(crate) fn yeast(rows: usize) -> String {
        let mut s: Vec<String> = vec![(1..=103)
            .map(|i| format!("Att{i}"))
            .chain((1..=14).map(|i| format!("Class{i}")))
            .collect::<Vec<_>>()
            .join(",")];
        for r in 0..rows {
            let f = (1..=103).map(|i| format!("{}", r as f64 + i as f64 / 1000.0));
            let c = (1..=14).map(|k| format!("{}", (r + k) % 2));
            s.push(f.chain(c).collect::<Vec<_>>().join(","));
        }
        s.join("\n")
    }

    #[test]
    fn solar_flare_one_hot_and_counts() {
        let t = parse_solar_flare("s.csv", SOLAR.as_bytes()).unwrap();
        assert_eq!(t.rows(), 3);
        assert_eq!(t.features.len(), 24);
        let row1 = &t.x[24..48];
        // D (index 3 of 7), R (index 1 of 6), O (index 1 of 4), then 1,3,1,1,2,1,1.
        let mut want = vec![0.0; 17];
        want[3] = 1.0;
        want[7 + 1] = 1.0;
        want[13 + 1] = 1.0;
        want.extend([1.0, 3.0, 1.0, 1.0, 2.0, 1.0, 1.0]);
        assert_eq!(row1, &want[..]);
        assert_eq!(
            t.targets,
            vec![vec![0.0, 0.0, 2.0], vec![0.0, 0.0, 1.0], vec![0.0; 3]]
        );
        let err = parse_solar_flare("s.csv", SOLAR.replace("D,R,O", "D,Q,O").as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("data row 2 column `largest-spot-size`: expected one of X, R, S, A, H, K, found `Q`"), "{err}");
    }

    #[test]
    fn yeast_features_and_labels() {
        let t = parse_yeast("y.csv", yeast(3).as_bytes()).unwrap();
        assert_eq!((t.rows(), t.features.len(), t.targets.len()), (3, 103, 14));
        assert_eq!(t.x[103 * 2 + 4], 2.005);
        assert_eq!(t.targets[0], [1.0, 0.0, 1.0]);
        let bad = yeast(2).replacen(",0\n", ",2\n", 1);
        let err = parse_yeast("y.csv", bad.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data row 1 column `Class14`: expected 0 or 1, found 2"),
            "{err}"
        );
    }
}
