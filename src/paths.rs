//! The path-aliasing check: no output of a run may be one of its inputs or another of its
//! outputs, however the two paths are spelled.
//!
//! Writing predictions over the data they are read from, rejects over predictions, or
//! metadata over a model destroys the one file the user cannot regenerate, so a command lists
//! every file it will read and write in a [`Paths`] and calls [`Paths::check`] before it opens
//! anything. Two paths are the same file when they resolve to the same device and inode (which
//! catches `./d.csv`, `../dir/d.csv`, symbolic and hard links) or, for an output that does not
//! exist yet, to the same canonical folder and name. Standard input and output (`-`), devices,
//! FIFOs and open descriptors (`/dev/stdout`) are streams, not files: they are written through,
//! never replaced, so they alias nothing.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::descriptor;
use crate::error::{Error, Result};
use crate::store::ObjectUrl;

/// A path given to a flag, as the user spelled both.
#[derive(Debug, Clone, Copy)]
struct Named<'a> {
    flag: &'a str,
    path: &'a str,
}

/// The files a run reads and writes, to be checked for aliasing before any is opened.
#[derive(Debug, Default)]
pub struct Paths<'a> {
    inputs: Vec<Named<'a>>,
    /// Each output with the fix its message suggests ("write the predictions elsewhere").
    outputs: Vec<(Named<'a>, &'a str)>,
    /// Whether the run writes to standard output.
    stdout: bool,
}

/// What a path resolves to, for comparing two paths.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// An existing file: its device and inode.
    Inode(u64, u64),
    /// A file not yet there: its canonical folder joined with its name.
    New(PathBuf),
}

impl<'a> Paths<'a> {
    /// No paths yet.
    pub fn new() -> Paths<'a> {
        Paths::default()
    }

    /// A file the run reads, given to `flag`; `None` when the flag was not given.
    pub fn input(mut self, flag: &'a str, path: impl Into<Option<&'a str>>) -> Paths<'a> {
        if let Some(path) = path.into() {
            self.inputs.push(Named { flag, path });
        }
        self
    }

    /// A file the run writes, given to `flag`; `fix` is what the message tells the user to do
    /// when it is the same file as another ("write the predictions elsewhere").
    pub fn output(
        mut self,
        flag: &'a str,
        path: impl Into<Option<&'a str>>,
        fix: &'a str,
    ) -> Paths<'a> {
        if let Some(path) = path.into() {
            self.outputs.push((Named { flag, path }, fix));
        }
        self
    }

    /// Standard output, when the run writes there (`used`): when it is a regular file, as with
    /// `> d.csv` or `>> d.csv`, it must not be an input either.
    pub fn standard_output(mut self, used: bool) -> Paths<'a> {
        self.stdout = used;
        self
    }

    /// Refuses (a usage error, exit 2) an output that is the same file as an input or as an
    /// output listed before it, and (an I/O error, exit 5) an output whose folder does not
    /// exist. Reads only the paths' metadata.
    pub fn check(&self) -> Result<()> {
        self.check_urls()?;
        let inputs: Vec<_> = self
            .inputs
            .iter()
            .map(|named| (named, identity(named.path)))
            .collect();
        if self.stdout {
            // Where descriptor 1 leads, when that is a regular file.
            if let Some(meta) = fs::metadata("/proc/self/fd/1").ok().filter(|m| m.is_file()) {
                let id = Identity::Inode(meta.dev(), meta.ino());
                if let Some((input, _)) = inputs.iter().find(|(_, i)| i.as_ref() == Some(&id)) {
                    return Err(Error::Usage(format!(
                        "standard output is the same file as {} {}: the output would be written \
                         into the file being read; redirect it to another file",
                        input.flag, input.path
                    )));
                }
            }
        }
        let mut earlier: Vec<(&Named, Option<Identity>)> = Vec::new();
        for (output, fix) in &self.outputs {
            let id = identity(output.path);
            if matches!(id, Some(Identity::New(_))) && !folder_exists(output.path) {
                // Said now, not after a long run has nothing to show for it.
                let missing = io::Error::from_raw_os_error(libc::ENOENT);
                return Err(Error::io(output.path, "create", missing));
            }
            if let Some(id) = &id {
                if let Some((input, _)) = inputs.iter().find(|(_, i)| i.as_ref() == Some(id)) {
                    return Err(same_file(output, input, "it would be destroyed", fix));
                }
                if let Some((other, _)) = earlier.iter().find(|(_, o)| o.as_ref() == Some(id)) {
                    return Err(same_file(
                        output,
                        other,
                        "one would overwrite the other",
                        fix,
                    ));
                }
            }
            earlier.push((output, id));
        }
        Ok(())
    }
}

