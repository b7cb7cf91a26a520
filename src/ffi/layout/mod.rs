//! The CPython internals the signal-safe frame walker (`ffi::frames`) reads,
//! one small file per CPython minor. Each file mirrors only the fields the
//! walker touches, as `#[repr(C)]` structs with explicit padding, names the
//! CPython tag and headers it was taken from, and lists every offset, size
//! and constant it relies on in `OFFSETS` (in C terms, so that
//! `tests/ffi_offsets.rs` can compile an `offsetof()` probe against the
//! installed headers and compare).
//!
//! Exactly one file is compiled: the one for the libpython this crate links,
//! selected here, once, by the `cfg(py_3_N)` that build.rs emits. The rest
//! of `ffi` reads frames with that layout as a value, `&'static Layout`,
//! handed out by `running::layout` (through `ffi::gil::Gil::layout`) only
//! once the running interpreter has been checked to agree with it; the
//! constants [`LAYOUT`], [`OFFSETS`] and [`VERSION`] are for that check and
//! for the offset probe (`tests/ffi_offsets.rs`).
//!
//! `OFFSETS` name syntax (understood by the probe generator):
//! - `"T.field"`: `offsetof(T, field)`;
//! - `"sizeof(...)"`: a C `sizeof` expression, verbatim;
//! - `"mask(T.bits.field)"`: the bit mask a bitfield occupies inside the
//!   32-bit word `T.bits` (gcc, little endian);
//! - anything else: a C constant expression (enum value, macro), verbatim.

use std::ffi::c_void;

pub mod running;

#[cfg(py_2_7)]
pub mod py2_7;
#[cfg(py_2_7)]
use py2_7 as current;
#[cfg(py_3_6)]
pub mod py3_6;
#[cfg(py_3_6)]
use py3_6 as current;
#[cfg(py_3_7)]
pub mod py3_7;
#[cfg(py_3_7)]
use py3_7 as current;
#[cfg(py_3_8)]
pub mod py3_8;
#[cfg(py_3_8)]
use py3_8 as current;
#[cfg(py_3_9)]
pub mod py3_9;
#[cfg(py_3_9)]
use py3_9 as current;
#[cfg(py_3_10)]
pub mod py3_10;
#[cfg(py_3_10)]
use py3_10 as current;
#[cfg(py_3_11)]
pub mod py3_11;
#[cfg(py_3_11)]
use py3_11 as current;
#[cfg(py_3_12)]
pub mod py3_12;
#[cfg(py_3_12)]
use py3_12 as current;
#[cfg(py_3_13)]
pub mod py3_13;
#[cfg(py_3_13)]
use py3_13 as current;
#[cfg(py_3_14)]
pub mod py3_14;
#[cfg(py_3_14)]
use py3_14 as current;
#[cfg(py_3_15)]
pub mod py3_15;
#[cfg(py_3_15)]
use py3_15 as current;

#[cfg(not(any(
    py_2_7, py_3_6, py_3_7, py_3_8, py_3_9, py_3_10, py_3_11, py_3_12, py_3_13, py_3_14, py_3_15
)))]
compile_error!("ffi::layout has no CPython layout for the Python this crate is built against");

/// The (major, minor) of the CPython whose layout is compiled in.
pub const VERSION: (u32, u32) = current::VERSION;
/// Where to find what, for the linked CPython. See [`Layout`].
pub const LAYOUT: Layout = current::LAYOUT;
/// Every offset, size and constant the walker relies on, named in C terms.
pub const OFFSETS: &[(&str, usize)] = current::OFFSETS;

// Every frame byte the walker reads can be probed in one call.
const _: () = assert!(match LAYOUT.data_stack {
    Some(data_stack) => data_stack.frame_bytes <= crate::ffi::frames::MAX_PROBE_BYTES,
    None => true,
});

