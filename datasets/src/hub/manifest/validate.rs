//! The checks a manifest passes when it is read: names, repo ids, paths, digests, splits and
//! the pins of import-only repos.

use std::collections::BTreeSet;

use super::{glob, import_revision, is_hex, Decode, Manifest, Origin};

impl Manifest {
    pub(super) fn validate(&self) -> Result<(), String> {
        if !is_kebab(&self.name) {
            return Err(format!("name `{}` is not kebab-case", self.name));
        }
        let parts: Vec<&str> = self.repo.split('/').collect();
        if parts.len() != 2 || !parts.iter().all(|p| is_repo_part(p)) {
            return Err(format!("repo `{}` is not `owner/name`", self.repo));
        }
        if let Some(rev) = &self.revision {
            if !is_hex(rev, 40) {
                return Err(format!("revision `{rev}` is not a 40-hex commit id"));
            }
        }
        if self.branch.is_empty() || self.branch.split('/').any(|s| s.is_empty() || s == "..") {
            return Err(format!("branch `{}` is not a valid ref name", self.branch));
        }
        let mut seen = BTreeSet::new();
        for s in &self.splits {
            if !seen.insert(s.name.as_str()) || s.rows == 0 {
                return Err(format!("split `{}` is repeated or has no rows", s.name));
            }
        }
        let mut seen = BTreeSet::new();
        for f in &self.files {
            check_rel_path(&f.path)?;
            if !seen.insert(f.path.as_str()) {
                return Err(format!("file `{}` is listed twice", f.path));
            }
            if f.size.is_some() != f.sha256.is_some() {
                return Err(format!(
                    "file `{}`: pin both size and sha256, or neither",
                    f.path
                ));
            }
            if let Some(h) = &f.sha256 {
                if !is_hex(h, 64) {
                    return Err(format!(
                        "file `{}`: sha256 `{h}` is not 64 lower-case hex digits",
                        f.path
                    ));
                }
            }
        }
        if !self.files.is_empty() && !self.include.is_empty() {
            return Err("give either `files` or `include`, not both".into());
        }
        match &self.origin {
            Origin::Import { .. } => {
                if self.files.is_empty() || !self.include.is_empty() {
                    return Err("an import manifest lists its `files` (no `include`)".into());
                }
                for f in &self.files {
                    if f.size.is_none() {
                        return Err(format!(
                            "file `{}`: an import manifest pins every size and sha256",
                            f.path
                        ));
                    }
                    let member = f.member.as_deref().ok_or_else(|| {
                        format!(
                            "file `{}`: an import manifest names the package `member`",
                            f.path
                        )
                    })?;
                    check_rel_path(member)?;
                    match (f.decode, &f.entry) {
                        (Decode::Zip, None) => {
                            return Err(format!(
                                "file `{}`: decode = \"zip\" needs `entry`",
                                f.path
                            ))
                        }
                        (Decode::None | Decode::Gzip, Some(_)) => {
                            return Err(format!(
                                "file `{}`: `entry` only goes with decode = \"zip\"",
                                f.path
                            ))
                        }
                        _ => {}
                    }
                }
                let derived = import_revision(&self.repo, &self.pinned_files());
                match &self.revision {
                    Some(rev) if *rev == derived => {}
                    Some(rev) => {
                        return Err(format!(
                        "revision `{rev}` is not the one derived from the file list ({derived}); \
                             an import repo's revision changes when its files do"
                    ))
                    }
                    None => {
                        return Err(format!(
                        "an import manifest states its derived revision: revision = \"{derived}\""
                    ))
                    }
                }
            }
            Origin::Hub => {
                if self.files.is_empty() && self.include.is_empty() {
                    return Err("a hub manifest lists `files` or `include` patterns".into());
                }
                for f in &self.files {
                    if f.member.is_some()
                        || f.entry.is_some()
                        || f.decode != Decode::None
                        || f.idx_magic.is_some()
                    {
                        return Err(format!(
                            "file `{}`: member/decode/entry/idx_magic only apply to import manifests",
                            f.path
                        ));
                    }
                }
                for p in &self.include {
                    check_rel_path(p)?;
                    glob(p).map_err(|e| format!("include pattern `{p}`: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

pub(super) fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_repo_part(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && !s.contains("--")
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_rel_path(p: &str) -> Result<(), String> {
    if p.is_empty()
        || p.starts_with('/')
        || p.contains('\\')
        || p.split('/').any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(format!(
            "path `{p}` must be relative, with `/` separators and no `.`/`..`"
        ));
    }
    Ok(())
}
