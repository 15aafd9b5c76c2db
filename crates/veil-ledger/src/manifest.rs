//! Content digests of a model or dataset that is a file or a whole directory, in the form
//! the OpenSSF model-signing format uses (its "files" serialization, v1.0).
//!
//! A directory is every regular file under it, named by its relative POSIX path and hashed
//! with SHA-256 (a *resource*), sorted component by component (`a/b.txt` before `a.txt`, as
//! Python's `PurePosixPath` orders them). The directory's digest is SHA-256 over the
//! concatenated 32-byte resource digests in that order. A single file is one resource named
//! `.`. Paths named in the ignore list (relative to the root; by default the git files
//! `.git`, `.github`, `.gitignore`, `.gitattributes`) are left out with everything under
//! them. Symbolic links are refused: following one would sign content outside the model.

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest as _, Sha256};

use crate::entry::Subject;
use crate::error::{Error, Result};

/// The paths the OpenSSF tool ignores by default (relative to the model's root).
pub const DEFAULT_IGNORES: &[&str] = &[".git", ".github", ".gitignore", ".gitattributes"];

/// One hashed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The relative POSIX path (`.` for a single-file model).
    pub name: String,
    /// SHA-256 of the file's content.
    pub sha256: [u8; 32],
}

/// The hashed files of a model or dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The last component of the path hashed.
    pub name: String,
    /// Whether the path was a directory.
    pub is_dir: bool,
    /// The files, in the canonical order.
    pub resources: Vec<Resource>,
    /// The ignored paths, relative to the root.
    pub ignore_paths: Vec<String>,
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::Io(veil_core::Error::io(path, e))
}

/// Orders POSIX paths component by component.
fn canonical_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

impl Manifest {
    /// Hashes `path` (a file or a directory), leaving out `ignore` (paths relative to the
    /// root, on top of [`DEFAULT_IGNORES`]).
    pub fn of_path(path: &Path, ignore: &[String]) -> Result<Manifest> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| io(path, e))?;
        let name = path
            .canonicalize()
            .map_err(|e| io(path, e))?
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "/".into());
        let mut ignore_paths: Vec<String> = DEFAULT_IGNORES.iter().map(|s| s.to_string()).collect();
        for extra in ignore {
            let extra = extra.trim_matches('/').to_string();
            if !extra.is_empty() && !ignore_paths.contains(&extra) {
                ignore_paths.push(extra);
            }
        }
        if meta.file_type().is_symlink() {
            return Err(Error::invalid(
                "path",
                format!(
                    "{} is a symbolic link; give the file or directory it points to",
                    path.display()
                ),
            ));
        }
        let resources = if meta.is_file() {
            vec![Resource {
                name: ".".into(),
                sha256: file_digest(path)?,
            }]
        } else {
            let mut files = list_files(path, &ignore_paths)?;
            files.sort_by(|a, b| canonical_order(&a.0, &b.0));
            // Files are hashed in parallel: a model is often a few large shards.
            files
                .into_par_iter()
                .map(|(name, full)| {
                    Ok(Resource {
                        name,
                        sha256: file_digest(&full)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?
        };
        Ok(Manifest {
            name,
            is_dir: meta.is_dir(),
            resources,
            ignore_paths,
        })
    }

    /// SHA-256 over the resource digests in order: the model-signing subject digest.
    pub fn digest(&self) -> [u8; 32] {
        digest_of(&self.resources)
    }
}

/// Every regular file under `root` as (relative POSIX path, full path), leaving out `ignore`.
fn list_files(root: &Path, ignore: &[String]) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for item in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let item = item.map_err(|e| io(&dir, e))?;
            let file_name = item.file_name();
            let file_name = file_name.to_str().ok_or_else(|| {
                Error::invalid(
                    "path",
                    format!("{} has a file name that is not UTF-8", dir.display()),
                )
            })?;
            let rel = format!("{prefix}{file_name}");
            if ignore.contains(&rel) {
                continue;
            }
            let full: PathBuf = item.path();
            let kind = item.file_type().map_err(|e| io(&full, e))?;
            if kind.is_symlink() {
                return Err(Error::invalid(
                    "path",
                    format!(
                        "{} is a symbolic link; models with links are not hashed",
                        full.display()
                    ),
                ));
            } else if kind.is_dir() {
                stack.push((full, format!("{rel}/")));
            } else if kind.is_file() {
                files.push((rel, full));
            }
        }
    }
    Ok(files)
}

/// SHA-256 over the concatenated digests of `resources`, in the order given.
pub fn digest_of(resources: &[Resource]) -> [u8; 32] {
    let mut h = Sha256::new();
    for r in resources {
        h.update(r.sha256);
    }
    h.finalize().into()
}

/// The ledger subject for a file (the SHA-256 of its content) or a directory (named with a
/// trailing `/`, digest [`Manifest::digest`]).
pub fn subject_of(path: &Path) -> Result<Subject> {
    subject_of_ignoring(path, &[])
}

/// [`subject_of`], leaving out `ignore` (paths relative to a directory's root).
pub fn subject_of_ignoring(path: &Path, ignore: &[String]) -> Result<Subject> {
    let manifest = Manifest::of_path(path, ignore)?;
    Ok(if manifest.is_dir {
        Subject {
            name: format!("{}/", manifest.name),
            sha256: manifest.digest(),
        }
    } else {
        Subject {
            name: manifest.name,
            sha256: manifest.resources[0].sha256,
        }
    })
}

fn file_digest(path: &Path) -> Result<[u8; 32]> {
    Ok(veil_core::Sha256Digest::of_file(path)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_ordered_by_component_and_git_files_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("model");
        for (name, body) in [
            ("a.txt", "one"),
            ("a/b.txt", "two"),
            ("d-x", "three"),
            ("d/x", "four"),
            (".git/HEAD", "ignored"),
            (".gitignore", "ignored"),
            (
                "sub/.gitignore",
                "kept: only the root's git files are ignored",
            ),
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let m = Manifest::of_path(&root, &[]).unwrap();
        let names: Vec<&str> = m.resources.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a/b.txt", "a.txt", "d/x", "d-x", "sub/.gitignore"]);
        assert_eq!(m.name, "model");
        assert_eq!(
            m.resources[1].sha256,
            veil_core::Sha256Digest::of_bytes(b"one").0
        );
        let concat: Vec<u8> = m.resources.iter().flat_map(|r| r.sha256).collect();
        assert_eq!(m.digest(), veil_core::Sha256Digest::of_bytes(&concat).0);
        let fewer = Manifest::of_path(&root, &["sub".into()]).unwrap();
        assert_eq!(fewer.resources.len(), 4);
        assert_ne!(fewer.digest(), m.digest());

        let single = Manifest::of_path(&root.join("a.txt"), &[]).unwrap();
        assert_eq!(single.resources.len(), 1);
        assert_eq!(single.resources[0].name, ".");
        assert!(Manifest::of_path(&root.join("absent"), &[]).is_err());
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("a.txt"), root.join("link")).unwrap();
            assert!(
                Manifest::of_path(&root, &[]).is_err(),
                "symlinks are refused"
            );
        }
    }
}