impl<'a> Paths<'a> {
    /// The same check for object storage URLs: an output may not be an input object, lie
    /// under an input prefix, or be another output (same cloud, bucket and key).
    fn check_urls(&self) -> Result<()> {
        let urls = |named: &[Named<'a>]| -> Result<Vec<(Named<'a>, ObjectUrl)>> {
            let urls = named.iter().filter(|n| crate::store::is_url(n.path));
            urls.map(|n| Ok((*n, ObjectUrl::parse(n.path)?))).collect()
        };
        let inputs = urls(&self.inputs)?;
        let outputs: Vec<Named> = self.outputs.iter().map(|(named, _)| *named).collect();
        let outputs = urls(&outputs)?;
        for (i, (output, url)) in outputs.iter().enumerate() {
            if url.is_prefix() {
                return Err(Error::Usage(format!(
                    "{} {} ends in /, so it names a prefix (a folder of objects), not an object: give the object to write, under it or elsewhere",
                    output.flag, output.path
                )));
            }
            let fix = self
                .outputs
                .iter()
                .find(|(named, _)| named.flag == output.flag)
                .map_or("", |(_, fix)| *fix);
            if let Some((input, _)) = inputs.iter().find(|(_, input)| input.contains(url)) {
                return Err(same_file(output, input, "it would be destroyed", fix));
            }
            if let Some((other, _)) = outputs[..i].iter().find(|(_, other)| other.contains(url)) {
                return Err(same_file(
                    output,
                    other,
                    "one would overwrite the other",
                    fix,
                ));
            }
        }
        Ok(())
    }
}

fn same_file(output: &Named, other: &Named, harm: &str, fix: &str) -> Error {
    Error::Usage(format!(
        "{} {} is the same file as {} {}: {harm}; {fix}",
        output.flag, output.path, other.flag, other.path
    ))
}

/// The file `path` names, or `None` for what aliases nothing: standard input or output,
/// a device, FIFO, socket, folder, or a descriptor that leads to none of the files (each fails
/// or streams on its own terms). A descriptor that leads to a regular file (`/dev/stdout` of
/// `>> d.csv`) is written through, not replaced, but it is still that file.
fn identity(path: &str) -> Option<Identity> {
    if path == "-" || crate::store::is_url(path) {
        return None;
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => Some(Identity::Inode(meta.dev(), meta.ino())),
        Ok(_) => None,
        Err(_) if descriptor::is_descriptor(Path::new(path)) => None,
        Err(_) => Some(Identity::New(canonical_new(Path::new(path)))),
    }
}

/// Whether the folder a new file at `path` would be created in exists.
fn folder_exists(path: &str) -> bool {
    match Path::new(path).parent() {
        Some(folder) if !folder.as_os_str().is_empty() => folder.is_dir(),
        _ => true,
    }
}

/// Where a file that does not exist yet would be created: the canonical folder and the name.
/// A folder that does not exist either is made absolute as spelled; creating the file will
/// fail anyway.
fn canonical_new(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (Some(parent), Some(name)) = (absolute.parent(), absolute.file_name()) else {
        return absolute;
    };
    match fs::canonicalize(parent) {
        Ok(folder) => folder.join(name),
        Err(_) => absolute,
    }
}

