//! How a report is rendered: `RenderOptions`, and the one parser of the
//! `KEY=VALUE` render options shared by `-p/--render-option`, `--load` and
//! the Python API (`Profiler.output_text(**options)`), so that an option
//! means the same thing wherever it is given.
//!
//! Names and meanings follow pyinstrument 5: `--hide`/`--show` take globs
//! matched against the whole file path (`fnmatch`), `--hide-regex` and
//! `--show-regex` regular expressions matched from the start of the path
//! (Python's `re.match`); a frame matched by `show` is never hidden, one
//! matched by `hide` always is, and the rest is hidden when it is library
//! code.

use regex::Regex;

pub use crate::session::TimeKind;

/// How each row's time is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// `0.512`, with as many decimals as the sampling interval has.
    #[default]
    Seconds,
    /// `48.7%` of the profile's total.
    PercentOfTotal,
}

/// What a flat profile (`flat=true`) lists per function.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FlatTime {
    /// Time in the function itself.
    #[default]
    SelfTime,
    /// Time in the function and everything it called.
    Total,
}

/// How to render. `unicode` and `color` are already decided by the caller
/// (terminal detection is not the renderers' business).
#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub unicode: bool,
    pub color: bool,
    /// Every frame: nothing removed, collapsed or pruned.
    pub show_all: bool,
    /// Calls in the order they happened, repeated calls kept apart.
    pub timeline: bool,
    /// Nodes under this share of the total are left out; `None`: the
    /// renderer's default (text 0.01, HTML 0.005).
    pub filter_threshold: Option<f64>,
    pub time: TimeFormat,
    /// A flat list of functions instead of a tree (text only).
    pub flat: bool,
    pub flat_time: FlatTime,
    /// Frames whose file matches are hidden in library groups.
    pub hide: Option<Regex>,
    /// Frames whose file matches are never hidden.
    pub show: Option<Regex>,
    /// The default processors, each of which can be switched off.
    pub remove_importlib: bool,
    pub remove_tracebackhide: bool,
    pub group_library_frames: bool,
    /// Which clock weighs the tree (`time_kind=cpu`, `--cpu`).
    pub time_kind: TimeKind,
    /// `--all-threads` profiles: one tree for every thread instead of a
    /// root per thread.
    pub merge_threads: bool,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions {
            unicode: false,
            color: false,
            show_all: false,
            timeline: false,
            filter_threshold: None,
            time: TimeFormat::Seconds,
            flat: false,
            flat_time: FlatTime::SelfTime,
            hide: None,
            show: None,
            remove_importlib: true,
            remove_tracebackhide: true,
            group_library_frames: true,
            time_kind: TimeKind::Wall,
            merge_threads: false,
        }
    }
}

/// The render options' names, as `-p` takes them (help and error messages).
pub const KEYS: &[&str] = &[
    "filter_threshold",
    "time",
    "flat",
    "flat_time",
    "show_all",
    "timeline",
    "unicode",
    "color",
    "hide",
    "hide_regex",
    "show",
    "show_regex",
    "remove_importlib",
    "remove_tracebackhide",
    "group_library_frames",
    "time_kind",
    "merge_threads",
];

