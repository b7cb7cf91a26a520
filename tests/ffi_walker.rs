#![cfg(feature = "python3")] // the 2.7 walker is exercised through the samplers instead
//! Runs the signal-safe frame walker (`ffi::frames`) inside a real embedded
//! interpreter: a C-level profile function calls `walk_thread` whenever a
//! function named `target` starts, and the recorded stacks (innermost
//! first) must match the Python code exactly: names (qualified names on
//! 3.11+), files, first lines, string kinds, outermost-kept truncation and
//! deep recursion. Also checks `raw_str` on strings of every kind (this is
//! where the `PyASCIIObject.state` bitfields are proven at run time) and
//! `copy_raw`/`decode` on their own.

use pyinstrument::ffi::frames::{copy_raw, decode, raw_str, walk_thread, RawFrame, RawStr};
use pyinstrument::ffi::layout::LAYOUT;
use python3_sys as py;
use std::ffi::{c_int, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

const PY_VERSION: &str = env!("PYINSTRUMENT_BUILD_PY_VERSION");

fn has_qualname() -> bool {
    let minor: u32 = PY_VERSION.split('.').nth(1).unwrap().parse().unwrap();
    minor >= 11
}

/// The name the walker reports: the qualified name on 3.11+.
fn name<'a>(qualified: &'a str, plain: &'a str) -> &'a str {
    if has_qualname() {
        qualified
    } else {
        plain
    }
}

const MODULE: &str = r#"import sys
sys.setrecursionlimit(5000)

def target():
    return 1

def outer():
    x = 1
    def middle():
        def inner():
            target()
            return x
        return inner()
    return middle()

class Cls:
    def method(self):
        target()

def gen():
    target()
    yield 1

def use_gen():
    return next(gen())

def call_lambda():
    f = (lambda:
         target())
    return f()

def ünïcode_函数():
    target()

def café():
    target()

def 𠀀():
    target()

def rec(n):
    if n == 0:
        target()
    else:
        rec(n - 1)
"#;

/// A 300-character file name for every code object of the test.
fn file_name() -> String {
    let stem = "/tmp/a_rather_long_directory_name_for_testing";
    let mut name = String::new();
    while name.len() < 297 {
        name.push_str(stem);
    }
    name.truncate(297);
    name.push_str(".py");
    assert_eq!(name.chars().count(), 300);
    name
}

/// 1-based number of the first line of MODULE containing `needle`.
fn line_of(needle: &str) -> i32 {
    MODULE
        .lines()
        .position(|l| l.contains(needle))
        .expect(needle) as i32
        + 1
}

#[derive(Clone, Debug, PartialEq)]
struct Frame {
    name: String,
    name_kind: u8,
    file: String,
    first_line: i32,
}

struct Recording {
    full: Vec<Frame>,
    small: Vec<Frame>,
    full_count: usize,
}

static RECORDINGS: Mutex<Vec<Recording>> = Mutex::new(Vec::new());
/// Size of the small `out` buffer the profile function also walks with.
static SMALL: AtomicUsize = AtomicUsize::new(3);
static PYTHON: Mutex<()> = Mutex::new(());
static INIT: Once = Once::new();

fn read(s: RawStr) -> String {
    let mut buf = [0u8; 4096];
    let n = unsafe { copy_raw(s, &mut buf) };
    assert_eq!(
        n,
        s.len * s.kind as usize,
        "string longer than the test buffer"
    );
    decode(s.kind, &buf[..n])
}

fn to_frames(raw: &[RawFrame]) -> Vec<Frame> {
    raw.iter()
        .map(|f| {
            assert!(!f.code.is_null());
            let name = unsafe { raw_str(&LAYOUT, f.name) };
            Frame {
                name: read(name),
                name_kind: name.kind,
                file: read(unsafe { raw_str(&LAYOUT, f.file) }),
                first_line: f.first_line,
            }
        })
        .collect()
}

const PY_TRACE_CALL: c_int = 0;
type TraceFunc =
    unsafe extern "C" fn(*mut py::PyObject, *mut c_void, c_int, *mut py::PyObject) -> c_int;
extern "C" {
    fn PyEval_SetProfile(func: Option<TraceFunc>, obj: *mut py::PyObject);
}

unsafe extern "C" fn profile(
    _obj: *mut py::PyObject,
    _frame: *mut c_void,
    what: c_int,
    _arg: *mut py::PyObject,
) -> c_int {
    if what != PY_TRACE_CALL {
        return 0;
    }
    let tstate = py::PyThreadState_Get() as *const c_void;
    let mut all = vec![RawFrame::EMPTY; 8192];
    let mut small = vec![RawFrame::EMPTY; SMALL.load(Ordering::SeqCst)];
    let mut bytes = [0u8; 1024];
    // The walk and the copies must not allocate (they run in signal
    // handlers): count allocations on this thread while they run.
    let ((n, m), walk_allocations) = count_allocations(|| {
        (
            walk_thread(&LAYOUT, tstate, &mut all),
            walk_thread(&LAYOUT, tstate, &mut small),
        )
    });
    if n == 0 || read(raw_str(&LAYOUT, all[0].name)) != "target" {
        return 0;
    }
    let ((), copy_allocations) = count_allocations(|| {
        for f in &all[..n] {
            copy_raw(raw_str(&LAYOUT, f.name), &mut bytes);
            copy_raw(raw_str(&LAYOUT, f.file), &mut bytes);
        }
    });
    assert_eq!(
        (walk_allocations, copy_allocations),
        (0, 0),
        "walk_thread/raw_str/copy_raw allocated"
    );
    assert!(n < all.len());
    RECORDINGS.lock().unwrap().push(Recording {
        full: to_frames(&all[..n]),
        small: to_frames(&small[..m]),
        full_count: n,
    });
    0
}

/// Counts allocations made by the current thread while `COUNTING` is set.
struct CountingAllocator;

thread_local! {
    static COUNTING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNTING.with(|c| c.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        std::alloc::System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        std::alloc::System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result with the number of allocations the
/// current thread made meanwhile.
fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    let result = f();
    COUNTING.with(|c| c.set(false));
    // Other threads only count while their own flag is set, and Python
    // calls are serialised by PYTHON, so the difference is ours.
    (result, ALLOCATIONS.load(Ordering::SeqCst) - before)
}

/// Runs `f` with the GIL held, on an interpreter initialised once.
fn with_python<T>(f: impl FnOnce() -> T) -> T {
    let _serial = PYTHON.lock().unwrap_or_else(|e| e.into_inner());
    INIT.call_once(|| unsafe {
        py::Py_InitializeEx(0);
        assert!(py::Py_IsInitialized() != 0);
        if PY_VERSION == "3.6" {
            py::PyEval_InitThreads();
        }
        py::PyEval_SaveThread();
    });
    unsafe {
        let gil = py::PyGILState_Ensure();
        let result = f();
        py::PyGILState_Release(gil);
        result
    }
}

/// Compiles `source` under the long file name and runs it in `globals`.
unsafe fn run(source: &str, globals: *mut py::PyObject) {
    let src = CString::new(source).unwrap();
    let file = CString::new(file_name()).unwrap();
    let code = py::Py_CompileString(src.as_ptr(), file.as_ptr(), py::Py_file_input);
    if code.is_null() {
        py::PyErr_Print();
        panic!("compile failed");
    }
    let result = py::PyEval_EvalCode(code, globals, globals);
    if result.is_null() {
        py::PyErr_Print();
        panic!("python code failed: {source}");
    }
    py::Py_DecRef(result);
    py::Py_DecRef(code);
}

/// Defines MODULE's functions, then runs `call` (a one-line module) with the
/// profile function installed; returns what it recorded.
fn record(call: &str, small: usize) -> Vec<Recording> {
    with_python(|| unsafe {
        let globals = py::PyDict_New();
        let builtins = CString::new("__builtins__").unwrap();
        py::PyDict_SetItemString(globals, builtins.as_ptr(), py::PyEval_GetBuiltins());
        run(MODULE, globals);
        RECORDINGS.lock().unwrap().clear();
        SMALL.store(small, Ordering::SeqCst);
        PyEval_SetProfile(Some(profile), std::ptr::null_mut());
        run(call, globals);
        PyEval_SetProfile(None, std::ptr::null_mut());
        py::Py_DecRef(globals);
        std::mem::take(&mut *RECORDINGS.lock().unwrap())
    })
}

fn frame(name: &str, first_line: i32) -> Frame {
    Frame {
        name: name.to_string(),
        name_kind: name_kind(name),
        file: file_name(),
        first_line,
    }
}

fn name_kind(s: &str) -> u8 {
    match s.chars().map(|c| c as u32).max().unwrap_or(0) {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        _ => 4,
    }
}

fn target() -> Frame {
    frame("target", line_of("def target"))
}

fn module() -> Frame {
    frame("<module>", 1)
}

/// Runs `call`, expects exactly one hit of `target` with stack `expected`
/// (innermost first), and checks the small walk kept the outermost frames.
fn check(call: &str, expected: Vec<Frame>) {
    let small = 3;
    let recordings = record(call, small);
    assert_eq!(
        recordings.len(),
        1,
        "target hit {} times for {call}",
        recordings.len()
    );
    let rec = &recordings[0];
    assert_eq!(rec.full, expected, "stack for {call}");
    let keep = expected.len().min(small);
    assert_eq!(
        rec.small,
        expected[expected.len() - keep..],
        "small walk for {call}"
    );
}

#[test]
fn nested_functions_with_closures() {
    check(
        "outer()",
        vec![
            target(),
            frame(
                name("outer.<locals>.middle.<locals>.inner", "inner"),
                line_of("def inner"),
            ),
            frame(
                name("outer.<locals>.middle", "middle"),
                line_of("def middle"),
            ),
            frame("outer", line_of("def outer")),
            module(),
        ],
    );
}

#[test]
fn method() {
    check(
        "Cls().method()",
        vec![
            target(),
            frame(name("Cls.method", "method"), line_of("def method")),
            module(),
        ],
    );
}

#[test]
fn generator() {
    check(
        "use_gen()",
        vec![
            target(),
            frame("gen", line_of("def gen")),
            frame("use_gen", line_of("def use_gen")),
            module(),
        ],
    );
}

#[test]
fn lambda() {
    check(
        "call_lambda()",
        vec![
            target(),
            frame(
                name("call_lambda.<locals>.<lambda>", "<lambda>"),
                line_of("f = (lambda"),
            ),
            frame("call_lambda", line_of("def call_lambda")),
            module(),
        ],
    );
}

#[test]
fn non_ascii_names_of_every_kind() {
    let recordings = record("ünïcode_函数(); café(); 𠀀()", 3);
    let names: [(&str, u8); 3] = [("ünïcode_函数", 2), ("café", 1), ("𠀀", 4)];
    assert_eq!(recordings.len(), names.len());
    for (rec, (fname, kind)) in recordings.iter().zip(names) {
        let expected = vec![
            target(),
            frame(fname, line_of(&format!("def {fname}"))),
            module(),
        ];
        assert_eq!(rec.full, expected);
        assert_eq!(rec.full[1].name_kind, kind, "{fname}");
        assert_eq!(rec.small, expected);
    }
}

#[test]
fn recursion_900_deep() {
    let recordings = record("rec(900)", 10);
    assert_eq!(recordings.len(), 1);
    let rec = &recordings[0];
    let mut expected = vec![target()];
    expected.extend(std::iter::repeat_n(frame("rec", line_of("def rec")), 901));
    expected.push(module());
    assert_eq!(rec.full_count, 903);
    assert_eq!(rec.full, expected);
    assert_eq!(rec.small, expected[expected.len() - 10..]);
}

#[test]
fn raw_str_reads_every_kind() {
    with_python(|| unsafe {
        for text in ["", "target", "café", "ünïcode_函数", "𠀀x"] {
            let c = CString::new(text).unwrap();
            let obj = py::PyUnicode_FromStringAndSize(c.as_ptr(), text.len() as isize);
            // Interned strings (code object names are) set the `interned`
            // bits next to `kind`.
            let interned = py::PyUnicode_InternFromString(c.as_ptr());
            for o in [obj, interned] {
                let s = raw_str(&LAYOUT, o as *const c_void);
                assert!(s.is_readable(), "{text:?}");
                assert_eq!(s.kind, name_kind(text), "{text:?}");
                assert_eq!(s.len, text.chars().count(), "{text:?}");
                assert_eq!(read(s), text);
                // The cached hash: the one `hash()` computes, once computed
                // (interning computes it; a fresh string starts without).
                let hash = py::PyObject_Hash(o);
                assert_eq!(
                    raw_str(&LAYOUT, o as *const c_void).hash,
                    hash as isize,
                    "{text:?}"
                );
            }
            let fresh = py::PyUnicode_FromStringAndSize(c.as_ptr(), text.len() as isize);
            if !text.is_empty() {
                assert_eq!(
                    raw_str(&LAYOUT, fresh as *const c_void).hash,
                    -1,
                    "{text:?}"
                );
            }
            py::Py_DecRef(fresh);
            py::Py_DecRef(obj);
            py::Py_DecRef(interned);
        }
        let number = py::PyLong_FromLong(12345);
        assert!(!raw_str(&LAYOUT, number as *const c_void).is_readable());
        py::Py_DecRef(number);
        assert!(!raw_str(&LAYOUT, std::ptr::null()).is_readable());
        assert_eq!(
            walk_thread(&LAYOUT, std::ptr::null(), &mut [RawFrame::EMPTY; 4]),
            0
        );
        // Outside any Python code (called from C), the stack is empty.
        assert_eq!(
            walk_thread(
                &LAYOUT,
                py::PyThreadState_Get() as *const c_void,
                &mut [RawFrame::EMPTY; 4]
            ),
            0
        );
        assert_eq!(
            walk_thread(&LAYOUT, py::PyThreadState_Get() as *const c_void, &mut []),
            0
        );
    });
}

#[test]
fn copy_raw_truncates_to_whole_code_units() {
    let units: Vec<u16> = "ab函".encode_utf16().collect();
    let s = RawStr {
        data: units.as_ptr() as *const u8,
        len: units.len(),
        kind: 2,
        hash: -1,
    };
    let mut dst = [0u8; 5];
    let n = unsafe { copy_raw(s, &mut dst) };
    assert_eq!(n, 4);
    assert_eq!(decode(2, &dst[..n]), "ab");
    let mut dst = [0u8; 64];
    let n = unsafe { copy_raw(s, &mut dst) };
    assert_eq!(decode(2, &dst[..n]), "ab函");
    assert_eq!(unsafe { copy_raw(RawStr::UNREADABLE, &mut dst) }, 0);
}

#[test]
fn decode_replaces_invalid_code_points() {
    // (And the allocation counter used in `profile` does count.)
    let (text, allocations) = count_allocations(|| decode(1, b"abc"));
    assert_eq!((text.as_str(), allocations), ("abc", 1));
    assert_eq!(decode(1, b"caf\xe9"), "café");
    assert_eq!(decode(2, &0xd800u16.to_ne_bytes()), "\u{fffd}");
    assert_eq!(decode(2, &[b'a', 0, b'b']), "a\u{fffd}");
    assert_eq!(decode(4, &0x11_0000u32.to_ne_bytes()), "\u{fffd}");
    assert_eq!(decode(4, &0x2_0000u32.to_ne_bytes()), "𠀀");
    assert_eq!(decode(3, b"xyz"), "\u{fffd}");
    assert_eq!(decode(3, b""), "");
}

/// Room for every field the walker reads of a fake thread state or frame
/// (3.15's `datastack_chunk` is at 256).
const FAKE_SIZE: usize = 512;

/// Zeroed, pointer-aligned memory standing in for a thread state or frame.
#[repr(C, align(16))]
struct Fake([u8; FAKE_SIZE]);

impl Fake {
    fn new() -> Box<Fake> {
        Box::new(Fake([0; FAKE_SIZE]))
    }
    fn addr(&self) -> usize {
        self as *const Fake as usize
    }
    fn put<T: Copy>(&mut self, offset: usize, value: T) {
        assert!(offset + std::mem::size_of::<T>() <= self.0.len());
        unsafe { std::ptr::write_unaligned(self.0.as_mut_ptr().add(offset) as *mut T, value) }
    }
}

/// A fake thread state whose `tstate_to_frame` chain leads to `frame`.
fn fake_thread(frame: usize) -> Vec<Fake> {
    let hops = LAYOUT.tstate_to_frame;
    let mut chain: Vec<Fake> = hops.iter().map(|_| Fake([0; FAKE_SIZE])).collect();
    for i in 0..hops.len() {
        let next = if i + 1 < hops.len() {
            chain[i + 1].addr()
        } else {
            frame
        };
        chain[i].put(hops[i], next);
    }
    chain
}

fn fake_frame(code: usize, back: usize, owner: u8, instr: usize) -> Box<Fake> {
    let mut f = Fake::new();
    f.put(LAYOUT.frame_code, code);
    f.put(LAYOUT.frame_back, back);
    if let Some(o) = LAYOUT.frame_owner {
        f.put(o, owner);
    }
    if let Some(i) = LAYOUT.frame_instr {
        f.put(i, instr);
    }
    f
}

#[test]
fn fake_frames_cycles_placeholders_and_skip_rules() {
    with_python(|| unsafe {
        let src = CString::new("x = 1\n").unwrap();
        let file = CString::new("fake.py").unwrap();
        let code = py::Py_CompileString(src.as_ptr(), file.as_ptr(), py::Py_file_input);
        assert!(!code.is_null());
        let code_addr = code as usize;
        // Where _PyCode_CODE(code) + _co_firsttraceable is (3.11+).
        let first_traceable = match (LAYOUT.code_adaptive, LAYOUT.code_firsttraceable) {
            (Some(a), Some(f)) => {
                code_addr + a + LAYOUT.code_unit * *((code_addr + f) as *const i32) as usize
            }
            _ => 0,
        };
        let thread_owned = 0u8;
        let complete = first_traceable;
        let mut out = [RawFrame::EMPTY; 16];

        // A cycle of two frames ends (bounded) instead of spinning.
        let mut a = fake_frame(code_addr, 0, thread_owned, complete);
        let b = fake_frame(code_addr, a.addr(), thread_owned, complete);
        a.put(LAYOUT.frame_back, b.addr());
        let t = fake_thread(a.addr());
        let n = walk_thread(&LAYOUT, t[0].addr() as *const c_void, &mut out);
        assert!((2..=4).contains(&n), "cycle walked {n} frames");
        assert_eq!(read(raw_str(&LAYOUT, out[n - 1].name)), "<module>");
        assert_eq!(read(raw_str(&LAYOUT, out[n - 1].file)), "fake.py");

        // A frame whose code is not a code object means the stack is caught
        // mid-change (or corrupt): the walk gives no frames at all rather
        // than a stack with a hole, whether the bad frame is innermost...
        let not_code = Fake::new();
        let outer = fake_frame(code_addr, 0, thread_owned, complete);
        let bogus = fake_frame(not_code.addr(), outer.addr(), thread_owned, complete);
        let t = fake_thread(bogus.addr());
        assert_eq!(
            walk_thread(&LAYOUT, t[0].addr() as *const c_void, &mut out),
            0
        );
        // ...or further out.
        let bogus_outer = fake_frame(not_code.addr(), 0, thread_owned, complete);
        let inner = fake_frame(code_addr, bogus_outer.addr(), thread_owned, complete);
        let t = fake_thread(inner.addr());
        assert_eq!(
            walk_thread(&LAYOUT, t[0].addr() as *const c_void, &mut out),
            0
        );

        // 3.11+: incomplete frames are skipped unless a generator owns them;
        // 3.12+: frames owned by the C stack are always skipped.
        if LAYOUT.frame_instr.is_some() {
            let outer = fake_frame(code_addr, 0, thread_owned, complete);
            let incomplete = fake_frame(code_addr, outer.addr(), thread_owned, complete - 2);
            let t = fake_thread(incomplete.addr());
            assert_eq!(
                walk_thread(&LAYOUT, t[0].addr() as *const c_void, &mut out),
                1
            );

            let generator = fake_frame(
                code_addr,
                outer.addr(),
                LAYOUT.owner_generator,
                complete - 2,
            );
            let t = fake_thread(generator.addr());
            assert_eq!(
                walk_thread(&LAYOUT, t[0].addr() as *const c_void, &mut out),
                2
            );

            if let Some(cstack) = LAYOUT.first_non_python_owner {
                let shim = fake_frame(py::Py_None() as usize, outer.addr(), cstack, complete);
                let t = fake_thread(shim.addr());
                assert_eq!(
                    walk_thread(&LAYOUT, t[0].addr() as *const c_void, &mut out),
                    1
                );
                assert_eq!(read(raw_str(&LAYOUT, out[0].name)), "<module>");
            }
        }
        py::Py_DecRef(code);
    });
}
