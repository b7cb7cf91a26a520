//! The signal-safe frame walker: reads a thread's Python call stack straight
//! from interpreter memory, the way CPython's own `faulthandler` dumps
//! tracebacks from a signal handler (Python/traceback.c, `dump_traceback`).
//!
//! All version knowledge comes from the [`Layout`] passed in (the one chosen
//! at start-up, `ffi::layout::running::layout`); this file is the same for
//! every CPython minor. Nothing here takes the GIL, locks,
//! allocates or calls the Python API: the only CPython symbols used are the
//! addresses of `PyCode_Type` and `PyUnicode_Type`. Every pointer read from
//! interpreter memory is checked before it is followed (non-null, aligned,
//! and for objects, the exact type), all loads are volatile (the interpreter
//! may be mid-update when a signal lands), and chains are bounded.

use crate::ffi::layout::Layout;
use std::ffi::c_void;
use std::ptr;

/// Longest frame chain followed before giving up (a corrupted or cyclic
/// chain is also cut by a cycle check long before this).
pub const MAX_CHAIN: usize = 1 << 20;

/// Longest string (in code points) accepted as a name or file name; longer
/// `length` fields are taken as garbage. (Copies are capped separately by
/// the destination buffer of [`copy_raw`].)
const MAX_STR_LEN: isize = 1 << 28;

/// Raw, not-yet-decoded string data inside a live Python str object.
///
/// `kind`: 1 (latin-1/ascii bytes), 2 (UCS-2), 4 (UCS-4); `len` = number of
/// code points; `data` null and `len` 0 when unreadable. `hash` is the hash
/// CPython cached in the object, -1 if it has none yet: two live strings
/// with equal hashes and lengths are, short of a 64-bit collision, equal,
/// which lets the recorder recognise a name without comparing its bytes.
/// The data belongs to the str object: copy it (with [`copy_raw`]) before
/// the interpreter can run again and free it.
#[derive(Clone, Copy, Debug)]
pub struct RawStr {
    pub data: *const u8,
    pub len: usize,
    pub kind: u8,
    pub hash: isize,
}

impl RawStr {
    /// The placeholder for a string that could not be read.
    pub const UNREADABLE: RawStr = RawStr {
        data: ptr::null(),
        len: 0,
        kind: 1,
        hash: -1,
    };

    pub fn is_readable(&self) -> bool {
        !self.data.is_null()
    }
}

/// One frame as found in interpreter memory. `code` is the code object's
/// address (an identity hint only: code objects are freed and their memory
/// reused, so key on it together with name/file/line). `name` (the
/// qualified name on 3.11+) and `file` are the code object's string
/// objects, not yet read: read them with [`raw_str`] while the frame is
/// still on the stack.
#[derive(Clone, Copy, Debug)]
pub struct RawFrame {
    pub code: *const c_void,
    pub first_line: i32,
    pub name: *const c_void,
    pub file: *const c_void,
}

impl RawFrame {
    pub const EMPTY: RawFrame = RawFrame {
        code: ptr::null(),
        first_line: 0,
        name: ptr::null(),
        file: ptr::null(),
    };
}

