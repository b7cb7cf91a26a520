//! CPython 3.13 (tag v3.13.0), mirrored from Include/cpython/pystate.h
//! (`struct _ts`), Include/internal/pycore_frame.h
//! (`_PyInterpreterFrame`, `enum _frameowner`), Include/cpython/code.h
//! (`PyCodeObject`, `_Py_CODEUNIT`) and Include/cpython/unicodeobject.h
//! (`PyASCIIObject`, `PyCompactUnicodeObject`).
//! Only the fields the frame walker reads; `tests/ffi_offsets.rs` proves
//! every offset against the installed headers.

use super::{state_bits, DebugOffsetCheck, GilLocation, GilRuntimeState, Layout, PyObject};
use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};

pub const VERSION: (u32, u32) = (3, 13);

/// `struct _ts` (`PyThreadState`), up to `current_frame` (3.13 dropped
/// `_PyCFrame`).
#[repr(C)]
pub struct PyThreadState {
    pub prev: *const c_void,
    pub next: *const c_void,
    pub interp: *const c_void,
    pub eval_breaker: usize,
    /// _status (bitfields), _whence, state, py_recursion_remaining,
    /// py_recursion_limit, c_recursion_remaining, recursion_headroom,
    /// tracing, what_event.
    pub _ints: [c_int; 9],
    /// The currently executing frame (it can be NULL).
    pub current_frame: *const PyInterpreterFrame,
}

/// `_PyInterpreterFrame`, up to `owner`.
#[repr(C)]
pub struct PyInterpreterFrame {
    /// A code object, or None (entry frames owned by the C stack).
    pub f_executable: *const c_void,
    pub previous: *const PyInterpreterFrame,
    pub f_funcobj: *const c_void,
    pub f_globals: *const c_void,
    pub f_builtins: *const c_void,
    pub f_locals: *const c_void,
    pub frame_obj: *const c_void,
    /// Instruction currently executing (or about to begin).
    pub instr_ptr: *const u16,
    pub stacktop: c_int,
    pub return_offset: u16,
    pub owner: c_char,
}

/// `enum _frameowner`.
pub const FRAME_OWNED_BY_THREAD: u8 = 0;
pub const FRAME_OWNED_BY_GENERATOR: u8 = 1;
pub const FRAME_OWNED_BY_FRAME_OBJECT: u8 = 2;
/// The entry frame `_PyEval_EvalFrameDefault` keeps on the C stack
/// (`f_executable` is None); `_PyFrame_IsIncomplete` is true for it.
pub const FRAME_OWNED_BY_CSTACK: u8 = 3;

/// `PyCodeObject` (`_PyCode_DEF`), up to `co_code_adaptive`.
#[repr(C)]
pub struct PyCodeObject {
    pub ob_base: PyObject,
    pub ob_size: isize,
    /// co_consts, co_names, co_exceptiontable.
    pub _ptrs1: [*const c_void; 3],
    pub co_flags: c_int,
    /// co_argcount, co_posonlyargcount, co_kwonlyargcount, co_stacksize.
    pub _ints1: [c_int; 4],
    pub co_firstlineno: c_int,
    /// co_nlocalsplus, co_framesize, co_nlocals, co_ncellvars, co_nfreevars,
    /// co_version.
    pub _ints2: [c_int; 6],
    /// co_localsplusnames, co_localspluskinds.
    pub _ptrs2: [*const c_void; 2],
    pub co_filename: *const c_void,
    pub co_name: *const c_void,
    pub co_qualname: *const c_void,
    /// co_linetable, co_weakreflist, co_executors, _co_cached,
    /// _co_instrumentation_version (uintptr_t), _co_monitoring.
    pub _ptrs3: [*const c_void; 6],
    pub _co_firsttraceable: c_int,
    pub co_extra: *const c_void,
    /// `_PyCode_CODE(co)` points here.
    pub co_code_adaptive: [u16; 0],
}

/// `PyASCIIObject`: head, length, hash, state bitfields (no `wstr` since
/// 3.12; the struct is padded to 8 bytes).
#[repr(C)]
pub struct PyASCIIObject {
    pub ob_base: PyObject,
    pub length: isize,
    pub hash: isize,
    pub state: u32,
}

