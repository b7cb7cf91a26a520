//! A small Chrome DevTools protocol client for headless Chromium, over
//! `--remote-debugging-pipe` (the browser reads commands on fd 3 and writes
//! replies and events on fd 4, each a JSON message ended by a NUL byte), so
//! no websocket library is needed. Shared by the browser test
//! (tests/html_browser.rs) and the screenshot script
//! (examples/html_screenshots.rs), which include it with `#[path]`.
//!
//! Every network request the page makes is recorded (`Network.
//! requestWillBeSent`); `requests()` returns them so a test can fail on any
//! but the page's own file.

#![allow(dead_code)]
#![allow(unsafe_code)]

use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::io::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

pub struct Browser {
    child: Child,
    to_browser: File,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Events seen while waiting for replies, oldest first.
    events: Vec<Value>,
    requests: Vec<String>,
    profile_dir: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile_dir);
    }
}

fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(r, 0, "pipe() failed");
    (fds[0], fds[1])
}

impl Browser {
    /// Starts headless Chromium (`binary`) with a fresh profile directory,
    /// a window of `width` x `height`, and attaches to one new page.
    pub fn start(binary: &Path, width: u32, height: u32) -> Browser {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let profile_dir =
            std::env::temp_dir().join(format!("pyinstrument-cdp-{}-{}", std::process::id(), nanos));
        std::fs::create_dir_all(&profile_dir).unwrap();
        // Commands: we write `cmd_w`, the browser reads fd 3.
        let (cmd_r, cmd_w) = pipe();
        // Replies: the browser writes fd 4, we read `out_r`.
        let (out_r, out_w) = pipe();
        let mut command = Command::new(binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-features=Translate,OptimizationHints,MediaRouter",
                "--mute-audio",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--window-size={},{}", width, height))
            .arg(format!("--user-data-dir={}", profile_dir.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: between fork and exec, only async-signal-safe dup2/close
        // calls on descriptors this process owns.
        unsafe {
            command.pre_exec(move || {
                // The pipes may themselves be fds 3 and 4: move the ends the
                // browser keeps out of the way first.
                let read = libc::fcntl(cmd_r, libc::F_DUPFD, 10);
                let write = libc::fcntl(out_w, libc::F_DUPFD, 10);
                if read < 0 || write < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                for fd in [cmd_r, cmd_w, out_r, out_w] {
                    libc::close(fd);
                }
                if libc::dup2(read, 3) < 0 || libc::dup2(write, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(read);
                libc::close(write);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {}", binary.display(), e));
        // SAFETY: each descriptor came from pipe() above and is owned once.
        let to_browser = unsafe {
            libc::close(cmd_r);
            libc::close(out_w);
            File::from_raw_fd(cmd_w)
        };
        let from_browser = unsafe { File::from_raw_fd(out_r) };
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from_browser);
            loop {
                let mut buf = Vec::new();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            to_browser,
            messages,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            requests: Vec::new(),
            profile_dir,
        };
        let target = browser.call_browser("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = browser.call_browser(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.call("Page.enable", json!({}));
        browser.call("Runtime.enable", json!({}));
        browser.call("Network.enable", json!({}));
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        );
        browser
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            message["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.to_browser
            .write_all(&bytes)
            .expect("write to the browser");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(v) => {
                    if v["id"].as_u64() == Some(id) {
                        if let Some(error) = v.get("error") {
                            panic!("{} failed: {}", method, error);
                        }
                        return v["result"].clone();
                    }
                    self.record(v);
                }
                Err(RecvTimeoutError::Timeout) => panic!("no reply to {} within 60 s", method),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the browser exited during {}", method)
                }
            }
        }
    }

    fn record(&mut self, event: Value) {
        if event["method"] == "Network.requestWillBeSent" {
            let url = event["params"]["request"]["url"]
                .as_str()
                .unwrap_or("")
                .to_string();
            self.requests.push(url);
        }
        self.events.push(event);
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A command to the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// Waits for the page event `method` (one already seen counts), and
    /// forgets the events up to it.
    pub fn wait_event(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(at) = self.events.iter().position(|e| e["method"] == method) {
                let event = self.events[at].clone();
                self.events.drain(..=at);
                return event;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(v) => self.record(v),
                Err(_) => panic!("no {} event within 60 s", method),
            }
        }
    }

    /// Navigates to `url` and waits for its load event.
    pub fn open(&mut self, url: &str) {
        self.events.clear();
        self.call("Page.navigate", json!({"url": url}));
        self.wait_event("Page.loadEventFired");
    }

    pub fn reload(&mut self) {
        self.events.clear();
        self.call("Page.reload", json!({}));
        self.wait_event("Page.loadEventFired");
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns
    /// its value; a thrown exception fails the test with its message.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{} threw: {}", expression, e);
        }
        r["result"]["value"].clone()
    }

    /// A real key press (keyDown + keyUp) sent to the focused element.
    /// `modifiers`: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift.
    pub fn key(&mut self, key: &str, modifiers: u32) {
        let (code, vk, text) = match key {
            "ArrowDown" => ("ArrowDown", 40, ""),
            "ArrowUp" => ("ArrowUp", 38, ""),
            "ArrowLeft" => ("ArrowLeft", 37, ""),
            "ArrowRight" => ("ArrowRight", 39, ""),
            "Enter" => ("Enter", 13, "\r"),
            " " => ("Space", 32, " "),
            "/" => ("Slash", 191, "/"),
            "Escape" => ("Escape", 27, ""),
            other => panic!("no key code for {:?}", other),
        };
        let mut down = json!({"type": if text.is_empty() { "rawKeyDown" } else { "keyDown" },
            "key": key, "code": code, "windowsVirtualKeyCode": vk, "modifiers": modifiers});
        if !text.is_empty() {
            down["text"] = json!(text);
        }
        self.call("Input.dispatchKeyEvent", down);
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk, "modifiers": modifiers}),
        );
    }

