//! Provenance of a record set: what the records' stamps, dataset identities and timings say,
//! as one [`Sheet`] with one row per distinct value of each field and the number of records
//! that carry it (software, commit, machine, data revisions and file hashes, run dates).

use std::collections::BTreeMap;

use crate::record::RunStatus;
use crate::sheet::{Cell, Sheet};
use crate::RunRecord;

/// Legend of the provenance table.
pub const PROVENANCE_LEGEND: &str = "One row per distinct value of each field, with the number \
of records that carry it; more than one row for a field means the records came from different \
builds, machines or data. Dates are UTC, from the records' start and end times.";

/// The provenance table of `records`.
pub fn provenance_sheet(records: &[RunRecord]) -> Sheet {
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut add = |field: &str, values: Vec<String>| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for v in values {
            *counts.entry(v).or_default() += 1;
        }
        for (value, n) in counts {
            rows.push(vec![
                Cell::text(field),
                Cell::text(value),
                Cell::text(n.to_string()),
            ]);
        }
    };
    let each = |f: &dyn Fn(&RunRecord) -> String| records.iter().map(f).collect::<Vec<_>>();
    add(
        "status",
        each(&|r| match &r.status {
            RunStatus::Completed => "completed".into(),
            RunStatus::Diverged { .. } => "diverged".into(),
        }),
    );
    add("record schema", each(&|r| r.schema_version.to_string()));
    add("mtlbench", each(&|r| r.stamp.mtlbench_version.clone()));
    add(
        "git commit",
        each(&|r| {
            let dirty = if r.stamp.git_dirty {
                " (uncommitted changes)"
            } else {
                ""
            };
            format!("{}{dirty}", r.stamp.git_commit)
        }),
    );
    add("rustc", each(&|r| r.stamp.rustc.clone()));
    add("target", each(&|r| r.stamp.target.clone()));
    add("candle", each(&|r| r.stamp.candle.clone()));
    add(
        "dependencies",
        each(&|r| {
            let deps: Vec<String> = r
                .stamp
                .dependencies
                .iter()
                .map(|(name, version)| format!("{name} {version}"))
                .collect();
            if deps.is_empty() {
                "not recorded".into()
            } else {
                deps.join(", ")
            }
        }),
    );
    add("device", each(&|r| r.stamp.device.clone()));
    add("threads", each(&|r| r.stamp.threads.to_string()));
    add(
        "dataset",
        each(&|r| {
            let seed = r
                .dataset
                .split_seed
                .map_or(String::new(), |s| format!(", split seed {s}"));
            format!("{}, revision {}{seed}", r.dataset.id, r.dataset.revision)
        }),
    );
    add(
        "data file",
        records
            .iter()
            .flat_map(|r| {
                r.dataset.files.iter().map(|f| {
                    format!(
                        "{}: {}, {} bytes, sha256 {}",
                        r.dataset.id, f.path, f.size, f.sha256
                    )
                })
            })
            .collect(),
    );
    let started = records
        .iter()
        .map(|r| r.timing.started_unix)
        .filter(|t| *t > 0.0)
        .fold(f64::INFINITY, f64::min);
    let finished = records
        .iter()
        .map(|r| r.timing.finished_unix)
        .fold(0.0, f64::max);
    if started.is_finite() && finished > 0.0 {
        rows.push(vec![
            Cell::text("runs"),
            Cell::text(format!(
                "{} to {} UTC",
                utc_minute(started),
                utc_minute(finished)
            )),
            Cell::text(records.len().to_string()),
        ]);
    }
    Sheet {
        kind: "provenance",
        title: format!("Provenance of the {} run records", records.len()),
        columns: vec!["field".into(), "value".into(), "records".into()],
        rows,
        notes: vec![PROVENANCE_LEGEND.into()],
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a Unix time in seconds.
fn utc_minute(unix: f64) -> String {
    let secs = unix.floor() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (H. Hinnant, "chrono-Compatible Low-Level Date
    // Algorithms", days_from_civil inverted).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_print_as_utc_dates() {
        assert_eq!(utc_minute(0.0), "1970-01-01 00:00");
        assert_eq!(utc_minute(951_782_400.0), "2000-02-29 00:00");
        assert_eq!(utc_minute(1_709_251_199.9), "2024-02-29 23:59");
        assert_eq!(utc_minute(1_735_689_600.0 + 3_723.0), "2025-01-01 01:02");
    }
}