impl RenderOptions {
    /// Sets one option from `-p KEY=VALUE` (or `-p KEY`, which means
    /// `KEY=true`). pyinstrument 5 spells the processors' options
    /// `processor_options.NAME`; that spelling is accepted too. Values may
    /// be quoted as JSON strings (`time="seconds"`), as pyinstrument reads
    /// them. The message names the option and what it accepts.
    pub fn set(&mut self, option: &str) -> Result<(), String> {
        let (key, value) = match option.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (option, None),
        };
        let key = key.strip_prefix("processor_options.").unwrap_or(key);
        let text = value.map(unquote);
        let text = text.as_deref();
        let flag = |name: &str| -> Result<bool, String> {
            match text {
                None | Some("true") | Some("True") | Some("1") => Ok(true),
                Some("false") | Some("False") | Some("0") => Ok(false),
                Some(other) => Err(format!(
                    "render option {name}: expected true or false, got '{other}'"
                )),
            }
        };
        let needs_value = |name: &str| -> Result<&str, String> {
            text.ok_or_else(|| format!("render option {name} needs a value ({name}=...)"))
        };
        match key {
            "filter_threshold" => {
                let v = needs_value(key)?;
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() && (0.0..=1.0).contains(&x) => {
                        self.filter_threshold = Some(x)
                    }
                    _ => {
                        return Err(format!(
                            "render option filter_threshold: expected a share of the total between 0 and 1, got '{v}'"
                        ))
                    }
                }
            }
            "time" => {
                self.time = match needs_value(key)? {
                    "seconds" => TimeFormat::Seconds,
                    "percent_of_total" => TimeFormat::PercentOfTotal,
                    other => {
                        return Err(format!(
                        "render option time: expected seconds or percent_of_total, got '{other}'"
                    ))
                    }
                }
            }
            "flat_time" => {
                self.flat_time = match needs_value(key)? {
                    "self" => FlatTime::SelfTime,
                    "total" => FlatTime::Total,
                    other => {
                        return Err(format!(
                            "render option flat_time: expected self or total, got '{other}'"
                        ))
                    }
                }
            }
            "merge_threads" => self.merge_threads = flag(key)?,
            "time_kind" => {
                self.time_kind = match needs_value(key)? {
                    "wall" => TimeKind::Wall,
                    "cpu" => TimeKind::Cpu,
                    other => {
                        return Err(format!(
                            "render option time_kind: expected wall or cpu, got '{other}'"
                        ))
                    }
                }
            }
            "flat" => self.flat = flag(key)?,
            "show_all" => self.show_all = flag(key)?,
            "timeline" => self.timeline = flag(key)?,
            "unicode" => self.unicode = flag(key)?,
            "color" => self.color = flag(key)?,
            "remove_importlib" => self.remove_importlib = flag(key)?,
            "remove_tracebackhide" => self.remove_tracebackhide = flag(key)?,
            "group_library_frames" => self.group_library_frames = flag(key)?,
            "hide" => self.hide = Some(glob_regex(needs_value(key)?)?),
            "show" => self.show = Some(glob_regex(needs_value(key)?)?),
            "hide_regex" => self.hide = Some(match_regex(needs_value(key)?)?),
            "show_regex" => self.show = Some(match_regex(needs_value(key)?)?),
            _ => {
                return Err(format!(
                    "unknown render option '{key}' (choose from {})",
                    KEYS.join(", ")
                ))
            }
        }
        Ok(())
    }

    /// Checks combinations no single option can: a flat timeline means
    /// nothing (pyinstrument refuses it too).
    pub fn check(&self) -> Result<(), String> {
        if self.flat && self.timeline {
            return Err("render options flat and timeline cannot be used together".to_string());
        }
        if self.timeline && self.time_kind == TimeKind::Cpu {
            // The order of samples is logged with their wall time only.
            return Err(
                "render options timeline and time_kind=cpu cannot be used together".to_string(),
            );
        }
        Ok(())
    }
}

/// `"text"` -> `text`: pyinstrument parses `-p` values as JSON first.
fn unquote(value: &str) -> String {
    if value.len() >= 2 && value.starts_with('"') && value.ends_with('"') {
        if let Ok(serde_json::Value::String(s)) = serde_json::from_str(value) {
            return s;
        }
    }
    value.to_string()
}

/// A regular expression matched like Python's `re.match`: from the start
/// of the file path, not necessarily to its end. (Rust's regex syntax: no
/// look-around or back-references.)
pub fn match_regex(pattern: &str) -> Result<Regex, String> {
    Regex::new(&format!("^(?:{pattern})")).map_err(|e| {
        // The crate's message draws the pattern over several lines; its
        // last line says what is wrong.
        let message = e.to_string();
        let reason = message
            .lines()
            .last()
            .unwrap_or("")
            .trim_start_matches("error: ");
        format!("invalid regular expression '{pattern}': {reason}")
    })
}