/// `PyCompactUnicodeObject`: base, utf8_length, utf8.
#[repr(C)]
pub struct PyCompactUnicodeObject {
    pub _base: PyASCIIObject,
    pub utf8_length: isize,
    pub utf8: *const c_void,
}

const CURRENT_FRAME: usize = offset_of!(PyThreadState, current_frame);

/// `offsetof(PyThreadState, datastack_chunk)`: past two dozen fields we
/// never read, so given as a number rather than mirrored field by field.
const DATASTACK_CHUNK: usize = 232;

/// `offsetof(PyInterpreterState, ceval.gil)`: the interpreter's pointer
/// to its GIL; given as a number and proven by the probe.
const INTERP_GIL: usize = 16;
/// `offsetof(PyThreadState, interp)`.
const TSTATE_INTERP: usize = 16;
/// `offsetof(PyInterpreterState, _gil)`: the GIL an interpreter owns
/// (`ceval.gil` points to it, or to the main interpreter's); the debug
/// table gives the GIL's fields from the interpreter state's start.
const INTERP_OWN_GIL: usize = 7752;

/// `_Py_DebugOffsets` (Include/internal/pycore_runtime.h), up to the
/// groups we check: every field is a `uint64_t` offset (or size).
#[repr(C)]
pub struct DebugOffsets {
    pub cookie: [u8; 8],
    pub version: u64,
    pub free_threaded: u64,
    /// size, finalizing, interpreters_head.
    pub runtime_state: [u64; 3],
    pub interpreter_state: DebugInterpreterState,
    pub thread_state: DebugThreadState,
    pub interpreter_frame: DebugInterpreterFrame,
    pub code_object: DebugCodeObject,
    pub pyobject: DebugPyObject,
    /// type, tuple, list, dict, float, long and bytes objects.
    pub _others: [u64; 4 + 3 + 3 + 3 + 2 + 3 + 3],
    pub unicode_object: DebugUnicodeObject,
}

#[repr(C)]
pub struct DebugInterpreterState {
    /// size, id, next, threads_head, gc, imports_modules, sysdict, builtins.
    pub _first: [u64; 8],
    pub ceval_gil: u64,
    pub gil_runtime_state: u64,
    pub gil_runtime_state_enabled: u64,
    pub gil_runtime_state_locked: u64,
    pub gil_runtime_state_holder: u64,
}

#[repr(C)]
pub struct DebugThreadState {
    pub size: u64,
    pub prev: u64,
    pub next: u64,
    pub interp: u64,
    pub current_frame: u64,
    pub thread_id: u64,
    pub native_thread_id: u64,
    pub datastack_chunk: u64,
    pub status: u64,
}

#[repr(C)]
pub struct DebugInterpreterFrame {
    pub size: u64,
    pub previous: u64,
    pub executable: u64,
    pub instr_ptr: u64,
    pub localsplus: u64,
    pub owner: u64,
}

#[repr(C)]
pub struct DebugCodeObject {
    pub size: u64,
    pub filename: u64,
    pub name: u64,
    pub qualname: u64,
    pub linetable: u64,
    pub firstlineno: u64,
    pub argcount: u64,
    pub localsplusnames: u64,
    pub localspluskinds: u64,
    pub co_code_adaptive: u64,
}

#[repr(C)]
pub struct DebugPyObject {
    pub size: u64,
    pub ob_type: u64,
}

#[repr(C)]
pub struct DebugUnicodeObject {
    pub size: u64,
    pub state: u64,
    pub length: u64,
    pub asciiobject_size: u64,
}

macro_rules! check {
    ($field:ident . $sub:ident, $expected:expr) => {
        DebugOffsetCheck {
            name: concat!(
                "_Py_DebugOffsets.",
                stringify!($field),
                ".",
                stringify!($sub)
            ),
            at: offset_of!(DebugOffsets, $field.$sub),
            expected: $expected,
        }
    };
}