/// Visits the frames of thread state `tstate` (a `PyThreadState*`),
/// innermost first, in one pass over the chain; returns false if the walk
/// was abandoned, in which case the frames visited so far must be ignored.
///
/// A frame without a code object means the stack is caught in a transition
/// (or corrupt): the walk is abandoned rather than give a wrong stack.
/// Frames CPython's traceback code skips are skipped: on 3.11+ incomplete
/// frames (`_PyFrame_IsIncomplete`), and on 3.12+ entry frames owned by the
/// C stack.
///
/// # Safety
/// `tstate` must be null or point to a `PyThreadState` of the linked
/// interpreter that stays allocated for the duration of the call. The safe
/// use is walking the thread that is itself stopped (in a signal handler it
/// received, or holding the GIL). If that thread runs Python code meanwhile,
/// frames change under the walker: the result is then approximate, and a
/// frame freed mid-walk can in principle be read after it was freed
/// (faulthandler accepts the same risk). The strings of a visited frame can
/// be read (with [`raw_str`]) only until that thread runs again.
///
/// No allocation, no locks, no Python API calls. This function is signal
/// safe if `visit` is.
unsafe fn for_each_frame(
    layout: &Layout,
    tstate: *const c_void,
    mut visit: impl FnMut(&RawFrame),
) -> bool {
    let mut chain = Chain::new(layout, tstate as *const u8);
    while let Some((frame, reach)) = chain.next_frame() {
        let owner = layout.frame_owner.map(|offset| load::<u8>(frame, offset));
        if is_not_python(layout, owner) {
            continue;
        }
        let code = frame_code(layout, frame, reach);
        if !is_code(layout, code) {
            return false;
        }
        if owner.is_some()
            && owner != Some(layout.owner_generator)
            && incomplete(layout, frame, code)
        {
            continue;
        }
        visit(&RawFrame {
            code: code as *const c_void,
            first_line: load::<i32>(code, layout.code_firstlineno),
            name: load::<*const c_void>(code, layout.code_name),
            file: load::<*const c_void>(code, layout.code_filename),
        });
    }
    true
}

/// Walks the frames of `tstate` into `out`, innermost first, and returns
/// how many were written: 0 if the walk was abandoned (see
/// [`for_each_frame`], which states the safety contract too).
///
/// If the stack is deeper than `out.len()`, the OUTERMOST `out.len()` frames
/// are kept, so call trees keep their roots: frames are written round the
/// buffer as a ring, which is rotated into place at the end.
///
/// # Safety
/// As [`for_each_frame`]. This function is signal safe.
pub unsafe fn walk_thread(layout: &Layout, tstate: *const c_void, out: &mut [RawFrame]) -> usize {
    if out.is_empty() {
        return 0;
    }
    let capacity = out.len();
    let mut total = 0usize;
    let complete = for_each_frame(layout, tstate, |frame| {
        out[total % capacity] = *frame;
        total += 1;
    });
    if !complete {
        return 0;
    }
    if total > capacity {
        // The innermost kept frame sits where the ring wrapped to.
        out.rotate_left(total % capacity);
    }
    total.min(capacity)
}

/// Reads the string data of `obj` if it is an exact, compact (and, before
/// 3.12, ready) `str` (2.7: an exact `str`, i.e. bytes); otherwise returns
/// [`RawStr::UNREADABLE`].
///
/// # Safety
/// `obj` must be null or point to readable memory of at least
/// `sizeof(PyCompactUnicodeObject)` bytes if its first words look like an
/// object header: the name or file of a [`RawFrame`] still on the stack is.
/// This function is signal safe.
#[inline]
pub unsafe fn raw_str(layout: &Layout, obj: *const c_void) -> RawStr {
    read_str(layout, obj as *const u8)
}

/// Whether the local variable names of code object `code` (a
/// [`RawFrame`]'s, `co_varnames` / `co_localsplusnames`) include the str
/// object `name`. Compared by identity: CPython interns the names a code
/// object keeps (the compiler and marshal both do), so `name` must be the
/// interned string (`PyUnicode_InternFromString`). Reads at most
/// `MAX_NAMES` items; a tuple that does not look like one reads as empty.
/// Only called for frames not seen before, so the walk itself never reads
/// the tuple.
///
/// # Safety
/// As [`raw_str`]: `code` comes from a frame still on the stack. This
/// function is signal safe.
pub unsafe fn names_include(layout: &Layout, code: *const c_void, name: *const c_void) -> bool {
    const MAX_NAMES: isize = 1 << 16;
    if name.is_null() || !plausible(code as *const u8) {
        return false;
    }
    let names = load::<*const u8>(code as *const u8, layout.code_varnames);
    if !plausible(names) || load::<*const c_void>(names, layout.ob_type) != tuple_type() {
        return false;
    }
    let count = load::<isize>(
        names,
        std::mem::offset_of!(crate::ffi::layout::PyTupleObject, ob_size),
    );
    if !(0..=MAX_NAMES).contains(&count) {
        return false;
    }
    let items = layout.tuple_items;
    (0..count as usize)
        .any(|i| load::<*const c_void>(names, items + i * size_of::<usize>()) == name)
}