/// A glob matched like Python's `fnmatch.fnmatchcase` against the whole
/// file path: `*` is any run of characters (`/` included), `?` any one,
/// `[abc]`/`[a-z]` a set, `[!abc]` its complement; anything else is itself.
pub fn glob_regex(glob: &str) -> Result<Regex, String> {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::from("^(?s:");
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' => {
                // Consecutive stars are one star.
                while i + 1 < chars.len() && chars[i + 1] == '*' {
                    i += 1;
                }
                out.push_str(".*");
            }
            '?' => out.push('.'),
            '[' => {
                // Find the closing bracket; a `]` right after `[` or `[!` is
                // a member. Without one, `[` is itself.
                let mut j = i + 1;
                if j < chars.len() && chars[j] == '!' {
                    j += 1;
                }
                if j < chars.len() && chars[j] == ']' {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    j += 1;
                }
                if j >= chars.len() {
                    out.push_str("\\[");
                } else {
                    let mut set = String::from("[");
                    let mut k = i + 1;
                    if chars[k] == '!' {
                        set.push('^');
                        k += 1;
                    }
                    for &c in &chars[k..j] {
                        // Only `-` keeps a meaning inside the set.
                        if c == '-' {
                            set.push('-');
                        } else {
                            set.push_str(&regex::escape(&c.to_string()));
                        }
                    }
                    set.push(']');
                    out.push_str(&set);
                    i = j;
                }
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out.push_str(")$");
    Regex::new(&out).map_err(|e| format!("invalid glob pattern '{glob}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(options: &[&str]) -> Result<RenderOptions, String> {
        let mut o = RenderOptions::default();
        for option in options {
            o.set(option)?;
        }
        o.check()?;
        Ok(o)
    }

    #[test]
    fn every_documented_key_is_accepted() {
        let o = set(&[
            "filter_threshold=0",
            "time=percent_of_total",
            "flat",
            "flat_time=total",
            "show_all=true",
            "unicode=false",
            "color=1",
            "hide=*/django/*",
            "show_regex=.*/app/",
            "remove_importlib=false",
            "remove_tracebackhide=False",
            "group_library_frames=0",
        ])
        .unwrap();
        assert_eq!(o.filter_threshold, Some(0.0));
        assert_eq!(o.time, TimeFormat::PercentOfTotal);
        assert!(o.flat && o.show_all && !o.unicode && o.color);
        assert_eq!(o.flat_time, FlatTime::Total);
        assert!(o.hide.unwrap().is_match("/venv/django/db.py"));
        assert!(o.show.unwrap().is_match("/home/app/x.py"));
        assert!(!o.remove_importlib && !o.remove_tracebackhide && !o.group_library_frames);
        for key in KEYS {
            let mut o = RenderOptions::default();
            let value = match *key {
                "filter_threshold" => "0.5",
                "time" => "seconds",
                "flat_time" => "self",
                "time_kind" => "cpu",
                "hide" | "show" | "hide_regex" | "show_regex" => "x",
                _ => "true",
            };
            o.set(&format!("{key}={value}")).unwrap();
        }
    }

    #[test]
    fn time_kind_is_wall_or_cpu_and_not_a_timeline() {
        assert_eq!(RenderOptions::default().time_kind, TimeKind::Wall);
        assert_eq!(set(&["time_kind=cpu"]).unwrap().time_kind, TimeKind::Cpu);
        assert_eq!(
            set(&["time_kind=cpu", "time_kind=wall"]).unwrap().time_kind,
            TimeKind::Wall
        );
        assert!(set(&["time_kind=process"])
            .unwrap_err()
            .contains("expected wall or cpu"));
        assert!(set(&["time_kind=cpu", "timeline"])
            .unwrap_err()
            .contains("timeline and time_kind=cpu"));
    }

    #[test]
    fn pyinstrument_spellings() {
        let o = set(&[
            "processor_options.filter_threshold=0.2",
            "processor_options.hide_regex=.*/lib/",
            "time=\"seconds\"",
            "timeline",
        ])
        .unwrap();
        assert_eq!(o.filter_threshold, Some(0.2));
        assert!(o.hide.unwrap().is_match("/usr/lib/x.py"));
        assert!(o.timeline);
    }

    #[test]
    fn bad_values_say_what_is_wanted() {
        let err = |list: &[&str]| set(list).unwrap_err();
        assert_eq!(
            err(&["filter_threshold=2"]),
            "render option filter_threshold: expected a share of the total between 0 and 1, got '2'"
        );
        assert!(err(&["filter_threshold"]).contains("needs a value"));
        assert_eq!(
            err(&["time=minutes"]),
            "render option time: expected seconds or percent_of_total, got 'minutes'"
        );
        assert!(err(&["flat_time=both"]).contains("expected self or total"));
        assert!(err(&["flat=maybe"]).contains("expected true or false"));
        assert!(err(&["colour=1"]).starts_with("unknown render option 'colour' (choose from"));
        assert_eq!(
            err(&["hide_regex=("]),
            "invalid regular expression '(': unclosed group"
        );
        assert_eq!(
            err(&["flat", "timeline"]),
            "render options flat and timeline cannot be used together"
        );
    }

    #[test]
    fn regexes_match_from_the_start_like_re_match() {
        let r = match_regex("/usr/").unwrap();
        assert!(r.is_match("/usr/lib/x.py"));
        assert!(!r.is_match("/home/usr/x.py"));
        let either = match_regex("a|/b").unwrap();
        assert!(either.is_match("/b/x.py") && !either.is_match("x/b/y.py"));
    }

    #[test]
    fn globs_match_the_whole_path_like_fnmatch() {
        let g = |glob: &str, path: &str| glob_regex(glob).unwrap().is_match(path);
        assert!(g("*/django/*", "/venv/lib/django/template/base.py"));
        assert!(!g("*/django/*", "/venv/lib/djangox/base.py"));
        assert!(g("*.py", "/a/b.py") && !g("*.py", "/a/b.pyc"));
        assert!(g("/a/?.py", "/a/b.py") && !g("/a/?.py", "/a/bc.py"));
        assert!(g("*[0-9].py", "/a/v2.py") && !g("*[0-9].py", "/a/vx.py"));
        assert!(g("*[!0-9].py", "/a/vx.py") && !g("*[!0-9].py", "/a/v2.py"));
        assert!(g("*[]].py", "/a/].py"));
        // Regex metacharacters are themselves; an unclosed `[` too.
        assert!(g("/a+b/(c)/*", "/a+b/(c)/x.py") && !g("/a+b/*", "/aab/x"));
        assert!(g("/x[y", "/x[y"));
        assert!(g("*", "any/thing\nwith newline"));
    }
}