/// `offsetof(PyTypeObject, tp_dealloc)`, as the bindings we link declare it
/// (`ffi::code_lifetime` swaps `PyCode_Type`'s); the probe checks it too.
pub const TP_DEALLOC: usize = std::mem::offset_of!(crate::ffi::py::PyTypeObject, tp_dealloc);

/// `PyObject` header of a release (non-`Py_TRACE_REFS`, GIL) build; the
/// same in every supported minor. (3.12+ turns `ob_refcnt` into a union of
/// the same size; free-threaded 3.13t builds differ and are not supported.)
#[repr(C)]
pub struct PyObject {
    pub ob_refcnt: isize,
    pub ob_type: *const c_void,
}

/// Version knowledge as plain numbers, so that the walker itself is one
/// generic piece of code. Built from the `#[repr(C)]` mirrors with
/// `offset_of!`/`size_of`, never typed in by hand.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// `offsetof(PyObject, ob_type)`.
    pub ob_type: usize,
    /// Pointer loads leading from a `PyThreadState*` to the innermost frame:
    /// `[frame]` (3.6-3.10), `[cframe, current_frame]` (3.11, 3.12),
    /// `[current_frame]` (3.13).
    pub tstate_to_frame: &'static [usize],
    /// The outer frame: `f_back` / `previous`.
    pub frame_back: usize,
    /// The code object: `f_code` / `f_executable` (3.13: may be `None`).
    pub frame_code: usize,
    /// 3.11+: `prev_instr` / `instr_ptr`, for the incomplete-frame rule.
    pub frame_instr: Option<usize>,
    /// 3.11+: the `char owner` field.
    pub frame_owner: Option<usize>,
    /// `FRAME_OWNED_BY_GENERATOR` (3.11+).
    pub owner_generator: u8,
    /// 3.12+: the lowest owner value of frames that are not Python frames
    /// and are never shown (CPython's own rule is `owner >=` it):
    /// `FRAME_OWNED_BY_CSTACK` (3.12, 3.13: entry and shim frames),
    /// `FRAME_OWNED_BY_INTERPRETER` (3.14+: entry frames, then CSTACK above
    /// it in 3.14; 3.15 drops CSTACK).
    pub first_non_python_owner: Option<u8>,
    /// 3.14+: `f_executable` is a `_PyStackRef`, a tagged word: see
    /// [`StackRefTags`]. None where it is a plain `PyObject *`.
    pub executable_tags: Option<StackRefTags>,
    /// 3.15+: `PyThreadState.base_frame`, the sentinel every frame chain
    /// ends at (`current_frame` is never NULL; it equals `base_frame` while
    /// no Python code runs). The walk stops there.
    pub tstate_base_frame: Option<usize>,
    /// The name the walker reports: `co_qualname` on 3.11+, else `co_name`.
    pub code_name: usize,
    pub code_filename: usize,
    /// `int co_firstlineno`.
    pub code_firstlineno: usize,
    /// 3.11+: `int _co_firsttraceable` (index in code units).
    pub code_firsttraceable: Option<usize>,
    /// 3.11+: `co_code_adaptive`, i.e. `_PyCode_CODE(co)`.
    pub code_adaptive: Option<usize>,
    /// `sizeof(_Py_CODEUNIT)`.
    pub code_unit: usize,
    /// `PyASCIIObject.length` (`Py_ssize_t`, code points).
    pub str_length: usize,
    /// The string's cached hash (`PyASCIIObject.hash`, 2.7:
    /// `PyStringObject.ob_shash`): -1 until CPython computes it.
    pub str_hash: usize,
    /// `PyASCIIObject.state` (a 32-bit word of bitfields).
    pub str_state: usize,
    /// Data of a compact ASCII string starts at `sizeof(PyASCIIObject)`.
    pub str_ascii_data: usize,
    /// Data of a compact non-ASCII string: `sizeof(PyCompactUnicodeObject)`.
    pub str_compact_data: usize,
    /// Bit positions inside `state`.
    pub state_kind_shift: u32,
    pub state_compact_bit: u32,
    pub state_ascii_bit: u32,
    /// 3.6-3.11: the `ready` bit, which must be set (3.12+: no such bit).
    pub state_ready_bit: Option<u32>,
    /// 3.11+: where the thread's frames live (see [`DataStack`]).
    pub data_stack: Option<DataStack>,
    /// The code object's tuple of local variable names (`co_varnames`;
    /// 3.11+ `co_localsplusnames`, which adds cells and free variables):
    /// a function that assigns `__tracebackhide__` asks to be left out of
    /// reports, as it is left out of pytest's tracebacks.
    pub code_varnames: usize,
    /// `offsetof(PyTupleObject, ob_item)` (the item count is `ob_size`,
    /// the same everywhere).
    pub tuple_items: usize,
    /// 2.7 only: names and files are byte strings (`PyStringObject`), whose
    /// length is at `ob_size` and bytes at `ob_sval`. None on 3.x.
    pub bytes_str: Option<BytesStr>,
    /// 3.7+: where the GIL is, so that the signal sampler can tell whether
    /// the profiled thread holds it (`ffi::gated_sampler`). None on 2.7 and
    /// 3.6, whose GIL is private to ceval.c.
    pub gil: Option<GilLocation>,
    /// 3.7+: what `--all-threads` needs to find every thread state of the
    /// interpreter (`ffi::gated_sampler::all_threads`). None on 2.7, 3.6.
    pub threads: Option<ThreadList>,
    /// `PyThreadState.c_profilefunc`: the thread's C-level profile function,
    /// which `ffi::setprofile` reads to tell whether the program replaced
    /// its hook.
    pub tstate_profile_func: usize,
    /// 3.13+: what the running interpreter's `_Py_DebugOffsets` (at the
    /// start of `_PyRuntime`) must say for this layout to be the one it
    /// uses; checked before signal mode starts (`ffi::gated_sampler`).
    /// Empty before 3.13.
    pub debug_offsets: &'static [DebugOffsetCheck],
}

