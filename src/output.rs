//! Where a report goes and in which form: the renderer (from `-r`, `--html`
//! or the `-o` extension), colour and unicode (forced or detected), and the
//! destination, resolved and checked before the program runs so that an
//! unwritable `-o` fails early. Files are written whole or not at all.

use crate::cli::OutputOptions;
use crate::error::{Error, Result};
use crate::render::{self, Format, RenderOptions};
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
    /// An HTML report with no `-o`, for a terminal: written to a temporary
    /// file and opened in the browser instead (as pyinstrument 5 does).
    pub open_in_browser: bool,
    /// A text report for a terminal: the session is also saved among the
    /// last few (see `saved_sessions_dir`) and a `--load-prev ID` hint is
    /// printed. The caller turns it off when re-rendering a saved one.
    pub remember: bool,
    /// `--target-description`: given to the session before it is rendered
    /// (so a JSON report, and a remembered session, keep it).
    pub target_description: Option<String>,
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
            open_in_browser: to_terminal && !pstats && format == Format::Html,
            remember: to_terminal && !pstats && format == Format::Text,
            target_description: output.target_description.clone(),
        })
    }

    /// Renders `session` and delivers it: the renderer writes straight
    /// into the (buffered) file, temporary file or stdout.
    pub fn write(&self, session: &Session) -> Result<()> {
        let described;
        let session = match &self.target_description {
            Some(description) => {
                let mut copy = session.clone();
                copy.target_description = Some(description.clone());
                described = copy;
                &described
            }
            None => session,
        };
        let report = |out: &mut dyn Write| {
            if self.pstats {
                out.write_all(&crate::render::pstats::render(session))
            } else {
                render::write(session, self.format, &self.options, out)
            }
        };
        if self.open_in_browser {
            return open_in_browser(report);
        }
        match &self.file {
            Some(path) => write_file_atomically(path, report),
            None => {
                let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
                report(&mut stdout)
                    .and_then(|_| stdout.flush())
                    .map_err(|e| {
                        Error::Output(format!("cannot write the report to stdout: {e}"))
                    })?;
                if self.remember {
                    remember_session(session);
                }
                Ok(())
            }
        }
    }
}

// -- conveniences of issue 15: the browser, and the last sessions ---------

/// Writes the page to a temporary file (left for the browser to read) and
/// opens it: with each command in `$BROWSER` (`:`-separated; `%s` stands for
/// the address, else it is appended), as Python's `webbrowser` does, or else
/// with the desktop's opener. The file's path is printed either way.
fn open_in_browser(page: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<()> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let path =
        std::env::temp_dir().join(format!("pyinstrument-{}-{stamp}.html", std::process::id()));
    write_file_atomically(&path, page)?;
    let address = format!("file://{}", path.display());
    let mut commands: Vec<Vec<String>> = Vec::new();
    if let Ok(browsers) = std::env::var("BROWSER") {
        for browser in browsers.split(':').filter(|b| !b.trim().is_empty()) {
            let mut words: Vec<String> = browser.split_whitespace().map(str::to_string).collect();
            if words.iter().any(|w| w.contains("%s")) {
                words = words.iter().map(|w| w.replace("%s", &address)).collect();
            } else {
                words.push(address.clone());
            }
            commands.push(words);
        }
    }
    for opener in ["xdg-open", "open"] {
        commands.push(vec![opener.to_string(), address.clone()]);
    }
    for command in &commands {
        let status = std::process::Command::new(&command[0])
            .args(&command[1..])
            .stdin(std::process::Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            eprintln!(
                "pyinstrument: opened the report in the browser: {}",
                path.display()
            );
            return Ok(());
        }
    }
    Err(Error::Output(format!(
        "could not open a browser (set $BROWSER to one); the report is in {}",
        path.display()
    )))
}

/// How many sessions `--load-prev` can reach.
const SESSIONS_KEPT: usize = 10;

/// Where the last sessions are kept: `$XDG_DATA_HOME/pyinstrument/sessions`,
/// `~/.local/share/...` by default (the XDG base directory rules).
pub fn saved_sessions_dir() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".local").join("share")))?;
    Some(data.join("pyinstrument").join("sessions"))
}

