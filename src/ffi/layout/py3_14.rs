//! CPython 3.14 (3.14.x), mirrored from Include/cpython/pystate.h
//! (`struct _ts`), Include/internal/pycore_interpframe_structs.h
//! (`_PyInterpreterFrame`, `enum _frameowner`), Include/internal/
//! pycore_stackref.h (the `_PyStackRef` tags), Include/cpython/code.h
//! (`PyCodeObject`, `_Py_CODEUNIT`), Include/cpython/unicodeobject.h
//! (`PyASCIIObject`, `PyCompactUnicodeObject`) and Include/internal/
//! pycore_debug_offsets.h, as Debian unstable's python3.14-dev ships them.
//! Only the fields the frame walker reads; `tests/ffi_offsets.rs` proves
//! every offset against the installed headers.

use super::{
    state_bits, DataStack, DebugOffsetCheck, GilLocation, GilRuntimeState, Layout, PyObject,
    StackRefTags,
};
use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};

pub const VERSION: (u32, u32) = (3, 14);

/// `struct _ts` (`PyThreadState`), up to `current_frame`.
#[repr(C)]
pub struct PyThreadState {
    pub prev: *const c_void,
    pub next: *const c_void,
    pub interp: *const c_void,
    pub eval_breaker: usize,
    /// _status (bitfields), holds_gil, _whence, state,
    /// py_recursion_remaining, py_recursion_limit, recursion_headroom,
    /// tracing, what_event, then padding.
    pub _ints: [c_int; 10],
    /// The currently executing frame (it can be NULL).
    pub current_frame: *const PyInterpreterFrame,
}

/// `_PyInterpreterFrame`, up to `owner`.
#[repr(C)]
pub struct PyInterpreterFrame {
    /// A `_PyStackRef`: a code object, or None (entry frames), tagged.
    pub f_executable: usize,
    pub previous: *const PyInterpreterFrame,
    /// f_funcobj (a `_PyStackRef`), f_globals, f_builtins, f_locals,
    /// frame_obj.
    pub _ptrs: [*const c_void; 5],
    /// Instruction currently executing (or about to begin).
    pub instr_ptr: *const u16,
    pub stackpointer: *const c_void,
    pub return_offset: u16,
    pub owner: c_char,
}

/// `enum _frameowner`.
pub const FRAME_OWNED_BY_THREAD: u8 = 0;
pub const FRAME_OWNED_BY_GENERATOR: u8 = 1;
pub const FRAME_OWNED_BY_FRAME_OBJECT: u8 = 2;
/// The per-call entry frame (`f_executable` is None), and every owner
/// above it (FRAME_OWNED_BY_CSTACK = 4): not Python frames.
pub const FRAME_OWNED_BY_INTERPRETER: u8 = 3;
pub const FRAME_OWNED_BY_CSTACK: u8 = 4;

/// `Py_TAG_BITS` and `Py_INT_TAG` of a release build with the GIL.
const STACKREF_TAGS: StackRefTags = StackRefTags {
    tag_bits: 3,
    int_tag: 3,
};

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
    /// The names of locals, cells and free variables (a tuple of str).
    pub co_localsplusnames: *const c_void,
    pub co_localspluskinds: *const c_void,
    pub co_filename: *const c_void,
    pub co_name: *const c_void,
    pub co_qualname: *const c_void,
    /// co_linetable, co_weakreflist, co_executors, _co_cached,
    /// _co_instrumentation_version (uintptr_t), _co_monitoring,
    /// _co_unique_id (Py_ssize_t).
    pub _ptrs3: [*const c_void; 7],
    pub _co_firsttraceable: c_int,
    pub co_extra: *const c_void,
    /// `_PyCode_CODE(co)` points here.
    pub co_code_adaptive: [u16; 0],
}