/// Copies a RawStr's code points (signal safe, no allocation) into `dst` as
/// raw bytes of its kind, at most `dst.len()` bytes; returns bytes written
/// (a whole number of code units).
///
/// # Safety
/// `s` must come from [`walk_thread`] or [`raw_str`] and its str
/// object must still be alive. This function is signal safe.
pub unsafe fn copy_raw(s: RawStr, dst: &mut [u8]) -> usize {
    if s.data.is_null() || !matches!(s.kind, 1 | 2 | 4) {
        return 0;
    }
    let unit = s.kind as usize;
    let available = s.len.saturating_mul(unit);
    let room = dst.len() / unit * unit;
    let n = available.min(room);
    // A plain byte loop rather than `copy_nonoverlapping`: it cannot turn
    // into a libc call, and names are short.
    for (i, slot) in dst[..n].iter_mut().enumerate() {
        *slot = ptr::read_volatile(s.data.add(i));
    }
    n
}

/// Decodes bytes of `kind` (1/2/4, as copied by [`copy_raw`]) to a String.
/// Invalid code points (lone surrogates, values above U+10FFFF, a trailing
/// partial code unit, an unknown kind) become U+FFFD. Not signal safe (it
/// allocates): use it outside signal handlers.
pub fn decode(kind: u8, bytes: &[u8]) -> String {
    const BAD: char = char::REPLACEMENT_CHARACTER;
    match kind {
        // 2.7 names and file names are byte strings, UTF-8 by convention.
        1 if cfg!(py_2_7) => String::from_utf8_lossy(bytes).into_owned(),
        1 => bytes.iter().map(|&b| b as char).collect(),
        2 => {
            let mut s: String = bytes
                .chunks_exact(2)
                .map(|c| char::from_u32(u16::from_ne_bytes([c[0], c[1]]) as u32).unwrap_or(BAD))
                .collect();
            if !bytes.len().is_multiple_of(2) {
                s.push(BAD);
            }
            s
        }
        4 => {
            let mut s: String = bytes
                .chunks_exact(4)
                .map(|c| {
                    char::from_u32(u32::from_ne_bytes([c[0], c[1], c[2], c[3]])).unwrap_or(BAD)
                })
                .collect();
            if !bytes.len().is_multiple_of(4) {
                s.push(BAD);
            }
            s
        }
        _ if bytes.is_empty() => String::new(),
        _ => BAD.to_string(),
    }
}

/// Follows `previous`/`f_back` from the thread's innermost frame, bounded
/// by [`MAX_CHAIN`] and by Brent's cycle check (a saved node, moved to the
/// current one at every power of two steps: a cycle brings the walk back to
/// it).
struct Chain<'a> {
    layout: &'a Layout,
    next: *const u8,
    /// 3.15+: the base frame (never read: it holds no Python code).
    end: *const u8,
    hops: usize,
    saved: *const u8,
    power: usize,
    since_saved: usize,
    /// 3.11+: address ranges of the thread's linked data-stack chunks,
    /// where frames may be read without a probe.
    chunks: [(usize, usize); MAX_CHUNKS],
    chunk_count: usize,
    /// Lowest address of the walking thread's stack in use (a local's
    /// address): entry frames of 3.12+ live on that stack, above it, when
    /// the walking thread is the walked one. (The sampling thread reading a
    /// blocked thread finds them elsewhere: they are probed instead.)
    stack_low: usize,
}

