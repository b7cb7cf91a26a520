//! Command-line parsing: `parse(&[OsString]) -> Result<Command, CliError>`.
//!
//! Pure: no I/O, no Python, no environment. `main.rs` prints errors and help
//! and picks exit statuses; this module only decides what was asked for.
//!
//! Arguments stay the bytes they were given (`OsString`) wherever they are
//! passed on: the program's arguments, the script path, the module name,
//! `-o` and `--load` files. None of them need be UTF-8, and python hands
//! them to the program exactly (decoded with surrogateescape on 3.x, as
//! bytes on 2.7). Only option names and the values of `-r` and
//! `--interval` are text.
//!
//! The behaviour copies optparse as the original pyinstrument uses it
//! (`disable_interspersed_args`): options come first, and the first
//! non-option argument is the script, after which every argument belongs to
//! the script untouched. `scan` walks the arguments the way optparse does:
//! it expands unique prefixes of long options (`--set` for `--setprofile`),
//! splits short clusters (`-oF`), finds where the options end, and reports
//! errors in optparse's wording; `build` turns the options it found into a
//! `Command`, validating values. One table, `OPTIONS`, drives both and the
//! help text.
//!
//! Why no getopts (the design card named it): it cannot parse optparse's
//! command line itself. It rejects abbreviated long options, and it takes
//! only UTF-8, while option values here are bytes (`-o` paths, `--load`
//! files, the `-m` module name). An earlier version kept it behind the
//! scanner, which had to re-spell every option canonically and hand getopts
//! each value as an index into a side list, only for getopts to parse that
//! list a second time and report nothing the scanner had not already found
//! (its help layout is not optparse's either, so the help was our own
//! already). The scanner's list of `(option, value)` in order is the parse.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Version,
    Run(RunOptions),
    Load(LoadOptions),
}

/// The program to profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Script {
        path: OsString,
        args: Vec<OsString>,
    },
    Module {
        name: OsString,
        args: Vec<OsString>,
    },
    /// `-c PROGRAM`: the program's source text, run like `python -c`.
    Command {
        code: OsString,
        args: Vec<OsString>,
    },
}

/// How samples are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Signal,
    Setprofile,
}

/// How the report is written; shared by running and by `--load`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutputOptions {
    /// `-r/--renderer NAME`, or "html" from `--html` (the later one wins).
    /// `None`: decide later (from the `-o` extension, else text).
    pub renderer: Option<String>,
    /// `-o/--outfile`, as given; the runner resolves it.
    pub outfile: Option<OsString>,
    /// `--unicode` / `--no-unicode` (the later one wins); `None`: detect.
    pub unicode: Option<bool>,
    /// `--color` / `--no-color` (the later one wins); `None`: detect.
    pub color: Option<bool>,
    /// `--show-all`: every frame, nothing removed, collapsed or pruned.
    pub show_all: bool,
    /// `-t/--timeline`: calls in time order, repeated calls kept apart.
    pub timeline: bool,
    /// `--cpu`: the tree weighted by CPU time (`-p time_kind=cpu`).
    pub cpu: bool,
    /// `--hide GLOB` or `--hide-regex REGEX`: file paths to hide.
    pub hide: Option<PathPattern>,
    /// `--show GLOB` or `--show-regex REGEX`: file paths never hidden.
    pub show: Option<PathPattern>,
    /// `-p/--render-option KEY=VALUE`, in order; applied after the options
    /// above, so they override them (as in pyinstrument).
    pub render_options: Vec<String>,
    /// `--target-description TEXT`: the report's first line instead of
    /// `Program: <command line>`; saved with the session.
    pub target_description: Option<String>,
}

/// A pattern matched against the file paths of frames, as given (checked
/// when the report is prepared, by the same code that reads `-p`).
#[derive(Debug, Clone, PartialEq)]
pub enum PathPattern {
    /// `fnmatch`-style, against the whole path.
    Glob(String),
    /// A regular expression, from the start of the path.
    Regex(String),
}