/// `PyTupleObject`: the header, the cached hash (new in 3.14), the items.
#[repr(C)]
pub struct PyTupleObject {
    pub ob_base: PyObject,
    pub ob_size: isize,
    pub ob_hash: isize,
    pub ob_item: [*const c_void; 0],
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
const INTERP_OWN_GIL: usize = 7784;

/// Everything the walker and the sampling thread read, as the running
/// interpreter's `_Py_DebugOffsets` (Include/internal/pycore_debug_offsets.h)
/// must describe it. Where each field sits in that table (`at`) is given as
/// a number and proven by the probe, as are the values.
const DEBUG_OFFSETS: &[DebugOffsetCheck] = &[
    // --all-threads (ffi::gated_sampler::all_threads) reads it.
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.thread_state.thread_id",
        at: 216,
        expected: 152,
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.thread_state.interp",
        at: 200,
        expected: TSTATE_INTERP,
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.thread_state.current_frame",
        at: 208,
        expected: CURRENT_FRAME,
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.thread_state.datastack_chunk",
        at: 232,
        expected: DATASTACK_CHUNK,
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_state.ceval_gil",
        at: 120,
        expected: INTERP_GIL,
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_state.gil_runtime_state",
        at: 128,
        expected: INTERP_OWN_GIL,
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_state.gil_runtime_state_locked",
        at: 144,
        expected: INTERP_OWN_GIL + offset_of!(GilRuntimeState, locked),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_state.gil_runtime_state_holder",
        at: 152,
        expected: INTERP_OWN_GIL + offset_of!(GilRuntimeState, last_holder),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_frame.previous",
        at: 256,
        expected: offset_of!(PyInterpreterFrame, previous),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_frame.executable",
        at: 264,
        expected: offset_of!(PyInterpreterFrame, f_executable),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_frame.instr_ptr",
        at: 272,
        expected: offset_of!(PyInterpreterFrame, instr_ptr),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.interpreter_frame.owner",
        at: 288,
        expected: offset_of!(PyInterpreterFrame, owner),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.code_object.filename",
        at: 320,
        expected: offset_of!(PyCodeObject, co_filename),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.code_object.qualname",
        at: 336,
        expected: offset_of!(PyCodeObject, co_qualname),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.code_object.firstlineno",
        at: 352,
        expected: offset_of!(PyCodeObject, co_firstlineno),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.code_object.co_code_adaptive",
        at: 384,
        expected: offset_of!(PyCodeObject, co_code_adaptive),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.pyobject.ob_type",
        at: 408,
        expected: offset_of!(PyObject, ob_type),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.unicode_object.state",
        at: 624,
        expected: offset_of!(PyASCIIObject, state),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.unicode_object.length",
        at: 632,
        expected: offset_of!(PyASCIIObject, length),
    },
    DebugOffsetCheck {
        name: "_Py_DebugOffsets.unicode_object.asciiobject_size",
        at: 640,
        expected: size_of::<PyASCIIObject>(),
    },
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
    first_non_python_owner: Some(FRAME_OWNED_BY_INTERPRETER),
    executable_tags: Some(STACKREF_TAGS),
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
    threads: Some(super::ThreadList::new(
        800,
        super::HeadLockKind::PyMutex,
        152,
        224,
        128,
    )),
    bytes_str: None,
    tstate_profile_func: TSTATE_PROFILE_FUNC,
    debug_offsets: DEBUG_OFFSETS,
    data_stack: Some(DataStack::new(
        DATASTACK_CHUNK,
        offset_of!(PyInterpreterFrame, owner),
    )),
    code_varnames: offset_of!(PyCodeObject, co_localsplusnames),
    tuple_items: offset_of!(PyTupleObject, ob_item),
};

pub const OFFSETS: &[(&str, usize)] = &[
    ("PyThreadState.c_profilefunc", TSTATE_PROFILE_FUNC),
    ("PyThreadState.interp", TSTATE_INTERP),
    ("PyInterpreterState.ceval.gil", INTERP_GIL),
    ("PyInterpreterState._gil", INTERP_OWN_GIL),
    ("PyThreadState.datastack_chunk", DATASTACK_CHUNK),
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
    (
        "FRAME_OWNED_BY_INTERPRETER",
        FRAME_OWNED_BY_INTERPRETER as usize,
    ),
    ("FRAME_OWNED_BY_CSTACK", FRAME_OWNED_BY_CSTACK as usize),
    ("Py_TAG_BITS", STACKREF_TAGS.tag_bits),
    ("Py_INT_TAG", STACKREF_TAGS.int_tag),
    (
        "sizeof(((_PyInterpreterFrame *)0)->f_executable)",
        size_of::<usize>(),
    ),
    ("PyCodeObject.co_qualname", LAYOUT.code_name),
    ("PyCodeObject.co_filename", LAYOUT.code_filename),
    ("PyCodeObject.co_localsplusnames", LAYOUT.code_varnames),
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