/// Chunks listed per walk; frames in further chunks are probed instead.
const MAX_CHUNKS: usize = 32;
/// How far above the stack pointer a frame still counts as on the stack.
const STACK_SPAN: usize = 16 << 20;
/// The most bytes [`memory_is_readable`] can check in one call: more than
/// any layout's `DataStack::frame_bytes` (a test in `ffi::layout` ties them).
pub const MAX_PROBE_BYTES: usize = 128;

impl<'a> Chain<'a> {
    unsafe fn new(layout: &'a Layout, tstate: *const u8) -> Self {
        let mut p = tstate;
        for &offset in layout.tstate_to_frame {
            if !plausible(p) {
                p = ptr::null();
                break;
            }
            p = load::<*const u8>(p, offset);
        }
        // 3.15+: the chain ends at the thread's embedded base frame.
        let end = match layout.tstate_base_frame {
            Some(offset) if plausible(tstate) => load::<*const u8>(tstate, offset),
            _ => ptr::null(),
        };
        let mut chain = Chain {
            layout,
            next: p,
            end,
            hops: 0,
            saved: ptr::null(),
            power: 1,
            since_saved: 0,
            chunks: [(0, 0); MAX_CHUNKS],
            chunk_count: 0,
            stack_low: 0,
        };
        chain.stack_low = ptr::addr_of!(chain) as usize;
        if let Some(data_stack) = layout.data_stack {
            // The chunk list is updated before a chunk is freed, and we run
            // on the thread that updates it (or while it cannot take the
            // GIL, see ffi::gated_sampler), so every linked chunk is mapped.
            let mut chunk = if plausible(tstate) {
                load::<*const u8>(tstate, data_stack.tstate_chunk)
            } else {
                ptr::null()
            };
            while plausible(chunk) && chain.chunk_count < MAX_CHUNKS {
                let size = load::<usize>(chunk, data_stack.chunk_size);
                chain.chunks[chain.chunk_count] =
                    (chunk as usize, (chunk as usize).saturating_add(size));
                chain.chunk_count += 1;
                chunk = load::<*const u8>(chunk, data_stack.chunk_previous);
            }
        }
        chain
    }

    /// Whether `frame` can be read. Always on 3.6-3.10 (heap frame objects,
    /// unlinked before they are freed). On 3.11+, CPython may unmap the
    /// chunk of a returning frame while `current_frame` still points into
    /// it: frames inside linked chunks or on this thread's stack are
    /// trusted, any other (generator and frame-object frames, or a dying
    /// one) is probed with one system call first.
    ///
    /// The innermost frame gets no benefit of the doubt from the stack
    /// rule: while `_PyEval_EvalFrameDefault` starts, `current_frame` can
    /// briefly be an uninitialised stack word, and only entry frames (never
    /// innermost) live on the C stack. A frame trusted by neither rule also
    /// has its code object probed before use (`Reach::Probed`).
    unsafe fn reach(&self, frame: *const u8) -> Reach {
        let Some(data_stack) = self.layout.data_stack else {
            return Reach::Trusted;
        };
        let address = frame as usize;
        let end = address.saturating_add(data_stack.frame_bytes);
        if self.chunks[..self.chunk_count]
            .iter()
            .any(|&(start, stop)| address >= start && end <= stop)
        {
            return Reach::Trusted;
        }
        let on_stack =
            address >= self.stack_low && address < self.stack_low.saturating_add(STACK_SPAN);
        if on_stack && self.hops > 0 {
            // Stack memory is mapped; only an entry frame belongs there.
            let owner = self
                .layout
                .frame_owner
                .map(|offset| load::<u8>(frame, offset));
            if is_not_python(self.layout, owner) {
                return Reach::Trusted;
            }
        }
        if memory_is_readable(frame, data_stack.frame_bytes) {
            Reach::Probed
        } else {
            Reach::Unreadable
        }
    }

