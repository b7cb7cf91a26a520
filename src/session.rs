//! A finished profile: the aggregated samples plus what is needed to show
//! them (timing, the program's command line, where its code came from).
//! Saved and loaded as our own versioned JSON (see docs/json-format.md).

use crate::sample::{FrameId, StackRecord};
use serde::{Deserialize, Serialize};

pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub format_version: u32,
    /// Seconds since the Unix epoch when profiling started.
    pub start_time: f64,
    /// Wall-clock seconds profiled.
    pub duration: f64,
    /// CPU seconds the process used while profiled.
    pub cpu_time: f64,
    pub sample_count: u64,
    /// Requested sampling interval, seconds.
    pub interval: f64,
    /// "signal" or "setprofile".
    pub mode: String,
    /// The profiled program's command line (`sys.argv` as it started).
    pub command_line: Vec<String>,
    pub python_version: String,
    /// `sys.path` at the start of profiling; used to shorten file names.
    pub sys_path: Vec<String>,
    /// Directories of the standard library and site-packages: code under
    /// them is not the application's own.
    pub library_dirs: Vec<String>,
    /// Things the user should know about this profile (a replaced profile
    /// function, a fallback from signal mode...), shown in the header.
    pub notes: Vec<String>,
    /// Distinct frames; stacks refer to them by index.
    pub frames: Vec<FrameId>,
    pub stacks: Vec<StackRecord>,
}

/// Only the version, read first so a file from another version gets a clear
/// message instead of an error about some field that changed.
#[derive(Deserialize)]
struct VersionProbe {
    format_version: Option<serde_json::Value>,
}

impl Session {
    /// The session as our JSON format (docs/json-format.md), one line.
    pub fn to_json(&self) -> String {
        let mut out = serde_json::to_string(self).expect("a session serialises to JSON");
        out.push('\n');
        out
    }

    /// Loads a session saved by `to_json`. Rejects malformed JSON, other
    /// format versions, and stacks that refer to frames that do not exist,
    /// with a message naming the problem.
    pub fn from_json(text: &str) -> crate::error::Result<Session> {
        use crate::error::Error;
        let probe: VersionProbe = serde_json::from_str(text).map_err(|e| {
            Error::Load(format!("not a pyinstrument profile (invalid JSON: {})", e))
        })?;
        match probe.format_version {
            None => {
                return Err(Error::Load(
                    "not a pyinstrument profile: no \"format_version\" field".to_string(),
                ))
            }
            Some(v) if v.as_u64() != Some(FORMAT_VERSION as u64) => {
                return Err(Error::Load(format!(
                    "unsupported profile format version {} (this pyinstrument reads version {})",
                    v, FORMAT_VERSION
                )))
            }
            Some(_) => {}
        }
        let session: Session = serde_json::from_str(text)
            .map_err(|e| Error::Load(format!("invalid pyinstrument profile: {}", e)))?;
        let nframes = session.frames.len();
        for (i, stack) in session.stacks.iter().enumerate() {
            if let Some(&f) = stack.frames.iter().find(|&&f| f as usize >= nframes) {
                return Err(Error::Load(format!(
                    "invalid pyinstrument profile: stack {} refers to frame {} but there are only {} frames",
                    i, f, nframes
                )));
            }
            if !(stack.time.is_finite() && stack.time >= 0.0) {
                return Err(Error::Load(format!(
                    "invalid pyinstrument profile: stack {} has time {}",
                    i, stack.time
                )));
            }
        }
        Ok(session)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::Error;

    /// A valid session with no samples, for tests to start from.
    pub(crate) const MINIMAL: &str = r#"{"format_version":1,"start_time":0.0,"duration":0.0,
        "cpu_time":0.0,"sample_count":0,"interval":0.001,"mode":"signal",
        "command_line":["demo.py"],"python_version":"3.11.0","sys_path":[],
        "library_dirs":[],"notes":[],"frames":[],"stacks":[]}"#;

    #[test]
    fn round_trip() {
        let mut s = Session::from_json(MINIMAL).unwrap();
        s.frames
            .push(FrameId::new("f\u{2028}</script>", "a&\"<>.py", 3));
        s.stacks.push(StackRecord {
            frames: vec![0],
            time: 0.1 + 0.2,
            samples: 3,
        });
        let text = s.to_json();
        assert_eq!(Session::from_json(&text).unwrap(), s);
    }

    #[test]
    fn documented_example_loads() {
        let doc = include_str!("../docs/json-format.md");
        let start = doc.find("```json\n").expect("an example") + "```json\n".len();
        let end = start + doc[start..].find("```").unwrap();
        let s = Session::from_json(&doc[start..end]).unwrap();
        assert_eq!(s.stacks.len(), 2);
        assert_eq!(s.frames[2].function, "sleep");
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        let v2 = MINIMAL.replace("\"format_version\":1", "\"format_version\":2");
        match Session::from_json(&v2) {
            Err(Error::Load(m)) => {
                assert!(m.contains("unsupported profile format version 2"), "{}", m)
            }
            other => panic!("{:?}", other),
        }
        let none = MINIMAL.replace("\"format_version\":1,", "");
        assert!(
            matches!(Session::from_json(&none), Err(Error::Load(m)) if m.contains("no \"format_version\""))
        );
        assert!(
            matches!(Session::from_json("{"), Err(Error::Load(m)) if m.contains("invalid JSON"))
        );
        assert!(matches!(Session::from_json("[1]"), Err(Error::Load(_))));
        let missing = MINIMAL.replace("\"mode\":\"signal\",", "");
        assert!(matches!(Session::from_json(&missing), Err(Error::Load(m)) if m.contains("mode")));
        let bad_frame = MINIMAL.replace(
            "\"stacks\":[]",
            "\"stacks\":[{\"frames\":[0],\"time\":1,\"samples\":1}]",
        );
        assert!(
            matches!(Session::from_json(&bad_frame), Err(Error::Load(m)) if m.contains("refers to frame 0"))
        );
    }
}