impl PathPattern {
    /// The pattern as a `-p` option of that `name` (`hide` or `show`).
    pub fn as_render_option(&self, name: &str) -> String {
        match self {
            PathPattern::Glob(glob) => format!("{name}={glob}"),
            PathPattern::Regex(regex) => format!("{name}_regex={regex}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub target: Target,
    pub mode: Mode,
    /// Seconds between samples; always finite and > 0.
    pub interval: f64,
    pub output: OutputOptions,
    // -- conveniences (issue 15) --
    /// `--from-path`: the script is looked up on `PATH` (by the runner:
    /// parsing does no I/O).
    pub from_path: bool,
    /// `--all-threads`: every Python thread, each a root of the report.
    pub all_threads: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// The saved JSON profile to render again.
    pub path: OsString,
    pub output: OutputOptions,
    /// `--load-prev ID`: `path` is the id of a session saved after a text
    /// report on a terminal, found by the caller (parsing does no I/O).
    pub previous: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CliError {
    /// No arguments at all: the caller prints the help and exits 2, as the
    /// original does.
    NoArguments,
    /// Anything else wrong, with a one-line message in optparse's wording.
    Usage(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::NoArguments => f.write_str("no arguments given"),
            CliError::Usage(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for CliError {}

/// The renderers `-r` accepts, in the order the help and errors list them.
pub const RENDERERS: &[&str] = &["text", "html", "json", "speedscope", "collapsed", "pstats"];

/// Sampling interval when `--interval` is not given, in seconds.
pub const DEFAULT_INTERVAL: f64 = 0.001;

const USAGE: &str = "usage: pyinstrument [options] scriptfile [arg] ...";

/// The first line of the help, also printed above usage errors.
pub fn usage_line() -> &'static str {
    USAGE
}

/// One command-line option. The same table drives the scanner, `build` and
/// the help text, so they cannot disagree.
struct Spec {
    /// Short name without the dash, or "".
    short: &'static str,
    /// Long name without the dashes, or "".
    long: &'static str,
    /// Metavariable for an option that takes a value; "" for a flag.
    metavar: &'static str,
    help: &'static str,
}

impl Spec {
    fn takes_value(&self) -> bool {
        !self.metavar.is_empty()
    }

    /// The name `build` asks for the option by: its long name, else its
    /// short one.
    fn key(&self) -> &'static str {
        if self.long.is_empty() {
            self.short
        } else {
            self.long
        }
    }

    fn canonical(&self) -> String {
        if self.long.is_empty() {
            format!("-{}", self.short)
        } else {
            format!("--{}", self.long)
        }
    }

    /// The option strings as optparse's help shows them:
    /// `-o OUTFILE, --outfile=OUTFILE`, `--html`, `-m MODULE`.
    fn display(&self) -> String {
        let mut parts = Vec::new();
        if !self.short.is_empty() {
            if self.takes_value() {
                parts.push(format!("-{} {}", self.short, self.metavar));
            } else {
                parts.push(format!("-{}", self.short));
            }
        }
        if !self.long.is_empty() {
            if self.takes_value() {
                parts.push(format!("--{}={}", self.long, self.metavar));
            } else {
                parts.push(format!("--{}", self.long));
            }
        }
        parts.join(", ")
    }
}

// Help order: the seed's options in the seed's order, ours next to their kin.
const OPTIONS: &[Spec] = &[
    Spec {
        short: "h",
        long: "help",
        metavar: "",
        help: "show this help message and exit",
    },
    Spec {
        short: "",
        long: "version",
        metavar: "",
        help: "show program's version number and exit",
    },
    Spec {
        short: "m",
        long: "",
        metavar: "MODULE",
        help: "run library module as a script, like 'python -m MODULE'; \
               the arguments after MODULE are passed to it",
    },
    Spec {
        short: "c",
        long: "",
        metavar: "PROGRAM",
        help: "program passed in as a string, like 'python -c PROGRAM'; \
               the arguments after PROGRAM are passed to it",
    },
    Spec {
        short: "",
        long: "from-path",
        metavar: "",
        help: "look for the script on PATH instead of in the current \
               directory, e.g. 'pyinstrument --from-path pytest -x'",
    },
    Spec {
        short: "",
        long: "load",
        metavar: "FILE",
        help: "instead of running a program, load a profile saved earlier as \
               JSON (-r json) and render it again",
    },
    Spec {
        short: "",
        long: "load-prev",
        metavar: "ID",
        help: "instead of running a program, render again one of the last \
               sessions shown as text on a terminal (the ID its hint gave)",
    },
    Spec {
        short: "",
        long: "setprofile",
        metavar: "",
        help: "run in setprofile mode, instead of signal mode",
    },
    Spec {
        short: "",
        long: "all-threads",
        metavar: "",
        help: "profile every thread of the program, each a root of the report",
    },
    Spec {
        short: "i",
        long: "interval",
        metavar: "SECONDS",
        help: "minimum time between samples, in seconds (default: 0.001)",
    },
    Spec {
        short: "",
        long: "html",
        metavar: "",
        help: "output HTML instead of text (same as -r html)",
    },
    Spec {
        short: "r",
        long: "renderer",
        metavar: "RENDERER",
        help: "how to render the report: text, html, json, speedscope, \
               collapsed or pstats (default: from the OUTFILE extension, \
               else text)",
    },
    Spec {
        short: "o",
        long: "outfile",
        metavar: "OUTFILE",
        help: "save report to <outfile>",
    },
    Spec {
        short: "",
        long: "target-description",
        metavar: "DESCRIPTION",
        help: "what the report's header says was profiled, instead of \
               'Program: <command line>'",
    },
    Spec {
        short: "",
        long: "unicode",
        metavar: "",
        help: "force unicode text output",
    },
    Spec {
        short: "",
        long: "no-unicode",
        metavar: "",
        help: "force ascii text output",
    },
    Spec {
        short: "",
        long: "color",
        metavar: "",
        help: "force ansi color text output",
    },
    Spec {
        short: "",
        long: "no-color",
        metavar: "",
        help: "force no color text output",
    },
    Spec {
        short: "t",
        long: "timeline",
        metavar: "",
        help: "render as a timeline: keep the order of calls and don't \
               merge repeated ones",
    },
    Spec {
        short: "",
        long: "cpu",
        metavar: "",
        help: "weight the report by the profiled thread's CPU time instead \
               of wall-clock time (same as -p time_kind=cpu)",
    },
    Spec {
        short: "",
        long: "hide",
        metavar: "GLOB",
        help: "glob-style pattern matching the file paths whose frames to \
               hide (by default library code is hidden)",
    },
    Spec {
        short: "",
        long: "hide-regex",
        metavar: "REGEX",
        help: "regex matching the file paths whose frames to hide",
    },
    Spec {
        short: "",
        long: "show",
        metavar: "GLOB",
        help: "glob-style pattern matching the file paths whose frames to \
               show, regardless of --hide or --hide-regex; e.g. --show \
               '*/django/*' to show Django's frames",
    },
    Spec {
        short: "",
        long: "show-regex",
        metavar: "REGEX",
        help: "regex matching the file paths whose frames to always show",
    },
    Spec {
        short: "",
        long: "show-all",
        metavar: "",
        help: "show everything: no frame hidden, removed or pruned",
    },
    Spec {
        short: "p",
        long: "render-option",
        metavar: "RENDER_OPTION",
        help: "a renderer option, 'name=value' or 'name' (true); may be \
               repeated. filter_threshold=SHARE (default 0.01), \
               time=seconds|percent_of_total, flat=true, \
               flat_time=self|total, show_all, timeline, unicode, color, \
               hide=GLOB, hide_regex=REGEX, show=GLOB, show_regex=REGEX, \
               remove_importlib=false, remove_tracebackhide=false, \
               group_library_frames=false, time_kind=wall|cpu",
    },
];

fn spec(key: &str) -> &'static Spec {
    OPTIONS
        .iter()
        .find(|s| s.key() == key)
        .unwrap_or_else(|| panic!("cli: option {key:?} missing from OPTIONS"))
}

fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Parse the arguments after argv[0].
pub fn parse(args: &[OsString]) -> Result<Command, CliError> {
    if args.is_empty() {
        return Err(CliError::NoArguments);
    }
    match scan(args)? {
        Scan::Early(command) => Ok(command),
        Scan::Split { options, target } => build(&Found { options }, target),
    }
}

enum Scan {
    /// `-h` or `--version`: optparse acts on them as soon as it meets them.
    Early(Command),
    /// The options in the order given, each with its value if it takes
    /// one; and the program if one was named.
    Split {
        options: Vec<(&'static Spec, Option<OsString>)>,
        target: Option<Target>,
    },
}

/// Walk the arguments as optparse does, stopping at the script, at `--`, or
/// after `-m MODULE`. Errors come out in the order optparse would meet them.
fn scan(args: &[OsString]) -> Result<Scan, CliError> {
    let mut options: Vec<(&'static Spec, Option<OsString>)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        if arg == b"--" {
            return Ok(Scan::Split {
                options,
                target: script_target(&args[i + 1..])?,
            });
        }
        if arg == b"-" || !arg.starts_with(b"-") {
            return Ok(Scan::Split {
                options,
                target: script_target(&args[i..])?,
            });
        }

        // The options in this argument, each with its value if it takes one.
        let mut found: Vec<(&'static Spec, Option<OsString>)> = Vec::new();
        if let Some(body) = arg.strip_prefix(b"--") {
            let (name, inline) = match body.iter().position(|&b| b == b'=') {
                Some(at) => (&body[..at], Some(bytes_arg(&body[at + 1..]))),
                None => (body, None),
            };
            let Ok(name) = std::str::from_utf8(name) else {
                return Err(usage(format!(
                    "no such option: --{}",
                    String::from_utf8_lossy(name)
                )));
            };
            let long = resolve_long(
                name,
                OPTIONS.iter().map(|s| s.long).filter(|l| !l.is_empty()),
            )?;
            let spec = spec(long);
            if spec.takes_value() {
                let value = match inline {
                    Some(value) => value,
                    None => {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| requires_argument(&spec.canonical()))?
                    }
                };
                found.push((spec, Some(value)));
            } else if inline.is_some() {
                return Err(usage(format!("--{long} option does not take a value")));
            } else {
                found.push((spec, None));
            }
        } else {
            // A cluster of short options: `-h`, `-oFILE`, `-ho FILE`. An
            // option that takes a value swallows the rest of the cluster
            // (whatever its bytes), or else the next argument (even one
            // starting with '-'). Option letters are the cluster's UTF-8
            // start; a byte that is not UTF-8 is no option.
            let body = &arg[1..];
            let letters = body.utf8_chunks().next().map_or("", |c| c.valid());
            let mut swallowed = false;
            for (at, ch) in letters.char_indices() {
                let spec = OPTIONS
                    .iter()
                    .find(|s| s.short.starts_with(ch) && s.short.len() == ch.len_utf8())
                    .ok_or_else(|| usage(format!("no such option: -{ch}")))?;
                if !spec.takes_value() {
                    // Act on -h before looking at the rest of the cluster.
                    if let Some(command) = early_exit(spec) {
                        return Ok(Scan::Early(command));
                    }
                    found.push((spec, None));
                    continue;
                }
                let rest = &body[at + ch.len_utf8()..];
                let value = if !rest.is_empty() {
                    bytes_arg(rest)
                } else {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| requires_argument(&format!("-{ch}")))?
                };
                found.push((spec, Some(value)));
                swallowed = true;
                break;
            }
            if !swallowed && letters.len() < body.len() {
                return Err(usage(format!(
                    "no such option: -{}",
                    char::REPLACEMENT_CHARACTER
                )));
            }
        }

        for (spec, value) in found {
            if let Some(command) = early_exit(spec) {
                return Ok(Scan::Early(command));
            }
            options.push((spec, value.clone()));
            if let Some(value) = value {
                if spec.key() == "m" || spec.key() == "c" {
                    // Like `python -m`/`python -c`: the module name or the
                    // program ends our options and everything after it is
                    // the program's.
                    let args = args[i + 1..].to_vec();
                    let target = if spec.key() == "m" {
                        if value.is_empty() {
                            return Err(usage("-m option requires a module name"));
                        }
                        Target::Module { name: value, args }
                    } else {
                        Target::Command { code: value, args }
                    };
                    return Ok(Scan::Split {
                        options,
                        target: Some(target),
                    });
                }
            }
        }
        i += 1;
    }
    Ok(Scan::Split {
        options,
        target: None,
    })
}

fn bytes_arg(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// The options `scan` found, in the order given; an option's position is
/// its index here, so a later one has the higher position.
struct Found {
    options: Vec<(&'static Spec, Option<OsString>)>,
}

impl Found {
    /// The occurrences of option `key`, each with its position.
    fn occurrences<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = (usize, &'a Option<OsString>)> + 'a {
        assert!(
            OPTIONS.iter().any(|s| s.key() == key),
            "cli: no option {key:?}"
        );
        self.options
            .iter()
            .enumerate()
            .filter(move |(_, (spec, _))| spec.key() == key)
            .map(|(pos, (_, value))| (pos, value))
    }

    fn present(&self, key: &str) -> bool {
        self.occurrences(key).next().is_some()
    }

    fn positions(&self, key: &str) -> Vec<usize> {
        self.occurrences(key).map(|(pos, _)| pos).collect()
    }

    /// Every value of option `key`, each with its position.
    fn all_with_positions(&self, key: &str) -> Vec<(usize, OsString)> {
        self.occurrences(key)
            .filter_map(|(pos, value)| Some((pos, value.clone()?)))
            .collect()
    }

    /// Every value of option `key`, in order.
    fn all(&self, key: &str) -> Vec<OsString> {
        self.all_with_positions(key)
            .into_iter()
            .map(|(_, value)| value)
            .collect()
    }

    fn last(&self, key: &str) -> Option<OsString> {
        self.all(key).pop()
    }
}

/// A value that must be text (a renderer name, a number): the text, or the
/// value as it will be quoted in the error message.
fn text_value(value: &OsStr) -> Result<&str, String> {
    value
        .to_str()
        .ok_or_else(|| value.to_string_lossy().into_owned())
}

/// The options optparse acts on (and exits) as soon as it meets them.
fn early_exit(spec: &Spec) -> Option<Command> {
    match spec.key() {
        "help" => Some(Command::Help),
        "version" => Some(Command::Version),
        _ => None,
    }
}

/// `rest` starts at the script path (or is empty: no script).
fn script_target(rest: &[OsString]) -> Result<Option<Target>, CliError> {
    match rest.split_first() {
        None => Ok(None),
        Some((path, _)) if path == "-" => Err(usage(
            "reading the script from standard input ('-') is not supported",
        )),
        Some((path, args)) => Ok(Some(Target::Script {
            path: path.clone(),
            args: args.to_vec(),
        })),
    }
}

fn requires_argument(option: &str) -> CliError {
    usage(format!("{option} option requires 1 argument"))
}

/// optparse's `_match_abbrev`: an exact name wins; otherwise a prefix must
/// match exactly one name. Errors name the option as the user wrote it.
fn resolve_long<'a>(name: &str, longs: impl Iterator<Item = &'a str>) -> Result<&'a str, CliError> {
    let mut candidates: Vec<&str> = Vec::new();
    for long in longs {
        if long == name {
            return Ok(long);
        }
        if long.starts_with(name) {
            candidates.push(long);
        }
    }
    match candidates.len() {
        0 => Err(usage(format!("no such option: --{name}"))),
        1 => Ok(candidates[0]),
        _ => {
            candidates.sort_unstable();
            let listed: Vec<String> = candidates.iter().map(|c| format!("--{c}")).collect();
            Err(usage(format!(
                "ambiguous option: --{name} ({}?)",
                listed.join(", ")
            )))
        }
    }
}

fn build(found: &Found, target: Option<Target>) -> Result<Command, CliError> {
    let output = output_options(found)?;
    let load = match (found.last("load"), found.last("load-prev")) {
        (Some(_), Some(_)) => return Err(usage("--load and --load-prev cannot be used together")),
        (Some(path), None) => Some((path, false)),
        (None, Some(id)) => Some((id, true)),
        (None, None) => None,
    };

    let mut interval = DEFAULT_INTERVAL;
    for value in found.all("interval") {
        let number = text_value(&value).map(|text| text.trim().parse::<f64>());
        interval = match number {
            Ok(Ok(value)) if value.is_finite() && value > 0.0 => value,
            _ => {
                return Err(usage(format!(
                    "--interval must be a positive number of seconds, got '{}'",
                    value.to_string_lossy()
                )))
            }
        };
    }

    match (load, target) {
        (Some(_), Some(_)) => Err(usage("--load cannot be combined with a script, -m or -c")),
        (Some((path, previous)), None) => Ok(Command::Load(LoadOptions {
            path,
            output,
            previous,
        })),
        (None, None) => Err(usage("no script or module given")),
        (None, Some(target)) => {
            let mode = if found.present("setprofile") {
                Mode::Setprofile
            } else {
                Mode::Signal
            };
            let from_path = found.present("from-path");
            if from_path && !matches!(target, Target::Script { .. }) {
                return Err(usage("--from-path needs a script name, not -m or -c"));
            }
            Ok(Command::Run(RunOptions {
                all_threads: found.present("all-threads"),
                target,
                mode,
                interval,
                output,
                from_path,
            }))
        }
    }
}

fn output_options(found: &Found) -> Result<OutputOptions, CliError> {
    let mut renderers: Vec<(usize, String)> = Vec::new();
    for (pos, value) in found.all_with_positions("renderer") {
        let name = match text_value(&value) {
            Ok(name) if RENDERERS.contains(&name) => {
                renderers.push((pos, name.to_string()));
                continue;
            }
            Ok(name) => name.to_string(),
            Err(shown) => shown,
        };
        let choices: Vec<String> = RENDERERS.iter().map(|r| format!("'{r}'")).collect();
        return Err(usage(format!(
            "option -r/--renderer: invalid choice: '{name}' (choose from {})",
            choices.join(", ")
        )));
    }
    renderers.extend(
        found
            .positions("html")
            .into_iter()
            .map(|pos| (pos, "html".to_string())),
    );

    // pyinstrument's rules: one way to say what to hide, one to say what
    // to show (--show-all being one of those).
    if found.present("hide") && found.present("hide-regex") {
        return Err(usage("--hide and --hide-regex cannot be used together"));
    }
    let shows = ["show", "show-regex", "show-all"]
        .iter()
        .filter(|key| found.present(key))
        .count();
    if shows > 1 {
        return Err(usage(
            "only one of --show, --show-regex and --show-all can be used",
        ));
    }
    let pattern = |glob_key: &str, regex_key: &str| -> Result<Option<PathPattern>, CliError> {
        let text = |key: &str| -> Result<Option<String>, CliError> {
            found
                .last(key)
                .map(|value| {
                    text_value(&value).map(str::to_string).map_err(|shown| {
                        usage(format!("--{key} must be text (UTF-8), got '{shown}'"))
                    })
                })
                .transpose()
        };
        Ok(match (text(glob_key)?, text(regex_key)?) {
            (Some(glob), _) => Some(PathPattern::Glob(glob)),
            (None, Some(regex)) => Some(PathPattern::Regex(regex)),
            (None, None) => None,
        })
    };
    let mut render_options = Vec::new();
    for value in found.all("render-option") {
        let option = text_value(&value).map_err(|shown| {
            usage(format!(
                "-p/--render-option must be text (UTF-8), got '{shown}'"
            ))
        })?;
        render_options.push(option.to_string());
    }
    let target_description = match found.last("target-description") {
        Some(value) => Some(
            text_value(&value)
                .map_err(|shown| {
                    usage(format!(
                        "--target-description must be text (UTF-8), got '{shown}'"
                    ))
                })?
                .to_string(),
        ),
        None => None,
    };

    Ok(OutputOptions {
        renderer: last_by_position(renderers),
        outfile: found.last("outfile"),
        unicode: last_switch(found, "unicode", "no-unicode"),
        color: last_switch(found, "color", "no-color"),
        show_all: found.present("show-all"),
        timeline: found.present("timeline"),
        cpu: found.present("cpu"),
        hide: pattern("hide", "hide-regex")?,
        show: pattern("show", "show-regex")?,
        render_options,
        target_description,
    })
}

/// The value given last, for options that set the same thing.
fn last_by_position<T>(values: Vec<(usize, T)>) -> Option<T> {
    values
        .into_iter()
        .max_by_key(|(pos, _)| *pos)
        .map(|(_, value)| value)
}

/// `--x` / `--no-x`: whichever came last, or `None` for neither.
fn last_switch(found: &Found, on: &str, off: &str) -> Option<bool> {
    let mut seen: Vec<(usize, bool)> = found.positions(on).into_iter().map(|p| (p, true)).collect();
    seen.extend(found.positions(off).into_iter().map(|p| (p, false)));
    last_by_position(seen)
}

// optparse's layout: options indented 2, help text in a column at 24, the
// whole thing wrapped at 78 (its default width for an 80-column terminal).
const HELP_INDENT: usize = 2;
const HELP_COLUMN: usize = 24;
const HELP_WIDTH: usize = 78;

/// The full `--help` text, ending in a newline.
pub fn help_text() -> String {
    let mut out = String::new();
    out.push_str(USAGE);
    out.push('\n');
    out.push_str("       pyinstrument [options] -m module [arg] ...\n");
    out.push_str("       pyinstrument [options] --load profile.json\n\n");
    let description = "Run a Python script (or, with -m, a library module) under the \
                       profiler, then print its call tree. 'python -m pyinstrument' \
                       takes the same options and arguments.";
    for line in wrap(description, HELP_WIDTH) {
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\nOptions:\n");
    for s in OPTIONS {
        let names = format!("{}{}", " ".repeat(HELP_INDENT), s.display());
        let help = wrap(s.help, HELP_WIDTH - HELP_COLUMN);
        let mut help = help.iter();
        // Names too wide for the column get the help on the next line, as
        // optparse does with `-o OUTFILE, --outfile=OUTFILE`.
        if names.len() + 2 <= HELP_COLUMN {
            let first = help.next().map(String::as_str).unwrap_or("");
            out.push_str(&format!("{names:<HELP_COLUMN$}{first}\n"));
        } else {
            out.push_str(&names);
            out.push('\n');
        }
        for line in help {
            out.push_str(&format!("{:HELP_COLUMN$}{line}\n", ""));
        }
    }
    out
}

/// Greedy word wrap; a word longer than `width` gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    /// A value known to be UTF-8, to compare with a literal.
    fn text(value: &OsStr) -> &str {
        value.to_str().expect("UTF-8")
    }

    /// Arguments given as bytes (not necessarily UTF-8).
    fn raw(list: &[&[u8]]) -> Vec<OsString> {
        list.iter()
            .map(|b| OsString::from_vec(b.to_vec()))
            .collect()
    }

    fn parse_ok(list: &[&str]) -> Command {
        match parse(&args(list)) {
            Ok(command) => command,
            Err(e) => panic!("{list:?} should parse, got {e:?}"),
        }
    }

    fn run(list: &[&str]) -> RunOptions {
        match parse_ok(list) {
            Command::Run(run) => run,
            other => panic!("{list:?} should be Run, got {other:?}"),
        }
    }

    fn output(list: &[&str]) -> OutputOptions {
        run(list).output
    }

    fn usage_err(list: &[&str]) -> String {
        match parse(&args(list)) {
            Err(CliError::Usage(msg)) => msg,
            other => panic!("{list:?} should be a usage error, got {other:?}"),
        }
    }

    fn script(path: &str, rest: &[&str]) -> Target {
        Target::Script {
            path: path.into(),
            args: args(rest),
        }
    }

    fn module(name: &str, rest: &[&str]) -> Target {
        Target::Module {
            name: name.into(),
            args: args(rest),
        }
    }

    // --- no arguments, plain scripts, where options stop -------------------

    #[test]
    fn no_arguments() {
        assert_eq!(parse(&[]), Err(CliError::NoArguments));
    }

    #[test]
    fn bare_script_gets_defaults() {
        let r = run(&["script.py"]);
        assert_eq!(r.target, script("script.py", &[]));
        assert_eq!(r.mode, Mode::Signal);
        assert_eq!(r.interval, DEFAULT_INTERVAL);
        assert_eq!(r.output, OutputOptions::default());
    }

    #[test]
    fn arguments_after_script_belong_to_it() {
        let r = run(&[
            "--html",
            "script.py",
            "--html",
            "-o",
            "x",
            "--",
            "-h",
            "--frob",
        ]);
        assert_eq!(
            r.target,
            script("script.py", &["--html", "-o", "x", "--", "-h", "--frob"])
        );
        assert_eq!(r.output.renderer.as_deref(), Some("html"));
        assert_eq!(r.output.outfile, None);
    }

    #[test]
    fn double_dash_ends_options() {
        assert_eq!(
            run(&["--", "-weird.py", "a"]).target,
            script("-weird.py", &["a"])
        );
        assert_eq!(
            run(&["--html", "--", "s.py", "--", "b"]).target,
            script("s.py", &["--", "b"])
        );
    }

    #[test]
    fn double_dash_alone_has_no_script() {
        assert_eq!(usage_err(&["--"]), "no script or module given");
        assert_eq!(usage_err(&["--html", "--"]), "no script or module given");
    }

    #[test]
    fn lone_dash_is_rejected() {
        for list in [&["-"][..], &["--html", "-"], &["--", "-", "x"]] {
            assert!(usage_err(list).contains("standard input"), "{list:?}");
        }
    }

    #[test]
    fn options_without_a_program() {
        assert_eq!(usage_err(&["--html"]), "no script or module given");
        assert_eq!(
            usage_err(&["-o", "out.txt", "--setprofile"]),
            "no script or module given"
        );
    }

    // --- -h/--help, --version ----------------------------------------------

    #[test]
    fn help_spellings() {
        for list in [
            &["-h"][..],
            &["--help"],
            &["--he"],
            &["--html", "-h", "s.py"],
        ] {
            assert_eq!(parse_ok(list), Command::Help, "{list:?}");
        }
        assert_eq!(
            usage_err(&["--h"]),
            "ambiguous option: --h (--help, --hide, --hide-regex, --html?)"
        );
    }

    #[test]
    fn help_is_acted_on_when_met() {
        // Like optparse: -h wins over anything after it, even bad options...
        assert_eq!(parse_ok(&["-h", "--frob", "-o"]), Command::Help);
        assert_eq!(parse_ok(&["--interval", "x", "-h"]), Command::Help);
        assert_eq!(parse_ok(&["-ho"]), Command::Help);
        // ...but an error met before it is reported.
        assert_eq!(usage_err(&["--frob", "-h"]), "no such option: --frob");
        // After the script, -h is the script's.
        assert_eq!(run(&["s.py", "-h"]).target, script("s.py", &["-h"]));
        assert_eq!(
            run(&["-m", "mod", "--help"]).target,
            module("mod", &["--help"])
        );
    }

    #[test]
    fn version_spellings() {
        assert_eq!(parse_ok(&["--version"]), Command::Version);
        assert_eq!(parse_ok(&["--v"]), Command::Version);
        assert_eq!(parse_ok(&["--html", "--version", "s.py"]), Command::Version);
        assert_eq!(parse_ok(&["--version", "--help"]), Command::Version);
        assert_eq!(parse_ok(&["--help", "--version"]), Command::Help);
        assert_eq!(
            usage_err(&["--version=2"]),
            "--version option does not take a value"
        );
    }

    // --- --setprofile, --interval ------------------------------------------

    #[test]
    fn setprofile() {
        assert_eq!(run(&["--setprofile", "s.py"]).mode, Mode::Setprofile);
        assert_eq!(run(&["--set", "s.py"]).mode, Mode::Setprofile);
        assert_eq!(
            run(&["--setprofile", "--setprofile", "s.py"]).mode,
            Mode::Setprofile
        );
    }

    #[test]
    fn all_threads() {
        assert!(run(&["--all-threads", "s.py"]).all_threads);
        assert!(!run(&["s.py"]).all_threads);
        // After the script, it is the script's.
        assert!(!run(&["s.py", "--all-threads"]).all_threads);
    }

    #[test]
    fn interval_spellings() {
        assert_eq!(run(&["--interval", "0.01", "s.py"]).interval, 0.01);
        assert_eq!(run(&["--interval=1e-4", "s.py"]).interval, 1e-4);
        assert_eq!(run(&["--int", "2", "s.py"]).interval, 2.0);
        assert_eq!(
            run(&["--interval=5", "--interval", "0.5", "s.py"]).interval,
            0.5
        );
    }

    #[test]
    fn interval_must_be_positive_and_finite() {
        for bad in ["x", "0", "-1", "0.0", "nan", "inf", "", "1s"] {
            assert_eq!(
                usage_err(&["--interval", bad, "s.py"]),
                format!("--interval must be a positive number of seconds, got '{bad}'"),
            );
        }
        // Every occurrence is checked, as optparse checks each when met.
        assert!(usage_err(&["--interval=x", "--interval=1", "s.py"]).contains("'x'"));
    }

    #[test]
    fn interval_needs_a_value() {
        assert_eq!(
            usage_err(&["--interval"]),
            "--interval option requires 1 argument"
        );
        assert_eq!(
            usage_err(&["--inter"]),
            "--interval option requires 1 argument"
        );
    }

    // --- --html, -r/--renderer ---------------------------------------------

    #[test]
    fn html() {
        assert_eq!(
            output(&["--html", "s.py"]).renderer.as_deref(),
            Some("html")
        );
        assert_eq!(output(&["--ht", "s.py"]).renderer.as_deref(), Some("html"));
        assert_eq!(
            usage_err(&["--html=yes", "s.py"]),
            "--html option does not take a value"
        );
    }

    #[test]
    fn renderer_spellings() {
        for list in [
            &["-r", "json", "s.py"][..],
            &["-rjson", "s.py"],
            &["--renderer", "json", "s.py"],
            &["--renderer=json", "s.py"],
            &["--rendere=json", "s.py"],
        ] {
            assert_eq!(output(list).renderer.as_deref(), Some("json"), "{list:?}");
        }
        // Since -p/--render-option (pyinstrument 5's name), shorter
        // prefixes are ambiguous, as they are in pyinstrument.
        assert_eq!(
            usage_err(&["--r", "json", "s.py"]),
            "ambiguous option: --r (--render-option, --renderer?)"
        );
    }

    #[test]
    fn every_renderer_name_is_accepted() {
        for name in RENDERERS {
            assert_eq!(
                output(&["-r", name, "s.py"]).renderer.as_deref(),
                Some(*name)
            );
        }
    }

    #[test]
    fn unknown_renderer_lists_the_choices() {
        assert_eq!(
            usage_err(&["-r", "pdf", "s.py"]),
            "option -r/--renderer: invalid choice: 'pdf' \
             (choose from 'text', 'html', 'json', 'speedscope', 'collapsed', 'pstats')"
        );
        // Renderer names are not abbreviated.
        assert!(usage_err(&["-r", "speed", "s.py"]).contains("invalid choice: 'speed'"));
    }

    #[test]
    fn html_and_renderer_last_wins() {
        assert_eq!(
            output(&["--html", "-r", "json", "s.py"])
                .renderer
                .as_deref(),
            Some("json")
        );
        assert_eq!(
            output(&["-r", "json", "--html", "s.py"])
                .renderer
                .as_deref(),
            Some("html")
        );
        assert_eq!(
            output(&["-r", "json", "-r", "text", "s.py"])
                .renderer
                .as_deref(),
            Some("text")
        );
    }

    #[test]
    fn renderer_needs_a_value() {
        assert_eq!(usage_err(&["-r"]), "-r option requires 1 argument");
        assert_eq!(
            usage_err(&["--renderer"]),
            "--renderer option requires 1 argument"
        );
    }

    // --- -o/--outfile -------------------------------------------------------

    #[test]
    fn outfile_spellings() {
        for list in [
            &["-o", "out.html", "s.py"][..],
            &["-oout.html", "s.py"],
            &["--outfile=out.html", "s.py"],
            &["--outfile", "out.html", "s.py"],
            &["--out=out.html", "s.py"],
            &["--o", "out.html", "s.py"],
        ] {
            let r = run(list);
            assert_eq!(
                r.output.outfile.as_deref().map(text),
                Some("out.html"),
                "{list:?}"
            );
            assert_eq!(
                r.output.renderer, None,
                "{list:?}: renderer is decided later"
            );
            assert_eq!(r.target, script("s.py", &[]), "{list:?}");
        }
    }

    #[test]
    fn outfile_value_is_taken_verbatim() {
        // As optparse: the next argument is the value even if it looks like an
        // option, and '=' after the first one is part of the value.
        assert_eq!(
            output(&["-o", "-x.txt", "s.py"])
                .outfile
                .as_deref()
                .map(text),
            Some("-x.txt")
        );
        assert_eq!(
            output(&["-o", "--html", "s.py"])
                .outfile
                .as_deref()
                .map(text),
            Some("--html")
        );
        assert_eq!(
            output(&["--outfile=a=b", "s.py"])
                .outfile
                .as_deref()
                .map(text),
            Some("a=b")
        );
        assert_eq!(
            output(&["--outfile=", "s.py"]).outfile.as_deref().map(text),
            Some("")
        );
        assert_eq!(
            output(&["-o", "a", "-o", "b", "s.py"])
                .outfile
                .as_deref()
                .map(text),
            Some("b")
        );
    }

    #[test]
    fn outfile_needs_a_value() {
        assert_eq!(usage_err(&["-o"]), "-o option requires 1 argument");
        assert_eq!(
            usage_err(&["--outfile"]),
            "--outfile option requires 1 argument"
        );
        assert_eq!(
            usage_err(&["--out"]),
            "--outfile option requires 1 argument"
        );
        assert_eq!(
            usage_err(&["--html", "-o"]),
            "-o option requires 1 argument"
        );
    }

    // --- --unicode/--no-unicode, --color/--no-color -------------------------

    #[test]
    fn unicode_switches() {
        assert_eq!(output(&["--unicode", "s.py"]).unicode, Some(true));
        assert_eq!(output(&["--no-unicode", "s.py"]).unicode, Some(false));
        assert_eq!(output(&["--no-u", "s.py"]).unicode, Some(false));
        assert_eq!(output(&["--uni", "s.py"]).unicode, Some(true));
        assert_eq!(
            output(&["--unicode", "--no-unicode", "s.py"]).unicode,
            Some(false)
        );
        assert_eq!(
            output(&["--no-unicode", "--unicode", "s.py"]).unicode,
            Some(true)
        );
        assert_eq!(output(&["s.py"]).unicode, None);
    }

    #[test]
    fn color_switches() {
        assert_eq!(output(&["--color", "s.py"]).color, Some(true));
        assert_eq!(output(&["--no-color", "s.py"]).color, Some(false));
        assert_eq!(output(&["--no-c", "s.py"]).color, Some(false));
        assert_eq!(output(&["--col", "s.py"]).color, Some(true));
        assert_eq!(
            output(&["--color", "--no-color", "s.py"]).color,
            Some(false)
        );
        assert_eq!(output(&["--no-color", "--color", "s.py"]).color, Some(true));
        assert_eq!(output(&["s.py"]).color, None);
        // The two switches are independent.
        let o = output(&["--no-color", "--unicode", "s.py"]);
        assert_eq!((o.unicode, o.color), (Some(true), Some(false)));
    }

    // --- --show-all ---------------------------------------------------------

    #[test]
    fn show_all() {
        assert!(output(&["--show-all", "s.py"]).show_all);
        assert!(output(&["--show-a", "s.py"]).show_all);
        assert!(!output(&["s.py"]).show_all);
    }

    // --- --hide, --hide-regex, --show, --show-regex --------------------------

    #[test]
    fn show_is_its_own_option_not_a_prefix_of_show_all() {
        // It used to be taken for --show-all, and the glob for the script.
        let r = run(&["--show", "*/django/*", "s.py", "a"]);
        assert_eq!(r.target, script("s.py", &["a"]));
        assert_eq!(r.output.show, Some(PathPattern::Glob("*/django/*".into())));
        assert!(!r.output.show_all);
        assert_eq!(
            output(&["--show=*/x/*", "s.py"]).show,
            Some(PathPattern::Glob("*/x/*".into()))
        );
        assert_eq!(
            output(&["--show-r", ".*/x/", "s.py"]).show,
            Some(PathPattern::Regex(".*/x/".into()))
        );
        assert_eq!(
            usage_err(&["--sho", "x", "s.py"]),
            "ambiguous option: --sho (--show, --show-all, --show-regex?)"
        );
    }

    #[test]
    fn hide_spellings() {
        assert_eq!(
            output(&["--hide", "*/lib/*", "s.py"]).hide,
            Some(PathPattern::Glob("*/lib/*".into()))
        );
        assert_eq!(
            output(&["--hide-regex=/usr/", "s.py"]).hide,
            Some(PathPattern::Regex("/usr/".into()))
        );
        assert_eq!(
            output(&["--hide", "a", "--hide", "b", "s.py"]).hide,
            Some(PathPattern::Glob("b".into()))
        );
        assert_eq!(output(&["s.py"]).hide, None);
        assert_eq!(usage_err(&["--hide"]), "--hide option requires 1 argument");
        assert_eq!(
            PathPattern::Glob("*/x".into()).as_render_option("hide"),
            "hide=*/x"
        );
        assert_eq!(
            PathPattern::Regex("/x".into()).as_render_option("show"),
            "show_regex=/x"
        );
    }

    #[test]
    fn one_way_to_hide_and_one_to_show() {
        assert_eq!(
            usage_err(&["--hide", "a", "--hide-regex", "b", "s.py"]),
            "--hide and --hide-regex cannot be used together"
        );
        for list in [
            &["--show", "a", "--show-regex", "b", "s.py"][..],
            &["--show", "a", "--show-all", "s.py"],
            &["--show-regex", "a", "--show-all", "s.py"],
        ] {
            assert_eq!(
                usage_err(list),
                "only one of --show, --show-regex and --show-all can be used",
                "{list:?}"
            );
        }
        // Hiding and showing combine: show wins where both match.
        let o = output(&["--hide", "*", "--show", "*/app/*", "s.py"]);
        assert!(o.hide.is_some() && o.show.is_some());
    }

    #[test]
    fn patterns_must_be_text() {
        assert_eq!(
            usage_err_raw(&[b"--hide", b"\xff", b"s.py"]),
            "--hide must be text (UTF-8), got '\u{fffd}'"
        );
        assert_eq!(
            usage_err_raw(&[b"-p", b"time=\xff", b"s.py"]),
            "-p/--render-option must be text (UTF-8), got 'time=\u{fffd}'"
        );
    }

    #[test]
    fn target_description() {
        assert_eq!(output(&["s.py"]).target_description, None);
        for args in [
            &["--target-description", "nightly job", "s.py"][..],
            &["--target-description=nightly job", "s.py"],
            &["--target-desc", "nightly job", "s.py"],
        ] {
            assert_eq!(
                output(args).target_description.as_deref(),
                Some("nightly job"),
                "{args:?}"
            );
        }
        // After the script, it is the script's.
        assert_eq!(
            output(&["s.py", "--target-description", "x"]).target_description,
            None
        );
        assert_eq!(
            usage_err_raw(&[b"--target-description", b"\xff", b"s.py"]),
            "--target-description must be text (UTF-8), got '\u{fffd}'"
        );
    }

    // --- -t/--timeline, -p/--render-option, -i ------------------------------

    #[test]
    fn timeline_spellings() {
        assert!(output(&["-t", "s.py"]).timeline);
        assert!(output(&["--timeline", "s.py"]).timeline);
        assert!(output(&["--time", "s.py"]).timeline);
        assert!(!output(&["s.py"]).timeline);
        assert!(output(&["--cpu", "s.py"]).cpu);
        assert!(!output(&["s.py"]).cpu);
        // In a cluster, like any flag.
        let o = output(&["-to", "out.txt", "s.py"]);
        assert!(o.timeline);
        assert_eq!(o.outfile.as_deref().map(text), Some("out.txt"));
    }

    #[test]
    fn render_options_are_kept_in_order() {
        let o = output(&[
            "-p",
            "time=percent_of_total",
            "--render-option=flat",
            "-pfilter_threshold=0",
            "--render-o",
            "flat_time=total",
            "s.py",
        ]);
        assert_eq!(
            o.render_options,
            [
                "time=percent_of_total",
                "flat",
                "filter_threshold=0",
                "flat_time=total"
            ]
        );
        assert!(output(&["s.py"]).render_options.is_empty());
        assert_eq!(usage_err(&["-p"]), "-p option requires 1 argument");
        // --render is a prefix of both --renderer and --render-option.
        assert_eq!(
            usage_err(&["--rend", "x", "s.py"]),
            "ambiguous option: --rend (--render-option, --renderer?)"
        );
    }

    #[test]
    fn interval_short_form() {
        assert_eq!(run(&["-i", "0.0001", "s.py"]).interval, 0.0001);
        assert_eq!(run(&["-i0.01", "s.py"]).interval, 0.01);
        assert!(usage_err(&["-i", "0", "s.py"]).starts_with("--interval must be"));
    }

    // --- -m MODULE ----------------------------------------------------------

    #[test]
    fn module_spellings() {
        assert_eq!(
            run(&["-m", "http.server"]).target,
            module("http.server", &[])
        );
        assert_eq!(run(&["-mhttp.server"]).target, module("http.server", &[]));
        // The next argument is the name even if it starts with '-'.
        assert_eq!(run(&["-m", "-odd"]).target, module("-odd", &[]));
    }

    #[test]
    fn module_takes_the_rest() {
        let r = run(&[
            "--setprofile",
            "-m",
            "pkg.tool",
            "--html",
            "-o",
            "x",
            "s.py",
        ]);
        assert_eq!(r.target, module("pkg.tool", &["--html", "-o", "x", "s.py"]));
        assert_eq!(r.mode, Mode::Setprofile);
        assert_eq!(r.output, OutputOptions::default());
        assert_eq!(
            run(&["-mmod", "--", "a"]).target,
            module("mod", &["--", "a"])
        );
    }

    #[test]
    fn module_needs_a_name() {
        assert_eq!(usage_err(&["-m"]), "-m option requires 1 argument");
        assert_eq!(usage_err(&["-m", ""]), "-m option requires a module name");
        // There is no --module, so no long spelling either.
        assert_eq!(usage_err(&["--module", "x"]), "no such option: --module");
    }

    // --- -c PROGRAM, --from-path (issue 15) ---------------------------------

    fn command(code: &str, rest: &[&str]) -> Target {
        Target::Command {
            code: code.into(),
            args: args(rest),
        }
    }

    #[test]
    fn command_takes_the_rest_like_python_c() {
        assert_eq!(run(&["-c", "print(1)"]).target, command("print(1)", &[]));
        assert_eq!(run(&["-cprint(1)"]).target, command("print(1)", &[]));
        let r = run(&["--setprofile", "-c", "-x", "--html", "-o", "f", "a"]);
        assert_eq!(r.target, command("-x", &["--html", "-o", "f", "a"]));
        assert_eq!(r.mode, Mode::Setprofile);
        assert_eq!(r.output, OutputOptions::default());
        // An empty program is a program (python -c '' runs nothing).
        assert_eq!(run(&["-c", ""]).target, command("", &[]));
        assert_eq!(usage_err(&["-c"]), "-c option requires 1 argument");
        assert_eq!(
            usage_err(&["--load", "x.json", "-c", "1"]),
            "--load cannot be combined with a script, -m or -c"
        );
    }

    #[test]
    fn from_path_is_for_scripts() {
        let r = run(&["--from-path", "pytest", "-x"]);
        assert!(r.from_path);
        assert_eq!(r.target, script("pytest", &["-x"]));
        assert!(!run(&["pytest"]).from_path);
        assert!(run(&["--from", "t"]).from_path);
        assert_eq!(
            usage_err(&["--from-path", "-m", "pytest"]),
            "--from-path needs a script name, not -m or -c"
        );
        assert_eq!(
            usage_err(&["--from-path", "-c", "1"]),
            "--from-path needs a script name, not -m or -c"
        );
    }

    // --- --load FILE --------------------------------------------------------

    #[test]
    fn load_spellings() {
        let expected = Command::Load(LoadOptions {
            path: "prof.json".into(),
            output: OutputOptions::default(),
            previous: false,
        });
        for list in [&["--load", "prof.json"][..], &["--load=prof.json"]] {
            assert_eq!(parse_ok(list), expected, "{list:?}");
        }
        // Since --load-prev (pyinstrument 5 has both), --lo is ambiguous, as
        // in pyinstrument 5; the exact name still wins.
        assert_eq!(
            usage_err(&["--lo", "prof.json"]),
            "ambiguous option: --lo (--load, --load-prev?)"
        );
    }

    #[test]
    fn load_prev_takes_an_id() {
        let Command::Load(load) = parse_ok(&["--load-prev", "2026-11-29T15-08-01-042", "-t"])
        else {
            panic!("--load-prev should be a load");
        };
        assert!(load.previous);
        assert_eq!(load.path, "2026-11-29T15-08-01-042");
        assert!(load.output.timeline);
        assert_eq!(
            usage_err(&["--load-prev", "x", "--load", "y.json"]),
            "--load and --load-prev cannot be used together"
        );
        assert_eq!(
            usage_err(&["--load-prev", "x", "s.py"]),
            "--load cannot be combined with a script, -m or -c"
        );
    }

    #[test]
    fn load_keeps_output_options() {
        let command = parse_ok(&[
            "-r",
            "html",
            "--load",
            "p.json",
            "-o",
            "p.html",
            "--no-color",
            "--show-all",
        ]);
        let Command::Load(load) = command else {
            panic!("expected Load, got {command:?}")
        };
        assert_eq!(load.path, "p.json");
        assert_eq!(load.output.renderer.as_deref(), Some("html"));
        assert_eq!(load.output.outfile.as_deref().map(text), Some("p.html"));
        assert_eq!(load.output.color, Some(false));
        assert!(load.output.show_all);
    }

    #[test]
    fn load_excludes_a_program() {
        let msg = "--load cannot be combined with a script, -m or -c";
        assert_eq!(usage_err(&["--load", "p.json", "s.py"]), msg);
        assert_eq!(usage_err(&["--load", "p.json", "-m", "mod"]), msg);
        assert_eq!(usage_err(&["--load", "p.json", "--", "s.py"]), msg);
        assert_eq!(usage_err(&["--load"]), "--load option requires 1 argument");
    }

    #[test]
    fn load_still_validates_run_options() {
        assert!(usage_err(&["--interval", "0", "--load", "p.json"]).starts_with("--interval"));
    }

    // --- unknown, ambiguous, clusters --------------------------------------

    #[test]
    fn unknown_options() {
        assert_eq!(usage_err(&["--frob", "s.py"]), "no such option: --frob");
        assert_eq!(usage_err(&["--frob=1", "s.py"]), "no such option: --frob");
        assert_eq!(usage_err(&["-x", "s.py"]), "no such option: -x");
        assert_eq!(usage_err(&["--htmlx", "s.py"]), "no such option: --htmlx");
        assert_eq!(usage_err(&["-é"]), "no such option: -é");
    }

    #[test]
    fn ambiguous_prefix_in_optparse_wording() {
        assert_eq!(
            usage_err(&["--no", "s.py"]),
            "ambiguous option: --no (--no-color, --no-unicode?)"
        );
        assert_eq!(
            usage_err(&["--no-", "s.py"]),
            "ambiguous option: --no- (--no-color, --no-unicode?)"
        );
        assert_eq!(
            usage_err(&["--s", "s.py"]),
            "ambiguous option: --s (--setprofile, --show, --show-all, --show-regex?)"
        );
        assert_eq!(
            usage_err(&["--no=1", "s.py"]),
            "ambiguous option: --no (--no-color, --no-unicode?)"
        );
    }

    #[test]
    fn exact_match_beats_longer_names() {
        // None of our names is a prefix of another, so check the rule itself.
        let longs = ["colors", "color", "col-x"];
        assert_eq!(resolve_long("color", longs.into_iter()), Ok("color"));
        assert_eq!(resolve_long("colors", longs.into_iter()), Ok("colors"));
        assert!(matches!(
            resolve_long("colo", longs.into_iter()),
            Err(CliError::Usage(_))
        ));
        assert_eq!(
            resolve_long("co", longs.into_iter()),
            Err(CliError::Usage(
                "ambiguous option: --co (--col-x, --color, --colors?)".into()
            ))
        );
    }

    #[test]
    fn short_clusters() {
        // A value-taking option swallows the rest of its cluster.
        assert!(usage_err(&["-ro", "s.py"]).contains("invalid choice: 'o'"));
        assert_eq!(
            output(&["-otext", "s.py"]).outfile.as_deref().map(text),
            Some("text")
        );
        // An unknown letter is reported before a later -h.
        assert_eq!(usage_err(&["-xh"]), "no such option: -x");
    }

    // --- arguments that are not UTF-8 --------------------------------------

    fn run_raw(list: &[&[u8]]) -> RunOptions {
        match parse(&raw(list)) {
            Ok(Command::Run(run)) => run,
            other => panic!("{list:?} should be Run, got {other:?}"),
        }
    }

    fn usage_err_raw(list: &[&[u8]]) -> String {
        match parse(&raw(list)) {
            Err(CliError::Usage(msg)) => msg,
            other => panic!("{list:?} should be a usage error, got {other:?}"),
        }
    }

    #[test]
    fn bytes_reach_the_program_untouched() {
        let r = run_raw(&[b"s\xff.py", b"\xff\xfe", b"caf\xe9", b"-o"]);
        assert_eq!(
            r.target,
            Target::Script {
                path: raw(&[b"s\xff.py"]).remove(0),
                args: raw(&[b"\xff\xfe", b"caf\xe9", b"-o"]),
            }
        );
        let r = run_raw(&[b"--", b"-\xff.py", b"\xfe"]);
        assert_eq!(
            r.target,
            Target::Script {
                path: raw(&[b"-\xff.py"]).remove(0),
                args: raw(&[b"\xfe"]),
            }
        );
        for list in [
            &[&b"-m"[..], b"mod\xff", b"\xfe"][..],
            &[b"-mmod\xff", b"\xfe"],
        ] {
            assert_eq!(
                run_raw(list).target,
                Target::Module {
                    name: raw(&[b"mod\xff"]).remove(0),
                    args: raw(&[b"\xfe"]),
                },
                "{list:?}"
            );
        }
    }

    #[test]
    fn file_names_in_options_keep_their_bytes() {
        let name = raw(&[b"r\xe9port.txt"]).remove(0);
        for list in [
            &[&b"-o"[..], b"r\xe9port.txt", b"s.py"][..],
            &[b"-or\xe9port.txt", b"s.py"],
            &[b"--outfile=r\xe9port.txt", b"s.py"],
            &[b"--out", b"r\xe9port.txt", b"s.py"],
            &[b"--html", b"-o", b"x", b"-o", b"r\xe9port.txt", b"s.py"],
        ] {
            let r = run_raw(list);
            assert_eq!(r.output.outfile.as_ref(), Some(&name), "{list:?}");
            assert_eq!(r.target, script("s.py", &[]), "{list:?}");
        }
        let Ok(Command::Load(load)) = parse(&raw(&[b"--load=p\xff.json", b"-o", b"\xfe"])) else {
            panic!("--load should parse");
        };
        assert_eq!(load.path, raw(&[b"p\xff.json"]).remove(0));
        assert_eq!(load.output.outfile, Some(raw(&[b"\xfe"]).remove(0)));
    }

    #[test]
    fn bytes_in_option_names_and_text_values_are_usage_errors() {
        assert_eq!(
            usage_err_raw(&[b"--ht\xffml", b"s.py"]),
            "no such option: --ht\u{fffd}ml"
        );
        assert_eq!(
            usage_err_raw(&[b"--\xff=x", b"s.py"]),
            "no such option: --\u{fffd}"
        );
        assert_eq!(
            usage_err_raw(&[b"-\xff", b"s.py"]),
            "no such option: -\u{fffd}"
        );
        // Letters before the bad byte are options, acted on in order.
        assert_eq!(usage_err_raw(&[b"-x\xff", b"s.py"]), "no such option: -x");
        assert_eq!(parse(&raw(&[b"-h\xff"])), Ok(Command::Help));
        assert_eq!(
            usage_err_raw(&[b"--interval", b"1\xff", b"s.py"]),
            "--interval must be a positive number of seconds, got '1\u{fffd}'"
        );
        assert!(usage_err_raw(&[b"-r", b"te\xffxt", b"s.py"])
            .starts_with("option -r/--renderer: invalid choice: 'te\u{fffd}xt'"));
    }

    // --- the option table and the help -------------------------------------

    #[test]
    fn option_table_is_consistent() {
        let mut keys: Vec<&str> = OPTIONS.iter().map(|s| s.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), OPTIONS.len(), "duplicate option names");
        for s in OPTIONS {
            assert!(s.short.chars().count() <= 1, "{}", s.key());
            assert!(!s.key().is_empty());
        }
        for key in [
            "help",
            "version",
            "m",
            "c",
            "from-path",
            "load",
            "setprofile",
            "interval",
            "html",
            "renderer",
            "outfile",
            "unicode",
            "no-unicode",
            "color",
            "no-color",
            "show-all",
            "show",
            "show-regex",
            "hide",
            "hide-regex",
            "timeline",
            "render-option",
        ] {
            spec(key);
        }
    }

    #[test]
    fn usage_line_text() {
        assert_eq!(
            usage_line(),
            "usage: pyinstrument [options] scriptfile [arg] ..."
        );
    }

    #[test]
    fn help_shape() {
        let help = help_text();
        assert!(help.starts_with(&format!("{}\n", usage_line())));
        assert!(help.contains("python -m pyinstrument"));
        assert!(help.contains("\nOptions:\n"));
        assert!(help.ends_with('\n'));
        for line in help.lines() {
            assert!(line.len() <= HELP_WIDTH, "line too long: {line:?}");
        }
        // The seed's lines, unchanged.
        for line in [
            "  -h, --help            show this help message and exit",
            "  --setprofile          run in setprofile mode, instead of signal mode",
            "  -o OUTFILE, --outfile=OUTFILE\n                        save report to <outfile>",
            "  --unicode             force unicode text output",
            "  --no-unicode          force ascii text output",
            "  --color               force ansi color text output",
            "  --no-color            force no color text output",
        ] {
            assert!(help.contains(line), "help lacks {line:?}:\n{help}");
        }
        assert!(help.contains("  --html                output HTML instead of text"));
    }

    #[test]
    fn help_lists_every_option() {
        let help = help_text();
        for s in OPTIONS {
            assert!(
                help.contains(&format!("\n  {}", s.display())),
                "help lacks {}",
                s.display()
            );
        }
        for name in [
            "-m MODULE",
            "--interval=SECONDS",
            "--show-all",
            "--load=FILE",
            "-r RENDERER, --renderer=RENDERER",
            "--version",
        ] {
            assert!(help.contains(name), "help lacks {name}");
        }
        for name in RENDERERS {
            assert!(help.contains(name), "help lacks renderer {name}");
        }
    }

    #[test]
    fn wrap_words() {
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
        assert_eq!(wrap("abcdef g", 3), vec!["abcdef", "g"]);
        assert!(wrap("", 10).is_empty());
    }
}
