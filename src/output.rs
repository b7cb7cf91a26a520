//! Where a report goes and in which form: the renderer (from `-r`, `--html`
//! or the `-o` extension), colour and unicode (forced or detected), and the
//! destination, resolved and checked before the program runs so that an
//! unwritable `-o` fails early. Files are written whole or not at all.

use crate::cli::OutputOptions;
use crate::error::{Error, Result};
use crate::render::{render, Format, RenderOptions};
use crate::session::Session;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct OutputPlan {
    pub format: Format,
    pub options: RenderOptions,
    /// Absolute path of the report file; None for stdout.
    pub file: Option<PathBuf>,
    /// `-r pstats` (or `-o NAME.pstats`/`.prof`): the binary file
    /// `pstats.Stats` reads, instead of `format`.
    pub pstats: bool,
}

/// Whether `-r`, or else the `-o` extension, asks for pstats' binary file
/// (which is not one of the text `Format`s).
fn wants_pstats(output: &OutputOptions) -> bool {
    match &output.renderer {
        Some(name) => name == "pstats",
        None => output.outfile.as_deref().is_some_and(|path| {
            let lower = path.to_string_lossy().to_ascii_lowercase();
            lower.ends_with(".pstats") || lower.ends_with(".prof")
        }),
    }
}

impl OutputPlan {
    /// Resolves `-o` against the current directory (the one pyinstrument
    /// started in) and checks it can be written.
    pub fn prepare(output: &OutputOptions) -> Result<OutputPlan> {
        let file = match &output.outfile {
            Some(path) => {
                let cwd = std::env::current_dir().map_err(|e| {
                    Error::Output(format!("cannot read the current directory: {e}"))
                })?;
                let absolute = cwd.join(path);
                check_writable(&absolute, path)?;
                Some(absolute)
            }
            None => None,
        };
        let pstats = wants_pstats(output);
        if pstats && file.is_none() && std::io::stdout().is_terminal() {
            return Err(Error::Output(
                "pstats is a binary format, not for a terminal: save it with -o FILE.pstats \
                 (or redirect stdout), then read it with python's pstats or snakeviz"
                    .to_string(),
            ));
        }
        let format = match &output.renderer {
            Some(_) if pstats => Format::Text,
            Some(name) => Format::from_name(name).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown renderer '{name}' (choose from {})",
                    Format::names().join(", ")
                ))
            })?,
            None => output
                .outfile
                .as_deref()
                .and_then(|path| Format::from_path(&path.to_string_lossy()))
                .unwrap_or(Format::Text),
        };
        let to_terminal = file.is_none() && std::io::stdout().is_terminal();
        let color = output
            .color
            .unwrap_or_else(|| to_terminal && color_allowed_by_environment());
        let unicode = output
            .unicode
            .unwrap_or_else(|| file.is_some() || locale_is_utf8());
        Ok(OutputPlan {
            format,
            options: render_options(output, unicode, color)?,
            file,
            pstats,
        })
    }

    /// Renders `session` and delivers it.
    pub fn write(&self, session: &Session) -> Result<()> {
        let report = if self.pstats {
            crate::render::pstats::render(session)
        } else {
            render(session, self.format, &self.options).into_bytes()
        };
        match &self.file {
            Some(path) => write_atomically(path, &report),
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(&report)
                    .and_then(|_| stdout.flush())
                    .map_err(|e| Error::Output(format!("cannot write the report to stdout: {e}")))
            }
        }
    }
}

/// The render options the command line asks for: its flags, then every
/// `-p KEY=VALUE` in order (which override them, as in pyinstrument), read
/// by the parser the Python API uses too. A bad value is a usage error,
/// reported before the program runs.
pub fn render_options(output: &OutputOptions, unicode: bool, color: bool) -> Result<RenderOptions> {
    let mut options = RenderOptions {
        unicode,
        color,
        show_all: output.show_all,
        timeline: output.timeline,
        ..Default::default()
    };
    let patterns = [
        output.hide.as_ref().map(|p| p.as_render_option("hide")),
        output.show.as_ref().map(|p| p.as_render_option("show")),
    ];
    for option in patterns.iter().flatten().chain(&output.render_options) {
        options.set(option).map_err(Error::Usage)?;
    }
    options.check().map_err(Error::Usage)?;
    Ok(options)
}

fn color_allowed_by_environment() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").map(|t| t == "dumb").unwrap_or(false);
    !no_color && !dumb
}