    /// Types text into the focused element.
    pub fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
    }

    /// A real mouse event at page coordinates.
    pub fn mouse(&mut self, kind: &str, x: f64, y: f64) {
        let mut event = json!({"type": kind, "x": x, "y": y});
        if kind != "mouseMoved" {
            event["button"] = json!("left");
            event["clickCount"] = json!(1);
        }
        self.call("Input.dispatchMouseEvent", event);
    }

    pub fn wheel(&mut self, x: f64, y: f64, delta_y: f64) {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseWheel", "x": x, "y": y, "deltaX": 0, "deltaY": delta_y}),
        );
    }

    /// Clicks the centre of the first element matching `selector`.
    pub fn click(&mut self, selector: &str) {
        let at = self.eval(&format!(
            "(() => {{ const el = document.querySelector({}); if (!el) return null; \
             el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect(); \
             return [r.left + Math.min(r.width / 2, 40), r.top + r.height / 2]; }})()",
            serde_json::to_string(selector).unwrap()
        ));
        let (x, y) = match at.as_array() {
            Some(p) => (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()),
            None => panic!("nothing matches {} to click", selector),
        };
        self.mouse("mouseMoved", x, y);
        self.mouse("mousePressed", x, y);
        self.mouse("mouseReleased", x, y);
    }

    /// Every URL the page has requested so far.
    pub fn requests(&mut self) -> Vec<String> {
        // Collect events that arrived since the last command.
        while let Ok(v) = self.messages.try_recv() {
            self.record(v);
        }
        self.requests.clone()
    }

    /// A PNG screenshot of the page (the full scroll height when `full`).
    pub fn screenshot(&mut self) -> Vec<u8> {
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        base64_decode(r["data"].as_str().expect("screenshot data"))
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        })
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in text.bytes() {
        let Some(v) = value(c) else { continue };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