/// Where `PyEval_SetProfile` keeps, besides `c_profilefunc`, what it writes
/// (2.7, 3.6-3.8: no exported function installs a profile function in
/// another thread's state, so `ffi::setprofile::all_threads` writes these
/// as CPython's own `PyEval_SetProfile` does).
#[derive(Clone, Copy, Debug)]
pub struct ProfileFields {
    /// `int use_tracing`: nonzero while the thread has a trace or profile
    /// function (the eval loop calls neither while it is 0).
    pub use_tracing: usize,
    /// `c_tracefunc`: `use_tracing` stays set while it is non-NULL.
    pub trace_func: usize,
    /// `c_profileobj`: NULL in a state where we install (we give no object).
    pub profile_obj: usize,
}

/// See [`ProfileFields`]; None where `_PyEval_SetProfile` is exported (3.9+).
#[cfg(any(py_2_7, py_3_6, py_3_7, py_3_8))]
pub const PROFILE_FIELDS: Option<ProfileFields> = Some(current::PROFILE_FIELDS);
#[cfg(not(any(py_2_7, py_3_6, py_3_7, py_3_8)))]
pub const PROFILE_FIELDS: Option<ProfileFields> = None;

/// One field of `_Py_DebugOffsets`: where it sits in that struct (`at`,
/// proven by the probe) and the value our layout relies on.
#[derive(Clone, Copy, Debug)]
pub struct DebugOffsetCheck {
    /// The field, as `_Py_DebugOffsets.<group>.<field>` in C.
    pub name: &'static str,
    pub at: usize,
    pub expected: usize,
}

