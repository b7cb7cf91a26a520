//! CPython 3.6 (tag v3.6.15), mirrored from Include/pystate.h (`struct _ts`),
//! Include/frameobject.h (`PyFrameObject`), Include/code.h (`PyCodeObject`)
//! and Include/unicodeobject.h (`PyASCIIObject`, `PyCompactUnicodeObject`).
//! Only the fields the frame walker reads; `tests/ffi_offsets.rs` proves
//! every offset against the installed headers.

use super::{state_bits, Layout, PyObject};
use std::ffi::{c_int, c_void};
use std::mem::{offset_of, size_of};

pub const VERSION: (u32, u32) = (3, 6);

/// `struct _ts` (`PyThreadState`): prev, next, interp, frame.
#[repr(C)]
pub struct PyThreadState {
    pub prev: *const c_void,
    pub next: *const c_void,
    pub interp: *const c_void,
    /// Borrowed reference to the current frame (it can be NULL).
    pub frame: *const PyFrameObject,
}

/// `PyFrameObject`: PyObject_VAR_HEAD, f_back, f_code.
#[repr(C)]
pub struct PyFrameObject {
    pub ob_base: PyObject,
    pub ob_size: isize,
    pub f_back: *const PyFrameObject,
    pub f_code: *const PyCodeObject,
}

/// `PyCodeObject`, up to `co_name`.
#[repr(C)]
pub struct PyCodeObject {
    pub ob_base: PyObject,
    /// co_argcount, co_kwonlyargcount, co_nlocals, co_stacksize, co_flags.
    pub _ints: [c_int; 5],
    pub co_firstlineno: c_int,
    /// co_code, co_consts, co_names.
    pub _ptrs: [*const c_void; 3],
    /// The local variables' names (a tuple of str).
    pub co_varnames: *const c_void,
    /// co_freevars, co_cellvars, co_cell2arg.
    pub _ptrs2: [*const c_void; 3],
    pub co_filename: *const c_void,
    pub co_name: *const c_void,
}

/// `PyASCIIObject`: head, length, hash, state bitfields, wstr.
#[repr(C)]
pub struct PyASCIIObject {
    pub ob_base: PyObject,
    pub length: isize,
    pub hash: isize,
    pub state: u32,
    pub wstr: *const c_void,
}

/// `PyCompactUnicodeObject`: base, utf8_length, utf8, wstr_length.
#[repr(C)]
pub struct PyCompactUnicodeObject {
    pub _base: PyASCIIObject,
    pub utf8_length: isize,
    pub utf8: *const c_void,
    pub wstr_length: isize,
}

/// `offsetof(PyThreadState, c_profilefunc)`, proven by the probe.
const TSTATE_PROFILE_FUNC: usize = 48;

pub const LAYOUT: Layout = Layout {
    ob_type: offset_of!(PyObject, ob_type),
    tstate_to_frame: &[offset_of!(PyThreadState, frame)],
    frame_back: offset_of!(PyFrameObject, f_back),
    frame_code: offset_of!(PyFrameObject, f_code),
    frame_instr: None,
    frame_owner: None,
    owner_generator: 0,
    first_non_python_owner: None,
    executable_tags: None,
    tstate_base_frame: None,
    code_name: offset_of!(PyCodeObject, co_name),
    code_filename: offset_of!(PyCodeObject, co_filename),
    code_firstlineno: offset_of!(PyCodeObject, co_firstlineno),
    code_firsttraceable: None,
    code_adaptive: None,
    code_unit: 2,
    str_length: offset_of!(PyASCIIObject, length),
    str_hash: offset_of!(PyASCIIObject, hash),
    str_state: offset_of!(PyASCIIObject, state),
    str_ascii_data: size_of::<PyASCIIObject>(),
    str_compact_data: size_of::<PyCompactUnicodeObject>(),
    state_kind_shift: state_bits::KIND_SHIFT,
    state_compact_bit: state_bits::COMPACT_BIT,
    state_ascii_bit: state_bits::ASCII_BIT,
    state_ready_bit: Some(state_bits::BIT7),
    gil: None,
    threads: None,
    tstate_profile_func: TSTATE_PROFILE_FUNC,
    debug_offsets: &[],
    bytes_str: None,
    data_stack: None,
    code_varnames: offset_of!(PyCodeObject, co_varnames),
    tuple_items: offset_of!(super::PyTupleObject, ob_item),
};

/// What `--all-threads` reads of other threads' states
/// (`ffi::gil_sampler`), proven by the probe.
pub const THREAD_FIELDS: super::ThreadFields = super::ThreadFields {
    interp: offset_of!(PyThreadState, interp),
    thread_id: 152,
    dict: 128,
};

pub const OFFSETS: &[(&str, usize)] = &[
    ("PyThreadState.interp", THREAD_FIELDS.interp),
    ("PyThreadState.thread_id", THREAD_FIELDS.thread_id),
    (
        "sizeof(((PyThreadState *)0)->thread_id)",
        size_of::<std::ffi::c_long>(),
    ),
    ("PyThreadState.dict", THREAD_FIELDS.dict),
    ("PyThreadState.c_profilefunc", TSTATE_PROFILE_FUNC),
    ("PyObject.ob_type", LAYOUT.ob_type),
    ("PyTypeObject.tp_dealloc", super::TP_DEALLOC),
    ("PyThreadState.frame", LAYOUT.tstate_to_frame[0]),
    ("PyFrameObject.f_back", LAYOUT.frame_back),
    ("PyFrameObject.f_code", LAYOUT.frame_code),
    ("PyCodeObject.co_name", LAYOUT.code_name),
    ("PyCodeObject.co_filename", LAYOUT.code_filename),
    ("PyCodeObject.co_varnames", LAYOUT.code_varnames),
    ("PyCodeObject.co_firstlineno", LAYOUT.code_firstlineno),
    (
        "sizeof(((PyCodeObject *)0)->co_firstlineno)",
        size_of::<c_int>(),
    ),
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
    ("mask(PyASCIIObject.state.ready)", state_bits::BIT7_MASK),
    ("PyUnicode_1BYTE_KIND", 1),
    ("PyUnicode_2BYTE_KIND", 2),
    ("PyUnicode_4BYTE_KIND", 4),
    ("sizeof(PyASCIIObject)", LAYOUT.str_ascii_data),
    ("sizeof(PyCompactUnicodeObject)", LAYOUT.str_compact_data),
];

/// The `PyThreadState` fields `PyEval_SetProfile` writes besides
/// `c_profilefunc` (3.6 exports no `_PyEval_SetProfile` for another thread's
/// state), proven by the probe through `super::all_offsets`.
pub const PROFILE_FIELDS: super::ProfileFields = super::ProfileFields {
    use_tracing: 44,
    trace_func: 56,
    profile_obj: 64,
};