/// Whether text written to stdout is read as UTF-8, judged like Python
/// judges its stdout encoding: PYTHONIOENCODING, then the locale.
fn locale_is_utf8() -> bool {
    let says_utf8 = |value: &str| {
        let value = value.to_ascii_lowercase();
        value.contains("utf-8") || value.contains("utf8")
    };
    if let Ok(encoding) = std::env::var("PYTHONIOENCODING") {
        if !encoding.is_empty() {
            return says_utf8(&encoding);
        }
    }
    for name in ["LC_ALL", "LC_CTYPE", "LANG"] {
        if let Ok(value) = std::env::var(name) {
            if !value.is_empty() {
                return says_utf8(&value);
            }
        }
    }
    false
}

fn temp_path_for(path: &Path) -> PathBuf {
    // Built from the name's bytes: a file name need not be UTF-8.
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".pyinstrument-{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// True when `path` exists and is not a regular file (a device such as
/// /dev/null or /dev/stdout, a FIFO): such targets are written in place,
/// never replaced by a rename.
fn is_special_file(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| !m.is_file() && !m.is_dir())
        .unwrap_or(false)
}

fn check_writable(path: &Path, as_given: &OsStr) -> Result<()> {
    let fail = |reason: String| {
        Error::Output(format!(
            "cannot write the report to '{}': {reason}",
            as_given.to_string_lossy()
        ))
    };
    if path.is_dir() {
        return Err(fail("it is a directory".to_string()));
    }
    if is_special_file(path) {
        return fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(|_| ())
            .map_err(|e| fail(e.to_string()));
    }
    let probe = temp_path_for(path);
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
        }
        Err(e) => return Err(fail(e.to_string())),
    }
    if path.exists() {
        let metadata = fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        if metadata.permissions().readonly() {
            return Err(fail("the file is read-only".to_string()));
        }
    }
    Ok(())
}

/// Writes through a temporary file in the same directory and renames it
/// over `path`, so readers never see half a report. A device or FIFO (say
/// /dev/null) is written in place: renaming over it would replace the
/// device itself for the whole system.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::Output(format!(
            "cannot write the report to '{}': {e}",
            path.display()
        ))
    };
    if is_special_file(path) {
        return fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(fail);
    }
    let temp = temp_path_for(path);
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(bytes)?;
        // No fsync: the rename is what makes the report appear whole or not
        // at all; surviving a power cut is not worth milliseconds per run.
        fs::rename(&temp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(fail(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_options_from_the_command_line() {
        use crate::cli::PathPattern;
        use crate::render::TimeFormat;
        let output = OutputOptions {
            show_all: true,
            timeline: true,
            hide: Some(PathPattern::Glob("*/lib/*".into())),
            show: Some(PathPattern::Regex("/app/".into())),
            render_options: vec!["time=percent_of_total".into(), "timeline=false".into()],
            ..Default::default()
        };
        let o = render_options(&output, true, false).unwrap();
        assert!(o.unicode && !o.color && o.show_all);
        // -p comes last and wins.
        assert!(!o.timeline);
        assert_eq!(o.time, TimeFormat::PercentOfTotal);
        assert!(o.hide.unwrap().is_match("/x/lib/y.py"));
        assert!(o.show.unwrap().is_match("/app/y.py"));

        let bad = |output: OutputOptions| match render_options(&output, false, false) {
            Err(Error::Usage(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(bad(OutputOptions {
            hide: Some(PathPattern::Regex("(".into())),
            ..Default::default()
        })
        .starts_with("invalid regular expression '('"));
        assert_eq!(
            bad(OutputOptions {
                render_options: vec!["flat".into()],
                timeline: true,
                ..Default::default()
            }),
            "render options flat and timeline cannot be used together"
        );
    }

    #[test]
    fn a_device_is_written_in_place_not_replaced() {
        let null = Path::new("/dev/null");
        check_writable(null, OsStr::new("/dev/null")).unwrap();
        write_atomically(null, b"report").unwrap();
        let metadata = fs::metadata(null).unwrap();
        assert!(!metadata.is_file(), "/dev/null must still be a device");
        assert_eq!(fs::read(null).unwrap(), b"");
    }

    #[test]
    fn a_regular_file_is_replaced_whole() {
        let dir =
            std::env::temp_dir().join(format!("pyinstrument-output-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.txt");
        fs::write(&path, b"old and longer").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