/// The head of `_Py_DebugOffsets`, the same in 3.13+: a cookie, then
/// `PY_VERSION_HEX`, then whether the build is free-threaded.
pub const DEBUG_COOKIE: &[u8; 8] = b"xdebugpy";
pub const DEBUG_VERSION_AT: usize = 8;
pub const DEBUG_FREE_THREADED_AT: usize = 16;

/// How a `_PyStackRef` word holds an object (Include/internal/
/// pycore_stackref.h, release builds with the GIL): `(bits & int_tag) ==
/// int_tag` is a tagged integer, not an object; otherwise clearing
/// `tag_bits` gives the `PyObject *`.
#[derive(Clone, Copy, Debug)]
pub struct StackRefTags {
    pub tag_bits: usize,
    pub int_tag: usize,
}

/// The interpreter's list of thread states, and the lock CPython changes it
/// under (`HEAD_LOCK`: `_PyRuntime.interpreters.mutex`).
#[derive(Clone, Copy, Debug)]
pub struct ThreadList {
    /// `offsetof(_PyRuntimeState, interpreters.mutex)`.
    pub head_lock: usize,
    pub head_lock_kind: HeadLockKind,
    /// `offsetof(PyThreadState, interp)`.
    pub tstate_interp: usize,
    /// `offsetof(PyThreadState, thread_id)`: the thread's `pthread_t`
    /// (`threading.get_ident()`), 0 until a 3.12+ thread binds its state.
    pub tstate_thread_id: usize,
    /// `offsetof(PyThreadState, id)`: unique per interpreter, never reused
    /// (a new state may reuse a freed one's address).
    pub tstate_id: usize,
    /// `offsetof(PyThreadState, dict)`: the thread's state dict
    /// (`PyThreadState_GetDict`), cleared on the thread as it ends.
    pub tstate_dict: usize,
}

/// What `HEAD_LOCK` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadLockKind {
    /// 3.7-3.12: a `PyThread_type_lock` pointer
    /// (`PyThread_acquire_lock(mutex, WAIT_LOCK)`).
    ThreadLock,
    /// 3.13+: a `PyMutex`, one byte (`PyMutex_LockFlags`).
    PyMutex,
}

impl ThreadList {
    pub const fn new(
        head_lock: usize,
        head_lock_kind: HeadLockKind,
        tstate_thread_id: usize,
        tstate_id: usize,
        tstate_dict: usize,
    ) -> ThreadList {
        ThreadList {
            head_lock,
            head_lock_kind,
            tstate_interp: 16,
            tstate_thread_id,
            tstate_id,
            tstate_dict,
        }
    }
}

/// 2.7 and 3.6: the fields of other threads' states that `--all-threads`
/// reads there (`ffi::gil_sampler`; 3.7+ has [`ThreadList`]).
#[derive(Clone, Copy, Debug)]
pub struct ThreadFields {
    /// `offsetof(PyThreadState, interp)`.
    pub interp: usize,
    /// `offsetof(PyThreadState, thread_id)`: the thread's `pthread_t`
    /// (`thread.get_ident()`), a `long`.
    pub thread_id: usize,
    /// `offsetof(PyThreadState, dict)`: the thread's state dict
    /// (`PyThreadState_GetDict`), cleared on the thread as it ends.
    pub dict: usize,
}

#[cfg(any(py_2_7, py_3_6))]
pub use current::THREAD_FIELDS;

/// Where `struct _gil_runtime_state` lives.
#[derive(Clone, Copy, Debug)]
pub enum GilLocation {
    /// 3.7-3.11: inside `_PyRuntime`, at this offset (`ceval.gil`).
    Runtime { runtime_gil: usize },
    /// 3.12+: each interpreter points to its GIL: `tstate->interp`, then
    /// the pointer `interp->ceval.gil`.
    Interpreter {
        tstate_interp: usize,
        interp_gil: usize,
    },
}