    unsafe fn next_frame(&mut self) -> Option<(*const u8, Reach)> {
        let frame = self.next;
        if !plausible(frame) || self.hops >= MAX_CHAIN || frame == self.saved || frame == self.end {
            return None;
        }
        let reach = self.reach(frame);
        if reach == Reach::Unreadable {
            return None;
        }

        self.hops += 1;
        self.since_saved += 1;
        if self.since_saved == self.power {
            self.saved = frame;
            self.power = self.power.saturating_mul(2);
            self.since_saved = 0;
        }
        self.next = load::<*const u8>(frame, self.layout.frame_back);
        Some((frame, reach))
    }
}

/// How far a frame may be trusted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// In memory that cannot have been freed under us.
    Trusted,
    /// The frame's bytes were readable a moment ago, but it may be garbage:
    /// probe what it points to before reading that.
    Probed,
    Unreadable,
}

/// The frame's code object, if it can be read: probed first when the
/// frame itself was not trusted.
/// 3.12+: an entry or shim frame, never shown (CPython: `owner >=
/// FRAME_OWNED_BY_CSTACK`, 3.14+ `FRAME_OWNED_BY_INTERPRETER`).
fn is_not_python(layout: &Layout, owner: Option<u8>) -> bool {
    matches!((owner, layout.first_non_python_owner), (Some(owner), Some(first)) if owner >= first)
}

unsafe fn frame_code(layout: &Layout, frame: *const u8, reach: Reach) -> *const u8 {
    let mut code = load::<*const u8>(frame, layout.frame_code);
    if let Some(tags) = layout.executable_tags {
        let bits = code as usize;
        if bits & tags.int_tag == tags.int_tag {
            return ptr::null(); // a tagged integer: not a code object
        }
        code = (bits & !tags.tag_bits) as *const u8;
    }
    if reach == Reach::Probed && !memory_is_readable(code, 2 * size_of::<usize>()) {
        return ptr::null();
    }
    code
}

/// 3.11+: whether a frame not owned by a generator is incomplete: not yet
/// past `_co_firsttraceable` (still running the prologue that copies free
/// variables / makes cells, before RESUME). Tracebacks do not show those.
unsafe fn incomplete(layout: &Layout, frame: *const u8, code: *const u8) -> bool {
    let (Some(instr_offset), Some(first_offset), Some(code_offset)) = (
        layout.frame_instr,
        layout.code_firsttraceable,
        layout.code_adaptive,
    ) else {
        return false;
    };
    let first = load::<i32>(code, first_offset).max(0) as usize;
    let start = (code as usize)
        .wrapping_add(code_offset)
        .wrapping_add(first.wrapping_mul(layout.code_unit));
    let instr = load::<usize>(frame, instr_offset);
    instr < start
}

#[inline(always)]
unsafe fn read_str(layout: &Layout, obj: *const u8) -> RawStr {
    if let Some(bytes) = layout.bytes_str {
        return read_bytes_str(layout, bytes, obj);
    }
    if !plausible(obj) || load::<*const c_void>(obj, layout.ob_type) != unicode_type() {
        return RawStr::UNREADABLE;
    }
    let state = load::<u32>(obj, layout.str_state);
    let bit = |n: u32| state >> n & 1 == 1;
    let kind = (state >> layout.state_kind_shift & 0b111) as u8;
    let ascii = bit(layout.state_ascii_bit);
    let ready = layout.state_ready_bit.is_none_or(bit);
    if !bit(layout.state_compact_bit)
        || !ready
        || !matches!(kind, 1 | 2 | 4)
        || (ascii && kind != 1)
    {
        return RawStr::UNREADABLE;
    }
    let len = load::<isize>(obj, layout.str_length);
    if !(0..=MAX_STR_LEN).contains(&len) {
        return RawStr::UNREADABLE;
    }
    let header = if ascii {
        layout.str_ascii_data
    } else {
        layout.str_compact_data
    };
    RawStr {
        data: obj.add(header),
        len: len as usize,
        kind,
        hash: load::<isize>(obj, layout.str_hash),
    }
}