/// The file of saved session `id` (as printed in the hint).
pub fn saved_session_path(id: &str) -> Result<PathBuf> {
    let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let dir = saved_sessions_dir()
        .ok_or_else(|| Error::Load("no data directory: set $HOME or $XDG_DATA_HOME".to_string()))?;
    let path = dir.join(format!("{id}.json"));
    if !valid || !path.is_file() {
        let mut kept: Vec<String> = list_saved(&dir).into_iter().map(|(id, _)| id).collect();
        kept.reverse();
        return Err(Error::Load(format!(
            "no saved session '{id}' in {} (the last {SESSIONS_KEPT} text reports shown on a terminal are kept{})",
            dir.display(),
            if kept.is_empty() {
                String::new()
            } else {
                format!("; saved: {}", kept.join(", "))
            }
        )));
    }
    Ok(path)
}

/// Saved sessions, oldest first: (id, path).
fn list_saved(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut saved: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let path = entry.path();
            let id = path
                .file_name()?
                .to_str()?
                .strip_suffix(".json")?
                .to_string();
            Some((id, path))
        })
        .collect();
    // Ids are timestamps, so their order is the order they were saved in.
    saved.sort();
    saved
}

/// Saves `session` as the newest of the last sessions and prints the hint;
/// a failure only costs the hint (the report was shown), and is said.
fn remember_session(session: &Session) {
    let Some(dir) = saved_sessions_dir() else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut id = id_for(now.as_secs(), now.subsec_millis());
    let saved = fs::create_dir_all(&dir).map(|_| {
        // Two reports within one millisecond: a distinct id for each.
        let mut n = 1;
        while dir.join(format!("{id}.json")).exists() {
            id = format!("{}-{n}", id_for(now.as_secs(), now.subsec_millis()));
            n += 1;
        }
    });
    let saved = saved.map_err(|e| e.to_string()).and_then(|_| {
        write_file_atomically(&dir.join(format!("{id}.json")), |out| {
            session.write_json(out)
        })
        .map_err(|e| e.to_string())
    });
    match saved {
        Ok(()) => {
            let saved = list_saved(&dir);
            for (_, old) in saved.iter().take(saved.len().saturating_sub(SESSIONS_KEPT)) {
                let _ = fs::remove_file(old);
            }
            eprintln!("To view this report with different options, run:");
            eprintln!("    pyinstrument --load-prev {id} [options]");
        }
        Err(e) => {
            eprintln!("pyinstrument: warning: the session was not saved for --load-prev: {e}")
        }
    }
}

/// `2026-11-29T15-08-01-123`: UTC, sortable, usable as a file name.
fn id_for(seconds: u64, millis: u32) -> String {
    let days = (seconds / 86_400) as i64;
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}-{millis:03}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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
    if output.cpu {
        options.time_kind = crate::session::TimeKind::Cpu;
    }
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

/// Writes `bytes` through a temporary file in the same directory and
/// renames it over `path` (see `write_file_atomically`).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    write_file_atomically(path, |out| out.write_all(bytes))
}

/// Has `contents` write the file through a temporary file in the same
/// directory (buffered), and renames it over `path`, so readers never see
/// half a report. A device or FIFO (say /dev/null) is written in place:
/// renaming over it would replace the device itself for the whole system.
pub fn write_file_atomically(
    path: &Path,
    contents: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::Output(format!(
            "cannot write the report to '{}': {e}",
            path.display()
        ))
    };
    let write_to = |file: fs::File| {
        let mut out = std::io::BufWriter::new(file);
        contents(&mut out)?;
        out.into_inner().map_err(|e| e.into_error()).map(drop)
    };
    if is_special_file(path) {
        return fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(write_to)
            .map_err(fail);
    }
    let temp = temp_path_for(path);
    let result = (|| {
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        write_to(file)?;
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
    fn session_ids_are_utc_timestamps() {
        assert_eq!(id_for(0, 0), "1970-01-01T00-00-00-000");
        // 2026-11-29 15:08:01 UTC
        assert_eq!(id_for(1_795_964_881, 42), "2026-11-29T15-08-01-042");
        assert_eq!(id_for(951_782_400, 999), "2000-02-29T00-00-00-999");
    }

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

    /// `-r` accepts exactly the renderers there are: the text formats of
    /// `render::Format`, then pstats' binary file (written here, not by a
    /// `Format`). The CLI keeps its own list (it stays a pure parser), so
    /// the two are tied here.
    #[test]
    fn the_cli_lists_every_renderer_and_no_other() {
        let mut renderers = crate::render::Format::names().to_vec();
        renderers.push("pstats");
        assert_eq!(crate::cli::RENDERERS, renderers);
        let options = |name: &str| OutputOptions {
            renderer: Some(name.to_string()),
            ..OutputOptions::default()
        };
        assert!(wants_pstats(&options("pstats")));
        assert!(!wants_pstats(&options("text")));
    }
}