/// `struct _gil_runtime_state` (Include/internal/pycore_gil.h, 3.7's
/// internal/gil.h), up to `mutex`: the same in 3.7-3.13 release builds
/// with the GIL (3.13's free-threaded `enabled` field comes first only
/// under Py_GIL_DISABLED, which we refuse to build for). `locked` and
/// `last_holder` are written only with `mutex` held (`take_gil`,
/// `drop_gil` in Python/ceval_gil.c).
#[repr(C)]
pub struct GilRuntimeState {
    pub interval: std::ffi::c_ulong,
    /// The `PyThreadState*` holding, or last holding, the GIL.
    pub last_holder: *const c_void,
    /// 1 while some thread holds the GIL.
    pub locked: std::ffi::c_int,
    pub switch_number: std::ffi::c_ulong,
    pub cond: libc::pthread_cond_t,
    pub mutex: libc::pthread_mutex_t,
}

/// The offsets of [`GilRuntimeState`], in `OFFSETS` syntax: proven by the
/// probe on every minor whose layout has a `gil` (see [`all_offsets`]).
pub const GIL_STATE_OFFSETS: &[(&str, usize)] = &[
    (
        "struct _gil_runtime_state.last_holder",
        std::mem::offset_of!(GilRuntimeState, last_holder),
    ),
    (
        "struct _gil_runtime_state.locked",
        std::mem::offset_of!(GilRuntimeState, locked),
    ),
    (
        "sizeof(((struct _gil_runtime_state *)0)->locked)",
        std::mem::size_of::<std::ffi::c_int>(),
    ),
    (
        "struct _gil_runtime_state.mutex",
        std::mem::offset_of!(GilRuntimeState, mutex),
    ),
    (
        "sizeof(((struct _gil_runtime_state *)0)->mutex)",
        std::mem::size_of::<libc::pthread_mutex_t>(),
    ),
];

/// Every fact the linked layout relies on: its `OFFSETS`, the GIL state's
/// where the layout locates a GIL, and where `_Py_DebugOffsets` keeps the
/// fields checked at start-up (3.13+).
pub fn all_offsets() -> Vec<(&'static str, usize)> {
    let mut all = OFFSETS.to_vec();
    all.extend(
        LAYOUT
            .debug_offsets
            .iter()
            .map(|check| (check.name, check.at)),
    );
    if !LAYOUT.debug_offsets.is_empty() {
        all.push(("_Py_DebugOffsets.version", DEBUG_VERSION_AT));
        all.push(("_Py_DebugOffsets.free_threaded", DEBUG_FREE_THREADED_AT));
        all.push(("_PyRuntimeState.debug_offsets", 0));
    }
    if LAYOUT.gil.is_some() {
        all.extend_from_slice(GIL_STATE_OFFSETS);
    }
    if let Some(threads) = LAYOUT.threads {
        all.push(("_PyRuntimeState.interpreters.mutex", threads.head_lock));
        all.push((
            "sizeof(((_PyRuntimeState *)0)->interpreters.mutex)",
            match threads.head_lock_kind {
                HeadLockKind::ThreadLock => std::mem::size_of::<*const c_void>(),
                HeadLockKind::PyMutex => 1,
            },
        ));
        if !all.iter().any(|(name, _)| *name == "PyThreadState.interp") {
            all.push(("PyThreadState.interp", threads.tstate_interp));
        }
        all.push(("PyThreadState.thread_id", threads.tstate_thread_id));
        all.push(("PyThreadState.id", threads.tstate_id));
        all.push(("PyThreadState.dict", threads.tstate_dict));
    }
    if let Some(fields) = PROFILE_FIELDS {
        all.push(("PyThreadState.use_tracing", fields.use_tracing));
        all.push((
            "sizeof(((PyThreadState *)0)->use_tracing)",
            std::mem::size_of::<std::ffi::c_int>(),
        ));
        all.push(("PyThreadState.c_tracefunc", fields.trace_func));
        all.push(("PyThreadState.c_profileobj", fields.profile_obj));
    }
    #[cfg(py_run_main)]
    all.extend_from_slice(crate::ffi::interpreter::STARTUP_OFFSETS);
    if let Some(data_stack) = LAYOUT.data_stack {
        all.push(("_PyStackChunk.previous", data_stack.chunk_previous));
        all.push(("_PyStackChunk.size", data_stack.chunk_size));
        all.push((
            "sizeof(((_PyStackChunk *)0)->size)",
            std::mem::size_of::<usize>(),
        ));
    }
    all.push(("PyTupleObject.ob_item", LAYOUT.tuple_items));
    all.push((
        "PyVarObject.ob_size",
        std::mem::offset_of!(PyTupleObject, ob_size),
    ));
    all
}