/// Everything the walker and the sampling thread read, as the running
/// interpreter must describe it.
const DEBUG_OFFSETS: &[DebugOffsetCheck] = &[
    check!(thread_state.interp, TSTATE_INTERP),
    check!(thread_state.current_frame, CURRENT_FRAME),
    check!(thread_state.datastack_chunk, DATASTACK_CHUNK),
    check!(interpreter_state.ceval_gil, INTERP_GIL),
    check!(interpreter_state.gil_runtime_state, INTERP_OWN_GIL),
    check!(
        interpreter_state.gil_runtime_state_locked,
        INTERP_OWN_GIL + offset_of!(GilRuntimeState, locked)
    ),
    check!(
        interpreter_state.gil_runtime_state_holder,
        INTERP_OWN_GIL + offset_of!(GilRuntimeState, last_holder)
    ),
    check!(
        interpreter_frame.previous,
        offset_of!(PyInterpreterFrame, previous)
    ),
    check!(
        interpreter_frame.executable,
        offset_of!(PyInterpreterFrame, f_executable)
    ),
    check!(
        interpreter_frame.instr_ptr,
        offset_of!(PyInterpreterFrame, instr_ptr)
    ),
    check!(
        interpreter_frame.owner,
        offset_of!(PyInterpreterFrame, owner)
    ),
    check!(code_object.filename, offset_of!(PyCodeObject, co_filename)),
    check!(code_object.qualname, offset_of!(PyCodeObject, co_qualname)),
    check!(
        code_object.firstlineno,
        offset_of!(PyCodeObject, co_firstlineno)
    ),
    check!(
        code_object.co_code_adaptive,
        offset_of!(PyCodeObject, co_code_adaptive)
    ),
    check!(pyobject.ob_type, offset_of!(PyObject, ob_type)),
    check!(unicode_object.state, offset_of!(PyASCIIObject, state)),
    check!(unicode_object.length, offset_of!(PyASCIIObject, length)),
    check!(unicode_object.asciiobject_size, size_of::<PyASCIIObject>()),
];

/// `offsetof(PyThreadState, c_profilefunc)`, proven by the probe.
const TSTATE_PROFILE_FUNC: usize = 80;

pub const LAYOUT: Layout = Layout {
    ob_type: offset_of!(PyObject, ob_type),
    tstate_to_frame: &[CURRENT_FRAME],
    frame_back: offset_of!(PyInterpreterFrame, previous),
    frame_code: offset_of!(PyInterpreterFrame, f_executable),
    frame_instr: Some(offset_of!(PyInterpreterFrame, instr_ptr)),
    frame_owner: Some(offset_of!(PyInterpreterFrame, owner)),
    owner_generator: FRAME_OWNED_BY_GENERATOR,
    first_non_python_owner: Some(FRAME_OWNED_BY_CSTACK),
    executable_tags: None,
    tstate_base_frame: None,
    code_name: offset_of!(PyCodeObject, co_qualname),
    code_filename: offset_of!(PyCodeObject, co_filename),
    code_firstlineno: offset_of!(PyCodeObject, co_firstlineno),
    code_firsttraceable: Some(offset_of!(PyCodeObject, _co_firsttraceable)),
    code_adaptive: Some(offset_of!(PyCodeObject, co_code_adaptive)),
    code_unit: size_of::<u16>(),
    str_length: offset_of!(PyASCIIObject, length),
    str_hash: offset_of!(PyASCIIObject, hash),
    str_state: offset_of!(PyASCIIObject, state),
    str_ascii_data: size_of::<PyASCIIObject>(),
    str_compact_data: size_of::<PyCompactUnicodeObject>(),
    state_kind_shift: state_bits::KIND_SHIFT,
    state_compact_bit: state_bits::COMPACT_BIT,
    state_ascii_bit: state_bits::ASCII_BIT,
    state_ready_bit: None,
    gil: Some(GilLocation::Interpreter {
        tstate_interp: TSTATE_INTERP,
        interp_gil: INTERP_GIL,
    }),
    bytes_str: None,
    tstate_profile_func: TSTATE_PROFILE_FUNC,
    debug_offsets: DEBUG_OFFSETS,
    datastack_chunk: Some(DATASTACK_CHUNK),
};

