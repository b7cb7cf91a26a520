//! The integration tests' one harness: where the binary and the python it
//! was built for are, temporary directories that clean up after
//! themselves, running a command in a predictable environment with a
//! timeout (killing it if the test gives up on it), and, in `profile`,
//! running a fixture under the profiler in either mode and reading its
//! JSON report. A test file takes it with
//! `#[path = "support/harness/mod.rs"] mod harness; use harness::*;`.
#![allow(dead_code)]

mod profile;
#[path = "../skip.rs"]
mod skip;
#[allow(unused_imports)] // not every test binary profiles
pub use profile::*;
#[allow(unused_imports)] // not every test binary skips
pub use skip::{skip_part, skip_test};

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Generous: a whole case normally takes well under a second; the timeout
/// only exists so that a hung run fails the test instead of the suite.
pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The pyinstrument binary under test.
pub fn pyinstrument() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pyinstrument"))
}

/// The python the binary was built for (its `sys.executable`).
pub fn python() -> PathBuf {
    PathBuf::from(env!("PYINSTRUMENT_BUILD_PYTHON"))
}

/// `(major, minor)` of the python the binary was built for.
pub fn python_version() -> (u32, u32) {
    let text = env!("PYINSTRUMENT_BUILD_PY_VERSION");
    let mut parts = text.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The crate's `tests/scripts` directory (fixtures; never run in place, see
/// [`copy_scripts`]).
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("scripts")
}

/// The crate's `tests/sampler_scripts` directory: the sampler's fixtures.
pub fn sampler_scripts_dir() -> PathBuf {
    crate_dir().join("tests").join("sampler_scripts")
}

/// Whether frames carry qualified names (`Cls.method`): CPython 3.11+.
pub fn has_qualnames() -> bool {
    python_version() >= (3, 11)
}

/// Python 2.7: no asyncio, no qualified names, and signal mode samples
/// from a thread (no SIGPROF handler).
pub fn is_python2() -> bool {
    python_version().0 == 2
}

/// The crate's root directory.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory, removed with everything in it when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let label: String = label
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = std::env::temp_dir().join(format!(
            "pyinstrument-test-{}-{}-{}-{}",
            label,
            std::process::id(),
            n,
            nanos
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        // Canonical, so that paths python prints (os.getcwd(), abspath)
        // match the ones we build.
        let path = path.canonicalize().expect("canonicalize temp dir");
        TempDir { path }
    }

    /// A fresh directory holding a copy of the sampler fixtures
    /// (`tests/sampler_scripts`), run in place.
    pub fn with_sampler_scripts(label: &str) -> TempDir {
        let dir = TempDir::new(label);
        for entry in std::fs::read_dir(sampler_scripts_dir()).expect("read fixtures") {
            let entry = entry.expect("fixture entry");
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                std::fs::copy(entry.path(), dir.join(entry.file_name())).expect("copy fixture");
            }
        }
        dir
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join<P: AsRef<Path>>(&self, p: P) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Copies a directory tree (files and directories only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name)).expect("copy file");
        }
    }
}

/// A private copy of `tests/scripts` (so runs may write files, and python
/// never writes `__pycache__` into the source tree): `<dir>/scripts`.
pub fn copy_scripts(dir: &TempDir) -> PathBuf {
    let target = dir.join("scripts");
    copy_tree(&scripts_dir(), &target);
    target
}

/// The environment every run starts from: the test's own, minus what would
/// make the runs depend on the machine (an activated virtualenv, python
/// variables that change buffering or paths), plus a UTF-8 locale.
pub fn base_env() -> Vec<(OsString, OsString)> {
    let drop = [
        "VIRTUAL_ENV",
        "PYTHONHOME",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONUNBUFFERED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONWARNINGS",
        "PYTHONSAFEPATH",
        "PYTHONINSPECT",
        "PYTHONBREAKPOINT",
        "PYTHONSTARTUP",
        "LC_ALL",
        "LC_CTYPE",
        "LANG",
        "PYTHONDONTWRITEBYTECODE",
        "NO_COLOR",
    ];
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !drop.iter().any(|d| k == d))
        .collect();
    env.push(("LANG".into(), "C.UTF-8".into()));
    env.push(("PYTHONDONTWRITEBYTECODE".into(), "1".into()));
    // No virtualenv's python3 first on PATH: put the build python's folder
    // first (its parent has no pyvenv.cfg).
    let bin = python().parent().expect("python's folder").to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    env.retain(|(k, _)| k != "PATH");
    env.push((
        "PATH".into(),
        std::env::join_paths(dirs).expect("join PATH"),
    ));
    env
}

/// Sets `key` (or removes it, for `None`) in an environment list.
pub fn set_env(env: &mut Vec<(OsString, OsString)>, key: &str, value: Option<&str>) {
    env.retain(|(k, _)| k != key);
    if let Some(value) = value {
        env.push((key.into(), value.into()));
    }
}

/// A command to run: program, arguments, directory, environment, stdin.
#[derive(Clone, Debug)]
pub struct Run {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    pub env: Vec<(OsString, OsString)>,
    pub stdin: Vec<u8>,
    /// stderr goes to the same pipe as stdout (like `2>&1`).
    pub merge_stderr: bool,
    /// How long the command may take before it is killed and the test fails.
    pub timeout: Duration,
}

impl Run {
    pub fn new<P: AsRef<Path>>(program: P, cwd: &Path) -> Run {
        Run {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            cwd: cwd.to_path_buf(),
            env: base_env(),
            stdin: Vec::new(),
            merge_stderr: false,
            timeout: TIMEOUT,
        }
    }