/// 3.11+: frames live in chunks of memory the thread allocates
/// (`_PyStackChunk`, newest first from `PyThreadState.datastack_chunk`).
/// The walker trusts frames inside a linked chunk, and probes any other
/// address before reading it: CPython unlinks and unmaps a chunk while
/// `current_frame` may still point into it.
#[derive(Clone, Copy, Debug)]
pub struct DataStack {
    /// `offsetof(PyThreadState, datastack_chunk)`.
    pub tstate_chunk: usize,
    /// `offsetof(_PyStackChunk, previous)`, `offsetof(_PyStackChunk, size)`.
    pub chunk_previous: usize,
    pub chunk_size: usize,
    /// How many bytes from a frame's start the walker reads: up to and
    /// including `owner`, the last field it reads. An address not in a
    /// chunk has that many bytes probed before any is read.
    pub frame_bytes: usize,
}

impl DataStack {
    /// `frame_bytes` from the version's frame mirror, the chunk fields
    /// from [`PyStackChunk`] (the same in every minor that has chunks).
    pub const fn new(tstate_chunk: usize, owner_offset: usize) -> DataStack {
        DataStack {
            tstate_chunk,
            chunk_previous: std::mem::offset_of!(PyStackChunk, previous),
            chunk_size: std::mem::offset_of!(PyStackChunk, size),
            frame_bytes: owner_offset + std::mem::size_of::<std::ffi::c_char>(),
        }
    }
}

/// `struct _PyStackChunk` (Include/internal/pycore_frame.h, 3.11-3.15), up
/// to `size`.
#[repr(C)]
pub struct PyStackChunk {
    pub previous: *const PyStackChunk,
    /// Bytes, header included.
    pub size: usize,
}

/// `PyTupleObject` up to 3.13: a variable-size header, then the items.
/// (3.14 caches the tuple's hash before the items: its layout file has its
/// own mirror.)
#[repr(C)]
pub struct PyTupleObject {
    pub ob_base: PyObject,
    pub ob_size: isize,
    pub ob_item: [*const c_void; 0],
}

/// Where a 2.7 `PyStringObject` keeps its length and bytes.
#[derive(Clone, Copy, Debug)]
pub struct BytesStr {
    pub size: usize,
    pub data: usize,
}

/// The `state` bitfields of `PyASCIIObject` (identical bit positions in
/// 3.6-3.13 on gcc/x86-64 and aarch64: bits are allocated from the least
/// significant end): interned:2, kind:3, compact:1, ascii:1, then
/// ready:1 (3.6-3.11) or statically_allocated:1 (3.12+).
pub mod state_bits {
    pub const KIND_SHIFT: u32 = 2;
    pub const COMPACT_BIT: u32 = 5;
    pub const ASCII_BIT: u32 = 6;
    pub const BIT7: u32 = 7;
    pub const INTERNED_MASK: usize = 0b11;
    pub const KIND_MASK: usize = 0b111 << KIND_SHIFT;
    pub const COMPACT_MASK: usize = 1 << COMPACT_BIT;
    pub const ASCII_MASK: usize = 1 << ASCII_BIT;
    pub const BIT7_MASK: usize = 1 << BIT7;
}
