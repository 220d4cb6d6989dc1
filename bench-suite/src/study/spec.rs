//! A study's definition: `reports/studies/<name>/study.toml` names its parts, each a sweep
//! file with a full and a quick (CI-sized) variant.
//!
//! ```toml
//! title = "MGDA-UB vs scalarization (Sener & Koltun, NeurIPS 2018)"
//! out = "reports/results/sener-koltun"     # where the full study's report goes
//!
//! [[parts]]
//! name = "multifashion-15ep"               # section and runs-folder name
//! title = "MultiFashion, 15-epoch Adam variant"
//! sweep = "multifashion-15ep.toml"         # relative to the study folder
//! quick = "multifashion-15ep.quick.toml"
//! analysis = "linear-front"                # optional extra analysis of the part
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{Error, Result};

/// Extra analyses a part can ask for beside the comparison tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartAnalysis {
    /// The exact Pareto front of `synthetic-linear` and the set linear scalarization reaches
    /// (Hu et al., 2023), with the trained runs placed on it.
    LinearFront,
    /// The weights each search chose and AutoScale's per-window metric trace.
    SearchTrace,
}

/// One sweep of a study.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartSpec {
    /// Section and runs-folder name (lower-case letters, digits and `-`).
    pub name: String,
    /// Section heading.
    pub title: String,
    /// Sweep file of the full study, relative to the study folder.
    pub sweep: PathBuf,
    /// Sweep file of the quick (CI) variant, relative to the study folder.
    pub quick: PathBuf,
    /// Extra analysis of this part.
    #[serde(default)]
    pub analysis: Option<PartAnalysis>,
}

/// A study: its title, default output folder and parts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    /// Heading of the generated pages.
    pub title: String,
    /// Folder (relative to the working directory) of the full study's report.
    pub out: PathBuf,
    /// The sweeps, in section order.
    pub parts: Vec<PartSpec>,
    /// The study's folder (where `study.toml` was read).
    #[serde(skip)]
    pub dir: PathBuf,
}

/// File name of a study's definition inside its folder.
pub const STUDY_FILE: &str = "study.toml";

impl StudySpec {
    /// Reads and checks `<studies>/<name>/study.toml`: every part named once, every sweep file
    /// present. Errors name the file and field (exit code 2).
    pub fn load(studies: &Path, name: &str) -> Result<Self> {
        let dir = studies.join(name);
        let path = dir.join(STUDY_FILE);
        let origin = path.display().to_string();
        let bad = |field: &str, message: String| Error::Config {
            path: if field.is_empty() {
                origin.clone()
            } else {
                format!("{origin}: {field}")
            },
            message,
        };
        if !valid_name(name) {
            return Err(bad(
                "",
                format!("`{name}` is not a study name (letters, digits, `-`)"),
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(
                "",
                format!(
                    "cannot read the study ({e}); the studies are the folders of {} (see `mtlbench study --list`)",
                    studies.display()
                ),
            )
        })?;
        let mut spec: StudySpec = toml::from_str(&text).map_err(|e| bad("", e.to_string()))?;
        spec.dir = dir;
        if spec.parts.is_empty() {
            return Err(bad("parts", "needs at least one [[parts]] entry".into()));
        }
        for (i, part) in spec.parts.iter().enumerate() {
            if !valid_name(&part.name) {
                return Err(bad(
                    &format!("parts[{i}].name"),
                    format!("`{}`: use lower-case letters, digits and `-`", part.name),
                ));
            }
            if spec.parts[..i].iter().any(|p| p.name == part.name) {
                return Err(bad(
                    &format!("parts[{i}].name"),
                    format!("`{}` names two parts", part.name),
                ));
            }
            for (field, file) in [("sweep", &part.sweep), ("quick", &part.quick)] {
                if !spec.dir.join(file).is_file() {
                    return Err(bad(
                        &format!("parts[{i}].{field}"),
                        format!("no sweep file {}", spec.dir.join(file).display()),
                    ));
                }
            }
        }
        Ok(spec)
    }

    /// Sweep file of `part` in the full or quick variant.
    pub fn sweep_file(&self, part: &PartSpec, quick: bool) -> PathBuf {
        self.dir.join(if quick { &part.quick } else { &part.sweep })
    }
}

/// Names of the studies under `studies` (folders holding a `study.toml`), sorted.
pub fn list(studies: &Path) -> Result<Vec<String>> {
    let entries =
        std::fs::read_dir(studies).map_err(Error::input("listing studies in", studies))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STUDY_FILE).is_file())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    Ok(names)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn study(dir: &Path, text: &str) -> Result<StudySpec> {
        std::fs::create_dir_all(dir.join("s")).unwrap();
        std::fs::write(dir.join("s").join(STUDY_FILE), text).unwrap();
        StudySpec::load(dir, "s")
    }

    #[test]
    fn parts_are_checked_with_file_and_field() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("s")).unwrap();
        std::fs::write(tmp.path().join("s/a.toml"), "").unwrap();
        let head = "title = \"t\"\nout = \"o\"\n";
        let ok = format!("{head}[[parts]]\nname = \"a\"\ntitle = \"A\"\nsweep = \"a.toml\"\nquick = \"a.toml\"\n");
        let spec = study(tmp.path(), &ok).unwrap();
        assert_eq!(spec.parts[0].analysis, None);
        assert_eq!(
            spec.sweep_file(&spec.parts[0], true),
            tmp.path().join("s/a.toml")
        );
        let missing = ok.replace("quick = \"a.toml\"", "quick = \"b.toml\"");
        let err = study(tmp.path(), &missing).unwrap_err().to_string();
        assert!(
            err.contains("parts[0].quick") && err.contains("b.toml"),
            "{err}"
        );
        let twice = format!("{ok}{}", &ok[head.len()..]);
        let err = study(tmp.path(), &twice).unwrap_err().to_string();
        assert!(err.contains("parts[1].name"), "{err}");
        let unknown = format!("{ok}colour = 1\n");
        let err = study(tmp.path(), &unknown).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        assert!(StudySpec::load(tmp.path(), "nope").is_err());
        assert!(StudySpec::load(tmp.path(), "../s").is_err());
        assert_eq!(list(tmp.path()).unwrap(), vec!["s".to_owned()]);
    }
}