pub const OFFSETS: &[(&str, usize)] = &[
    ("PyThreadState.c_profilefunc", TSTATE_PROFILE_FUNC),
    ("PyThreadState.interp", TSTATE_INTERP),
    ("PyInterpreterState.ceval.gil", INTERP_GIL),
    ("PyInterpreterState._gil", INTERP_OWN_GIL),
    ("PyThreadState.datastack_chunk", DATASTACK_CHUNK),
    ("_PyStackChunk.previous", 0),
    ("_PyStackChunk.size", 8),
    // PEP 587 start-up (ffi::interpreter): PyStatus is returned by value.
    ("sizeof(PyStatus)", size_of::<super::PyStatus>()),
    (
        "PyStatus.exitcode",
        std::mem::offset_of!(super::PyStatus, exitcode),
    ),
    (
        "sizeof(PyConfig) <= 4096",
        (size_of::<super::PyConfigStorage>() >= 4096) as usize,
    ),
    ("PyObject.ob_type", LAYOUT.ob_type),
    ("PyTypeObject.tp_dealloc", super::TP_DEALLOC),
    ("PyThreadState.current_frame", CURRENT_FRAME),
    ("_PyInterpreterFrame.previous", LAYOUT.frame_back),
    ("_PyInterpreterFrame.f_executable", LAYOUT.frame_code),
    (
        "_PyInterpreterFrame.instr_ptr",
        offset_of!(PyInterpreterFrame, instr_ptr),
    ),
    (
        "_PyInterpreterFrame.owner",
        offset_of!(PyInterpreterFrame, owner),
    ),
    (
        "sizeof(((_PyInterpreterFrame *)0)->owner)",
        size_of::<c_char>(),
    ),
    ("FRAME_OWNED_BY_THREAD", FRAME_OWNED_BY_THREAD as usize),
    (
        "FRAME_OWNED_BY_GENERATOR",
        FRAME_OWNED_BY_GENERATOR as usize,
    ),
    (
        "FRAME_OWNED_BY_FRAME_OBJECT",
        FRAME_OWNED_BY_FRAME_OBJECT as usize,
    ),
    ("FRAME_OWNED_BY_CSTACK", FRAME_OWNED_BY_CSTACK as usize),
    ("PyCodeObject.co_qualname", LAYOUT.code_name),
    ("PyCodeObject.co_filename", LAYOUT.code_filename),
    ("PyCodeObject.co_firstlineno", LAYOUT.code_firstlineno),
    (
        "sizeof(((PyCodeObject *)0)->co_firstlineno)",
        size_of::<c_int>(),
    ),
    (
        "PyCodeObject._co_firsttraceable",
        offset_of!(PyCodeObject, _co_firsttraceable),
    ),
    (
        "sizeof(((PyCodeObject *)0)->_co_firsttraceable)",
        size_of::<c_int>(),
    ),
    (
        "PyCodeObject.co_code_adaptive",
        offset_of!(PyCodeObject, co_code_adaptive),
    ),
    ("sizeof(_Py_CODEUNIT)", LAYOUT.code_unit),
    ("PyASCIIObject.length", LAYOUT.str_length),
    ("PyASCIIObject.hash", LAYOUT.str_hash),
    ("sizeof(((PyASCIIObject *)0)->hash)", size_of::<isize>()),
    ("PyASCIIObject.state", LAYOUT.str_state),
    ("sizeof(((PyASCIIObject *)0)->state)", size_of::<u32>()),
    (
        "mask(PyASCIIObject.state.interned)",
        state_bits::INTERNED_MASK,
    ),
    ("mask(PyASCIIObject.state.kind)", state_bits::KIND_MASK),
    (
        "mask(PyASCIIObject.state.compact)",
        state_bits::COMPACT_MASK,
    ),
    ("mask(PyASCIIObject.state.ascii)", state_bits::ASCII_MASK),
    (
        "mask(PyASCIIObject.state.statically_allocated)",
        state_bits::BIT7_MASK,
    ),
    ("PyUnicode_1BYTE_KIND", 1),
    ("PyUnicode_2BYTE_KIND", 2),
    ("PyUnicode_4BYTE_KIND", 4),
    ("sizeof(PyASCIIObject)", LAYOUT.str_ascii_data),
    ("sizeof(PyCompactUnicodeObject)", LAYOUT.str_compact_data),
];