    pub fn timeout(mut self, timeout: Duration) -> Run {
        self.timeout = timeout;
        self
    }

    pub fn arg<S: Into<OsString>>(mut self, arg: S) -> Run {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: &str, value: Option<&str>) -> Run {
        set_env(&mut self.env, key, value);
        self
    }

    pub fn command_line(&self) -> String {
        let mut parts = vec![self.program.to_string_lossy().into_owned()];
        parts.extend(self.args.iter().map(|a| format!("{:?}", a)));
        format!("(cd {} && {})", self.cwd.display(), parts.join(" "))
    }

    /// Starts the command with piped stdin/stdout/stderr.
    pub fn spawn(&self) -> Running {
        let mut command = if self.merge_stderr {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg("exec \"$@\" 2>&1")
                .arg("sh")
                .arg(&self.program)
                .args(&self.args);
            c
        } else {
            let mut c = Command::new(&self.program);
            c.args(&self.args);
            c
        };
        command
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.command_line()));
        let stdin = child.stdin.take().expect("stdin");
        let input = self.stdin.clone();
        // Fed from a thread: a program that does not read its stdin must not
        // block us, and one that reads it must get EOF.
        let feeder = std::thread::spawn(move || {
            let mut stdin = stdin;
            let _ = stdin.write_all(&input);
        });
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let (line_tx, line_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let out_reader = std::thread::spawn(move || {
            let mut stdout = stdout;
            let mut all = Vec::new();
            let mut buf = [0u8; 65536];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        all.extend_from_slice(&buf[..n]);
                        let _ = line_tx.send(buf[..n].to_vec());
                    }
                }
            }
            all
        });
        let err_reader = std::thread::spawn(move || {
            let mut stderr = stderr;
            let mut all = Vec::new();
            let _ = stderr.read_to_end(&mut all);
            all
        });
        Running {
            child: Some(child),
            description: self.command_line(),
            started: Instant::now(),
            timeout: self.timeout,
            feeder: Some(feeder),
            out_reader: Some(out_reader),
            err_reader: Some(err_reader),
            chunks: line_rx,
            seen: Vec::new(),
        }
    }

    /// Runs to completion (or panics after its timeout).
    pub fn output(&self) -> Output {
        self.spawn().wait()
    }
}

/// What a finished command produced.
#[derive(Clone, Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The command line, with its directory.
    pub description: String,
    pub elapsed: Duration,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// The exit code, or 128 + signal like a shell reports it.
    pub fn code(&self) -> i32 {
        status_code(&self.status)
    }

    pub fn describe(&self) -> String {
        format!(
            "{}\n  exit: {} after {:.2?}\n  stdout ({} bytes): {}\n  stderr ({} bytes): {}",
            self.description,
            describe_status(&self.status),
            self.elapsed,
            self.stdout.len(),
            excerpt(&self.stdout),
            self.stderr.len(),
            excerpt(&self.stderr)
        )
    }
}

pub fn status_code(status: &ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        _ => -1,
    }
}

pub fn describe_status(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown".to_string(),
    }
}

/// Text of some bytes for a failure message: the start and the end.
pub fn excerpt(bytes: &[u8]) -> String {
    const EDGE: usize = 1500;
    if bytes.len() <= 2 * EDGE {
        format!("{:?}", String::from_utf8_lossy(bytes))
    } else {
        format!(
            "{:?} ... {:?}",
            String::from_utf8_lossy(&bytes[..EDGE]),
            String::from_utf8_lossy(&bytes[bytes.len() - EDGE..])
        )
    }
}

/// A started command; killed (and reaped) if dropped before it finished.
pub struct Running {
    child: Option<Child>,
    description: String,
    started: Instant,
    timeout: Duration,
    feeder: Option<std::thread::JoinHandle<()>>,
    out_reader: Option<std::thread::JoinHandle<Vec<u8>>>,
    err_reader: Option<std::thread::JoinHandle<Vec<u8>>>,
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: Vec<u8>,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).unwrap_or(0)
    }

    /// Waits until the program's stdout contains `needle` (polling what the
    /// reader thread received, no fixed sleeps). Panics after the timeout or
    /// if stdout closes first.
    pub fn wait_for_stdout(&mut self, needle: &str) {
        let deadline = self.started + self.timeout;
        loop {
            if contains(&self.seen, needle.as_bytes()) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: no {:?} on stdout within {:?}; got {}",
                    self.description,
                    needle,
                    self.timeout,
                    excerpt(&self.seen)
                );
            }
            match self
                .chunks
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                Ok(chunk) => self.seen.extend_from_slice(&chunk),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "{}: stdout closed before {:?} appeared; got {}",
                    self.description,
                    needle,
                    excerpt(&self.seen)
                ),
            }
        }
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.pid();
        assert!(pid > 0);
        // SAFETY: plain kill(2) on our own child, which we have not reaped.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the command to finish; panics (after killing it) when it
    /// takes longer than its timeout since it started.
    pub fn wait(mut self) -> Output {
        let mut child = self.child.take().expect("child");
        let deadline = self.started + self.timeout;
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("{}: wait failed: {e}", self.description),
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{}: still running after {:?}; killed",
                    self.description, self.timeout
                );
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        };
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
        // A grandchild that inherited the pipes could keep them open; the
        // programs here do not start any that outlive them.
        let stdout = self
            .out_reader
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let stderr = self
            .err_reader
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        Output {
            status,
            stdout,
            stderr,
            description: self.description.clone(),
            elapsed: self.started.elapsed(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Names of the entries of a directory, sorted.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
