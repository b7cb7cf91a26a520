//! CPython 2.7 (tag v2.7.18), mirrored from Include/pystate.h (`struct _ts`),
//! Include/frameobject.h (`PyFrameObject`), Include/code.h (`PyCodeObject`)
//! and Include/stringobject.h (`PyStringObject`). Names and file names of
//! code objects are byte strings in 2.7. Only the fields the frame walker
//! reads; `tests/ffi_offsets.rs` proves every offset against the headers.

use super::{BytesStr, Layout, PyObject};
use std::ffi::{c_int, c_long, c_void};
use std::mem::{offset_of, size_of};

pub const VERSION: (u32, u32) = (2, 7);

/// `struct _ts` (`PyThreadState`): next, interp, frame.
#[repr(C)]
pub struct PyThreadState {
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

/// `PyCodeObject`, up to `co_firstlineno`.
#[repr(C)]
pub struct PyCodeObject {
    pub ob_base: PyObject,
    /// co_argcount, co_nlocals, co_stacksize, co_flags.
    pub _ints: [c_int; 4],
    /// co_code, co_consts, co_names.
    pub _ptrs: [*const c_void; 3],
    /// The local variables' names (a tuple of str).
    pub co_varnames: *const c_void,
    /// co_freevars, co_cellvars.
    pub _ptrs2: [*const c_void; 2],
    pub co_filename: *const c_void,
    pub co_name: *const c_void,
    pub co_firstlineno: c_int,
}

/// `PyStringObject`: PyObject_VAR_HEAD, ob_shash, ob_sstate, ob_sval.
#[repr(C)]
pub struct PyStringObject {
    pub ob_base: PyObject,
    pub ob_size: isize,
    pub ob_shash: c_long,
    pub ob_sstate: c_int,
    pub ob_sval: [u8; 1],
}

/// `offsetof(PyThreadState, c_profilefunc)`, proven by the probe.
const TSTATE_PROFILE_FUNC: usize = 40;

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
    // 2.7 code objects hold byte strings; the unicode fields are unused.
    str_length: 0,
    str_hash: offset_of!(PyStringObject, ob_shash),
    str_state: 0,
    str_ascii_data: 0,
    str_compact_data: 0,
    state_kind_shift: 0,
    state_compact_bit: 0,
    state_ascii_bit: 0,
    state_ready_bit: None,
    gil: None,
    threads: None,
    tstate_profile_func: TSTATE_PROFILE_FUNC,
    debug_offsets: &[],
    bytes_str: Some(BytesStr {
        size: offset_of!(PyStringObject, ob_size),
        data: offset_of!(PyStringObject, ob_sval),
    }),
    data_stack: None,
    code_varnames: offset_of!(PyCodeObject, co_varnames),
    tuple_items: offset_of!(super::PyTupleObject, ob_item),
};

/// What `--all-threads` reads of other threads' states
/// (`ffi::gil_sampler`), proven by the probe.
pub const THREAD_FIELDS: super::ThreadFields = super::ThreadFields {
    interp: offset_of!(PyThreadState, interp),
    thread_id: 144,
    dict: 120,
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
    (
        "PyStringObject.ob_size",
        offset_of!(PyStringObject, ob_size),
    ),
    (
        "PyStringObject.ob_sval",
        offset_of!(PyStringObject, ob_sval),
    ),
    ("sizeof(((PyStringObject *)0)->ob_size)", size_of::<isize>()),
    (
        "PyStringObject.ob_shash",
        offset_of!(PyStringObject, ob_shash),
    ),
    (
        "sizeof(((PyStringObject *)0)->ob_shash)",
        size_of::<c_long>(),
    ),
];

/// The `PyThreadState` fields `PyEval_SetProfile` writes besides
/// `c_profilefunc` (2.7 exports no `_PyEval_SetProfile` for another thread's
/// state), proven by the probe through `super::all_offsets`.
pub const PROFILE_FIELDS: super::ProfileFields = super::ProfileFields {
    use_tracing: 32,
    trace_func: 48,
    profile_obj: 56,
};