/// 2.7: a `PyStringObject` (bytes, conventionally UTF-8 for file names).
unsafe fn read_bytes_str(
    layout: &Layout,
    bytes: crate::ffi::layout::BytesStr,
    obj: *const u8,
) -> RawStr {
    if !plausible(obj) || load::<*const c_void>(obj, layout.ob_type) != unicode_type() {
        return RawStr::UNREADABLE;
    }
    let len = load::<isize>(obj, bytes.size);
    if !(0..=MAX_STR_LEN).contains(&len) {
        return RawStr::UNREADABLE;
    }
    RawStr {
        data: obj.add(bytes.data),
        len: len as usize,
        kind: 1,
        hash: load::<isize>(obj, layout.str_hash),
    }
}

/// Whether `len` bytes at `address` can be read, asked of the kernel
/// (`process_vm_readv` on ourselves fails with EFAULT instead of faulting).
/// Signal safe: two system calls, errno restored by the caller's handler.
pub(super) fn memory_is_readable(address: *const u8, len: usize) -> bool {
    let mut buffer = [0u8; MAX_PROBE_BYTES];
    let len = len.min(buffer.len());
    let local = libc::iovec {
        iov_base: buffer.as_mut_ptr() as *mut c_void,
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: address as *mut c_void,
        iov_len: len,
    };
    let copied = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    copied == len as isize
}

unsafe fn is_code(layout: &Layout, obj: *const u8) -> bool {
    plausible(obj) && load::<*const c_void>(obj, layout.ob_type) == code_type()
}

fn code_type() -> *const c_void {
    // Taking the address of an extern static reads nothing.
    ptr::addr_of!(super::py::PyCode_Type) as *const c_void
}

fn tuple_type() -> *const c_void {
    ptr::addr_of!(super::py::PyTuple_Type) as *const c_void
}

/// The type of the strings code objects name themselves with: `str`
/// (`PyUnicode_Type` on 3.x, `PyString_Type` on 2.7).
fn unicode_type() -> *const c_void {
    #[cfg(py_2_7)]
    return ptr::addr_of!(super::py::PyString_Type) as *const c_void;
    #[cfg(not(py_2_7))]
    return ptr::addr_of!(super::py::PyUnicode_Type) as *const c_void;
}

/// Could `p` point to an object or frame? (Non-null, outside the zero page,
/// pointer aligned.) Catches NULLs and most garbage without a syscall.
fn plausible(p: *const u8) -> bool {
    let a = p as usize;
    a >= 4096 && a.is_multiple_of(std::mem::align_of::<usize>())
}

/// A volatile load of a `T` at `base + offset`.
#[inline(always)]
unsafe fn load<T: Copy>(base: *const u8, offset: usize) -> T {
    ptr::read_volatile(base.add(offset) as *const T)
}

/// Whether the thread state has a Python frame: its thread has bound it and
/// runs (or ran) Python code. 3.7-3.11 link a new thread's state from the
/// thread that starts it (`_PyThreadState_Prealloc`) with *that* thread's
/// `thread_id`, which the new thread overwrites before it takes the GIL
/// and makes its first frame; so a state is followed (its `thread_id`
/// trusted) only once it has a frame. (3.12+ leaves `thread_id` 0 until
/// the thread binds its state.) On 2.7 and 3.6: `tstate->frame` is set.
pub(super) unsafe fn runs_python(tstate: usize, layout: &Layout) -> bool {
    let mut p = tstate;
    for &offset in layout.tstate_to_frame {
        if p == 0 {
            return false;
        }
        p = std::ptr::read_volatile((p + offset) as *const usize);
    }
    if p == 0 {
        return false;
    }
    match layout.tstate_base_frame {
        Some(offset) => p != std::ptr::read_volatile((tstate + offset) as *const usize),
        None => true,
    }
}