/// Whether a shard's `--output` (given to `flag`) is already complete: true when it exists as
/// a regular file (outputs appear only whole), false when it does not exist. A folder or a
/// device there can never be a finished output, so it is refused rather than taken as done.
pub fn is_finished_output(flag: &str, path: &str) -> Result<bool> {
    if crate::store::is_url(path) {
        return Ok(crate::store::Object::open(path)?.size()?.is_some());
    }
    let through = descriptor::is_descriptor(Path::new(path));
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() && !through => Ok(true),
        Ok(meta) => {
            let what = if meta.is_dir() {
                "a folder"
            } else {
                "not a regular file"
            };
            Err(Error::Usage(format!(
                "{flag} {path} is {what}, so it cannot be a finished shard's output: move it away, or give each shard a file of its own, such as out/part-{{index:05}}.csv"
            )))
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(Error::io(path, "open", err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bi-paths-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn at(dir: &Path, name: &str) -> String {
        dir.join(name).to_str().unwrap().to_string()
    }

    #[test]
    fn an_output_spelled_differently_from_its_input_is_caught() {
        let dir = scratch("spelled");
        fs::create_dir(dir.join("sub")).unwrap();
        fs::write(dir.join("d.csv"), "x\n").unwrap();
        let data = at(&dir, "d.csv");
        let output = at(&dir, "sub/../d.csv");
        let err = Paths::new()
            .input("--data", data.as_str())
            .output(
                "--output",
                output.as_str(),
                "write the predictions elsewhere",
            )
            .check()
            .unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            format!("--output {output} is the same file as --data {data}: it would be destroyed; write the predictions elsewhere")
        );
    }

    #[test]
    fn two_new_outputs_are_the_same_file_when_their_folders_are() {
        let dir = scratch("new");
        fs::create_dir(dir.join("out")).unwrap();
        std::os::unix::fs::symlink("out", dir.join("link")).unwrap();
        let a = at(&dir, "out/p.csv");
        let b = at(&dir, "link/p.csv");
        let err = Paths::new()
            .output("--output", a.as_str(), "x")
            .output("--rejects", b.as_str(), "write the rejected rows elsewhere")
            .check()
            .unwrap_err();
        assert!(err
            .to_string()
            .ends_with(": one would overwrite the other; write the rejected rows elsewhere"));
    }

    #[test]
    fn different_files_streams_and_absent_flags_pass() {
        let dir = scratch("pass");
        fs::write(dir.join("d.csv"), "x\n").unwrap();
        let data = at(&dir, "d.csv");
        let output = at(&dir, "p.csv");
        Paths::new()
            .input("--data", data.as_str())
            .input("--holdout", None)
            .output("--output", output.as_str(), "x")
            .output("--rejects", "-", "x")
            .output("--other", "/dev/null", "x")
            .output("--more", "/dev/null", "x")
            .check()
            .unwrap();
    }

    #[test]
    fn a_shard_output_is_done_only_as_a_regular_file() {
        let dir = scratch("done");
        fs::write(dir.join("p.csv"), "x\n").unwrap();
        assert!(is_finished_output("--output", &at(&dir, "p.csv")).unwrap());
        assert!(!is_finished_output("--output", &at(&dir, "q.csv")).unwrap());
        let err = is_finished_output("--output", dir.to_str().unwrap()).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(is_finished_output("--output", "/dev/null").is_err());
    }

    #[test]
    fn an_output_url_under_an_input_prefix_or_equal_to_an_input_object_is_refused() {
        let check = |data: &'static str, output: &'static str| {
            Paths::new()
                .input("--data", data)
                .output("--output", output, "write the predictions elsewhere")
                .check()
        };
        let err = check("s3://b/in/", "s3://b/in/p.csv").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            err.to_string(),
            "--output s3://b/in/p.csv is the same file as --data s3://b/in/: it would be destroyed; write the predictions elsewhere"
        );
        assert!(check("s3://b/d.csv", "s3://b/d.csv").is_err());
        check("s3://b/in/", "s3://b/out/p.csv").unwrap();
        check("s3://b/d.csv", "gs://b/d.csv").unwrap();
        check("s3://b/d.csv", "s3://c/d.csv").unwrap();
    }
}
